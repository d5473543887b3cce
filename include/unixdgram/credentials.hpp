//
// unixdgram/credentials.hpp — who is on the other end: SCM_CREDENTIALS and
// SO_PEERCRED.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_CREDENTIALS_HPP
#define UNIXDGRAM_CREDENTIALS_HPP

#include <cstddef>

#include <sys/socket.h>
#include <sys/types.h>

namespace unixdgram {

/// Who sent a datagram, as the kernel vouches for it (SCM_CREDENTIALS), or
/// who is at the other end of a socket pair (SO_PEERCRED).
struct credentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;

    friend bool operator==(const credentials&, const credentials&) = default;
};

/// Socket option: SO_PASSCRED. When on, every datagram received with a
/// `_with_fds` operation reports its sender's credentials.
///
/// @code
/// socket.set_option(unixdgram::pass_credentials(true));
/// @endcode
class pass_credentials {
public:
    pass_credentials() noexcept = default;
    explicit pass_credentials(bool enabled) noexcept : value_(enabled ? 1 : 0) {}

    bool value() const noexcept { return value_ != 0; }
    explicit operator bool() const noexcept { return value(); }

    /// @name GettableSocketOption and SettableSocketOption requirements
    /// @{
    template <typename Protocol> int level(const Protocol&) const noexcept { return SOL_SOCKET; }
    template <typename Protocol> int name(const Protocol&) const noexcept { return SO_PASSCRED; }
    template <typename Protocol> int* data(const Protocol&) noexcept { return &value_; }
    template <typename Protocol> const int* data(const Protocol&) const noexcept { return &value_; }
    template <typename Protocol> std::size_t size(const Protocol&) const noexcept { return sizeof(value_); }
    template <typename Protocol> void resize(const Protocol&, std::size_t) noexcept {}
    /// @}

private:
    int value_ = 0;
};

} // namespace unixdgram

#endif // UNIXDGRAM_CREDENTIALS_HPP
