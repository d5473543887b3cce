//
// unixdgram/message.hpp — what a datagram carries besides its bytes: the
// ancillary data of datagram_socket::send_message.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_MESSAGE_HPP
#define UNIXDGRAM_MESSAGE_HPP

#include <unixdgram/credentials.hpp>

#include <cstddef>
#include <optional>
#include <span>

namespace unixdgram {

/// The most descriptors one datagram may carry (Linux's SCM_MAX_FD).
inline constexpr std::size_t max_fds_per_datagram = 253;

/// The control data of a datagram `datagram_socket::send_message` sends.
///
/// @code
/// // sd_pid_notify: a notification on behalf of the service's main process.
/// socket.send_message(asio::buffer(state), &notify_socket,
///                     {.sender_credentials = unixdgram::credentials{main_pid, ::getuid(),
///                     ::getgid()}});
/// @endcode
struct send_control {
    /// Descriptors to pass (SCM_RIGHTS), at most `max_fds_per_datagram`.
    /// Their numbers are read at each attempt to send, so they must stay open
    /// until the operation completes.
    std::span<const int> fds{};

    /// Credentials to send (SCM_CREDENTIALS) in place of the ones the kernel
    /// attaches for a receiver with `pass_credentials` on. The kernel accepts
    /// another process's pid only with CAP_SYS_ADMIN, another uid only with
    /// CAP_SETUID and another gid only with CAP_SETGID; otherwise the send
    /// fails with EPERM (ESRCH for a pid that does not exist).
    std::optional<credentials> sender_credentials{};
};

} // namespace unixdgram

#endif // UNIXDGRAM_MESSAGE_HPP
