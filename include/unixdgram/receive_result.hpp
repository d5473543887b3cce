//
// unixdgram/receive_result.hpp — what a receive with descriptors reports.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_RECEIVE_RESULT_HPP
#define UNIXDGRAM_RECEIVE_RESULT_HPP

#include <unixdgram/credentials.hpp>
#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/message.hpp>

#include <cstddef>
#include <optional>
#include <span>

namespace unixdgram {

/// What one receive said: everything the kernel reported about a datagram.
struct receive_result {
    /// Bytes placed in the caller's buffers.
    std::size_t bytes = 0;

    /// The descriptors received: the leading entries of the span the caller
    /// gave, which now own them. They are close-on-exec.
    std::span<file_descriptor> fds;

    /// The datagram was longer than the buffers; the excess is lost (MSG_TRUNC).
    bool truncated = false;

    /// Control data was lost: descriptors beyond the caller's room were
    /// closed, or the kernel could not install them all (MSG_CTRUNC).
    bool control_truncated = false;

    /// The sender's credentials, when `pass_credentials` is on.
    std::optional<credentials> sender_credentials;

    /// A pidfd naming the sender, when `pass_pidfd` is on (Linux 6.5):
    /// close-on-exec, owned by the result. Empty when the option is off or
    /// the kernel could not make one (a sender that has already been reaped),
    /// and lost with `control_truncated` when the datagram carried more
    /// descriptors than `fds` has room for (Linux attaches it after them).
    file_descriptor sender_pidfd;
};

} // namespace unixdgram

#endif // UNIXDGRAM_RECEIVE_RESULT_HPP
