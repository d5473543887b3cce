//
// unixdgram/detail/batch_ops.hpp — sendmmsg and recvmmsg over spans of
// entries, and the operations reactive_op runs for send_many and
// receive_many.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_BATCH_OPS_HPP
#define UNIXDGRAM_DETAIL_BATCH_OPS_HPP

#include <unixdgram/batch.hpp>
#include <unixdgram/detail/socket_ops.hpp>

#include <asio/cancellation_state.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <span>
#include <system_error>

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

namespace unixdgram::detail {

// Entries per sendmmsg or recvmmsg call. The headers live on the stack, so a
// batch of any length allocates nothing; a longer one takes more calls.
inline constexpr std::size_t max_batch_chunk = 64;

// Sends `entries` from index `sent` on, in order, until all are sent or the
// kernel refuses one; `sent` advances past every entry sent and `ec` says why
// `entries[sent]` was not.
inline void send_entries(int fd, std::span<send_entry> entries, std::size_t& sent, int flags,
                         std::error_code& ec) noexcept
{
    while (sent < entries.size()) {
        const std::size_t chunk = std::min(entries.size() - sent, max_batch_chunk);
        mmsghdr messages[max_batch_chunk];
        iovec buffers[max_batch_chunk];
        for (std::size_t i = 0; i < chunk; ++i) {
            const send_entry& entry = entries[sent + i];
            buffers[i].iov_base = const_cast<void*>(entry.buffer.data());
            buffers[i].iov_len = entry.buffer.size();
            messages[i] = mmsghdr{};
            msghdr& message = messages[i].msg_hdr;
            message.msg_iov = &buffers[i];
            message.msg_iovlen = 1;
            if (entry.destination) {
                message.msg_name = const_cast<sockaddr*>(entry.destination->data());
                message.msg_namelen = static_cast<socklen_t>(entry.destination->size());
            }
        }
        int count = retry_on_eintr([&] {
            return ::sendmmsg(fd, messages, static_cast<unsigned>(chunk),
                              flags | MSG_NOSIGNAL | MSG_DONTWAIT);
        });
        if (count < 0) {
            ec = last_error();
            return;
        }
        // A short count means the next entry failed; the next call says why.
        for (int i = 0; i < count; ++i)
            entries[sent + i].bytes_sent = messages[i].msg_len;
        sent += static_cast<std::size_t>(count);
    }
    ec.clear();
}

// Receives into `entries` from index `received` on: whatever is queued, up
// to the entries' number, without waiting. Would-block only when nothing at
// all was received; an error after some datagrams is left for the next call,
// which meets it again, so that the datagrams already taken are reported.
inline void receive_entries(int fd, std::span<receive_entry> entries, std::size_t& received,
                            int flags, std::error_code& ec) noexcept
{
    const std::size_t received_before = received;
    while (received < entries.size()) {
        const std::size_t chunk = std::min(entries.size() - received, max_batch_chunk);
        mmsghdr messages[max_batch_chunk];
        iovec buffers[max_batch_chunk];
        // Endpoints are normalised after the call (see endpoint_from_sockaddr),
        // so the kernel writes the raw addresses here.
        sender_address_buffer senders[max_batch_chunk];
        // Credentials and pidfds arrive with every datagram when asked for;
        // descriptors are for receive_with_fds.
        identity_control_buffer controls[max_batch_chunk];
        for (std::size_t i = 0; i < chunk; ++i) {
            const receive_entry& entry = entries[received + i];
            buffers[i].iov_base = entry.buffer.data();
            buffers[i].iov_len = entry.buffer.size();
            messages[i] = mmsghdr{};
            msghdr& message = messages[i].msg_hdr;
            message.msg_iov = &buffers[i];
            message.msg_iovlen = 1;
            message.msg_control = controls[i].bytes;
            message.msg_controllen = sizeof(controls[i].bytes);
            if (entry.sender) {
                message.msg_name = &senders[i];
                message.msg_namelen = sizeof(senders[i]);
            }
        }
        int count = retry_on_eintr([&] {
            return ::recvmmsg(fd, messages, static_cast<unsigned>(chunk),
                              flags | MSG_CMSG_CLOEXEC | MSG_DONTWAIT, nullptr);
        });
        if (count < 0) {
            if (received == received_before) {
                ec = last_error();
                return;
            }
            break;
        }
        for (int i = 0; i < count; ++i) {
            receive_entry& entry = entries[received + i];
            const msghdr& message = messages[i].msg_hdr;
            entry.bytes = messages[i].msg_len;
            entry.truncated = (message.msg_flags & MSG_TRUNC) != 0;
            entry.control_truncated = (message.msg_flags & MSG_CTRUNC) != 0;
            entry.sender_too_long = false;
            take_control(message, {}, entry.control_truncated, entry.sender_credentials,
                         entry.sender_pidfd);
            if (entry.sender) {
                std::error_code address_ec;
                *entry.sender =
                    endpoint_from_sockaddr(senders[i].address, message.msg_namelen, address_ec);
                entry.sender_too_long = static_cast<bool>(address_ec);
            }
        }
        received += static_cast<std::size_t>(count);
        if (static_cast<std::size_t>(count) < chunk)
            break;
    }
    ec.clear();
}

struct send_many_operation {
    send_many_operation(std::span<send_entry> entries, int flags)
        : entries(entries), flags(flags),
          next_destination(entries.empty() ? nullptr : entries.front().destination)
    {
    }

    std::span<send_entry> entries;
    int flags = 0;
    std::size_t sent = 0;

    // Where the next entry goes: the wait for room is there, as for send_to
    // (the first entry's, for a batch that waits before its first attempt).
    const endpoint* next_destination = nullptr;

    static constexpr bool is_receive = false;

    // Entries sent before a wait stay sent, so a cancelled batch has had
    // effects: total cancellation, which promises none, is not offered.
    using cancellation_filter = asio::enable_partial_cancellation;

    void attempt(int fd, std::error_code& ec) noexcept
    {
        send_entries(fd, entries, sent, flags, ec);
        next_destination = sent < entries.size() ? entries[sent].destination : nullptr;
    }

    const endpoint* destination_address() const noexcept { return next_destination; }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        self.complete(ec, sent);
    }
};

struct receive_many_operation {
    receive_many_operation(std::span<receive_entry> entries, int flags)
        : entries(entries), flags(flags)
    {
    }

    std::span<receive_entry> entries;
    int flags = 0;
    std::size_t received = 0;

    static constexpr bool is_receive = true;

    void attempt(int fd, std::error_code& ec) noexcept
    {
        receive_entries(fd, entries, received, flags, ec);
    }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        self.complete(ec, received);
    }
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_BATCH_OPS_HPP
