//
// unixdgram/message.hpp — what a datagram carries besides its bytes: the
// ancillary data of datagram_socket::send_message; and the tag of a send
// that follows its caller's EAGAIN.
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

/// The type of `after_would_block`.
struct after_would_block_t {
    explicit after_would_block_t() = default;
};

/// Passed first to a send or receive (`send_message`, `receive_message`,
/// `send_many`, `receive_many` and their `async_` forms), says that the
/// caller's own attempt has just met EAGAIN from a `try_` form: a full queue,
/// or nothing to receive. The operation then waits for room or for a
/// datagram before it attempts, instead of attempting again at once, so one
/// that had to wait costs two system calls in all, the caller's and the one
/// after the wait.
///
/// @code
/// std::error_code ec;
/// socket.try_send_message(buffers, &destination, {}, 0, ec);
/// if (ec == asio::error::would_block)
///     socket.async_send_message(unixdgram::after_would_block, buffers, &destination, {}, 0,
///                               handler);
/// @endcode
inline constexpr after_would_block_t after_would_block{};

} // namespace unixdgram

#endif // UNIXDGRAM_MESSAGE_HPP
