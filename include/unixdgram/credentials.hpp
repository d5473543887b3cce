//
// unixdgram/credentials.hpp — who is on the other end: SCM_CREDENTIALS,
// SO_PEERCRED and their pidfd counterparts (SCM_PIDFD, SO_PEERPIDFD).
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

namespace detail {

// Linux 6.5's pidfd options, for headers that predate them.
#ifdef SO_PASSPIDFD
inline constexpr int so_passpidfd = SO_PASSPIDFD;
#else
inline constexpr int so_passpidfd = 76;
#endif
#ifdef SO_PEERPIDFD
inline constexpr int so_peerpidfd = SO_PEERPIDFD;
#else
inline constexpr int so_peerpidfd = 77;
#endif

// An on/off SOL_SOCKET option, as Asio's GettableSocketOption and
// SettableSocketOption want it.
template <int Name>
class boolean_socket_option {
public:
    boolean_socket_option() noexcept = default;
    explicit boolean_socket_option(bool enabled) noexcept : value_(enabled ? 1 : 0) {}

    bool value() const noexcept { return value_ != 0; }
    explicit operator bool() const noexcept { return value(); }

    /// @name GettableSocketOption and SettableSocketOption requirements
    /// @{
    template <typename Protocol>
    int level(const Protocol&) const noexcept
    {
        return SOL_SOCKET;
    }
    template <typename Protocol>
    int name(const Protocol&) const noexcept
    {
        return Name;
    }
    template <typename Protocol>
    int* data(const Protocol&) noexcept
    {
        return &value_;
    }
    template <typename Protocol>
    const int* data(const Protocol&) const noexcept
    {
        return &value_;
    }
    template <typename Protocol>
    std::size_t size(const Protocol&) const noexcept
    {
        return sizeof(value_);
    }
    template <typename Protocol>
    void resize(const Protocol&, std::size_t) noexcept
    {
    }
    /// @}

private:
    int value_ = 0;
};

} // namespace detail

/// Socket option: SO_PASSCRED. When on, every datagram received with a
/// `_with_fds` operation or `receive_many` reports its sender's credentials.
///
/// @code
/// socket.set_option(unixdgram::pass_credentials(true));
/// @endcode
class pass_credentials : public detail::boolean_socket_option<SO_PASSCRED> {
public:
    using boolean_socket_option::boolean_socket_option;
};

/// Socket option: SO_PASSPIDFD (Linux 6.5). When on, every datagram received
/// with a `_with_fds` operation or `receive_many` carries a pidfd naming its
/// sender (`sender_pidfd`), the race-free identity a pid is not. Kernels
/// without it fail `set_option` and `get_option` with ENOPROTOOPT
/// ("Protocol not available", `ec.value() == ENOPROTOOPT`).
///
/// @code
/// socket.set_option(unixdgram::pass_pidfd(true));
/// @endcode
class pass_pidfd : public detail::boolean_socket_option<detail::so_passpidfd> {
public:
    using boolean_socket_option::boolean_socket_option;
};

} // namespace unixdgram

#endif // UNIXDGRAM_CREDENTIALS_HPP
