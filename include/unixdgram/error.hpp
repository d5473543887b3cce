//
// unixdgram/error.hpp — the library's own error conditions.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_ERROR_HPP
#define UNIXDGRAM_ERROR_HPP

#include <system_error>

namespace unixdgram {

/// Conditions the library reports on its own. errno values come in Asio's
/// system category (`asio::error::get_system_category()`), as from Asio's own
/// sockets, and compare equal to the `asio::error` constants
/// (`asio::error::connection_refused`).
enum class error {
    /// More descriptors were given to one send than a datagram may carry
    /// (`max_fds_per_datagram`, the kernel's SCM_MAX_FD). Nothing was sent.
    too_many_fds = 1,

    /// The datagram was longer than the buffers; the excess was discarded.
    /// Reported by `receive` and `receive_from`; the `_with_fds` forms report
    /// truncation in their result instead.
    message_truncated,

    /// A descriptor adopted as a socket is not an AF_UNIX SOCK_DGRAM socket.
    /// The descriptor was not taken.
    not_a_unix_datagram_socket,
};

/// The category of `unixdgram::error` values; its name is "unixdgram".
const std::error_category& error_category() noexcept;

/// Makes an `std::error_code` from an `unixdgram::error`.
std::error_code make_error_code(error value) noexcept;

} // namespace unixdgram

template <>
struct std::is_error_code_enum<unixdgram::error> : std::true_type {
};

#include <unixdgram/impl/error.hpp>

#endif // UNIXDGRAM_ERROR_HPP
