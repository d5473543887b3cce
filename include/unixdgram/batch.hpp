//
// unixdgram/batch.hpp — the entries of send_many and receive_many, which
// move many datagrams per system call (sendmmsg, recvmmsg).
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_BATCH_HPP
#define UNIXDGRAM_BATCH_HPP

// Before any Asio header: Asio 1.22 decides how it allocates (aligned_alloc
// or operator new) from a macro of the standard library's configuration, so a
// translation unit that includes Asio first frees with the other function.
#include <cstddef>
#include <optional>

#include <unixdgram/credentials.hpp>
#include <unixdgram/file_descriptor.hpp>

#include <asio/buffer.hpp>
#include <asio/local/datagram_protocol.hpp>

namespace unixdgram {

/// One datagram for `datagram_socket::send_many`.
///
/// @code
/// std::array<unixdgram::send_entry, 2> batch{{
///     {asio::buffer(hello)},
///     {asio::buffer(world), &other_peer},
/// }};
/// std::size_t sent = socket.send_many(batch);
/// @endcode
struct send_entry {
    /// The bytes of the datagram.
    asio::const_buffer buffer;

    /// Where the datagram goes (a `unixdgram::endpoint`); null sends it to
    /// the connected peer. Must stay valid until the operation completes.
    const asio::local::datagram_protocol::endpoint* destination = nullptr;

    /// Set when the entry is sent: the datagram's length.
    std::size_t bytes_sent = 0;
};

/// Room for one datagram in `datagram_socket::receive_many`.
struct receive_entry {
    /// Where the datagram's bytes go.
    asio::mutable_buffer buffer;

    /// Where the sender's address goes (a `unixdgram::endpoint`, empty when
    /// the sender is unnamed); null when it is not wanted.
    asio::local::datagram_protocol::endpoint* sender = nullptr;

    /// Set when a datagram arrives in the entry: the bytes placed in `buffer`.
    std::size_t bytes = 0;

    /// Set when a datagram arrives in the entry: it was longer than `buffer`
    /// and the excess is lost (MSG_TRUNC). Not an error.
    bool truncated = false;

    /// Set when a datagram arrives in the entry: it carried descriptors,
    /// which were closed because a batch has room for credentials and a
    /// pidfd only (MSG_CTRUNC). Receive datagrams that carry descriptors
    /// with `receive_with_fds`.
    bool control_truncated = false;

    /// Set when a datagram arrives in the entry: its sender's credentials,
    /// when `pass_credentials` is on.
    std::optional<credentials> sender_credentials{};

    /// Set when a datagram arrives in the entry: a pidfd naming its sender,
    /// when `pass_pidfd` is on (Linux 6.5); close-on-exec, owned by the entry.
    file_descriptor sender_pidfd{};

    /// Set when a datagram arrives in the entry: `sender` was wanted, but
    /// the sender's address is the one no endpoint can hold (an abstract
    /// name of all 108 bytes of `sun_path` ending in NUL, which `receive_from`
    /// reports as ENAMETOOLONG), so `sender` was left empty. The datagram
    /// itself is in `buffer` as usual.
    bool sender_too_long = false;
};

} // namespace unixdgram

#endif // UNIXDGRAM_BATCH_HPP
