//
// unixdgram/detail/message_ops.hpp — the operations of one send or receive, and the
// contract every operation meets (the batches' too).
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_MESSAGE_OPS_HPP
#define UNIXDGRAM_DETAIL_MESSAGE_OPS_HPP

#include <unixdgram/detail/socket_ops.hpp>
#include <unixdgram/message.hpp>
#include <unixdgram/receive_result.hpp>

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

namespace unixdgram::detail {

inline void report_truncation(const receive_result& result, std::error_code& ec) noexcept
{
    if (!ec && result.truncated)
        ec = error::message_truncated;
}

// What the blocking loop (datagram_socket::run_blocking) and the async state
// machine (reactive_op) need of an operation: one attempt at its system
// call, which never waits; whether readiness to read or room to send is what
// it waits for; for a send, where the next datagram goes (null: the
// connected peer), which is where it waits for room, known before the first
// attempt too (a send after would-block waits first); and the completion,
// given the last attempt's error.
template <typename Operation>
concept message_operation = requires(Operation& operation, const Operation& examined, int fd,
                                     std::error_code& ec)
{
    {
        Operation::is_receive
        } -> std::convertible_to<bool>;
    {
        operation.attempt(fd, ec)
    }
    noexcept;
}
&&(Operation::is_receive || requires(const Operation& examined) {
    {
        examined.destination_address()
    }
    noexcept->std::same_as<const endpoint*>;
});

// How an operation begins: with its attempt, or, for a caller whose own
// attempt has just met EAGAIN (the after_would_block sends), with a wait, so
// that the attempt is not made twice in a row.
enum class first_step : bool { attempt, wait };

// The caller's endpoint, for a blocking send (which returns before the
// caller can change it), or a copy, for an async one.
inline const endpoint* address_of(const endpoint* destination) noexcept
{
    return destination;
}

inline const endpoint* address_of(const std::optional<endpoint>& destination) noexcept
{
    return destination ? &*destination : nullptr;
}

template <typename ConstBufferSequence, typename Destination>
struct send_operation {
    send_operation(const ConstBufferSequence& buffers, Destination destination,
                   const send_control& control, int flags)
        : buffers(buffers), destination(std::move(destination)), control(control), flags(flags)
    {
    }

    ConstBufferSequence buffers;
    Destination destination;
    send_control control;
    int flags = 0;
    std::size_t sent = 0;

    static constexpr bool is_receive = false;

    const endpoint* destination_address() const noexcept { return address_of(destination); }

    void attempt(int fd, std::error_code& ec) noexcept
    {
        sent = send_message(fd, iovec_array(buffers), destination_address(), control, flags, ec);
    }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        self.complete(ec, sent);
    }
};

// A receive of the general form (WithControl: every part of the datagram,
// reported in a receive_result) or of the bytes only (receive and
// receive_from, which complete with a count and report truncation as
// error::message_truncated).
template <typename MutableBufferSequence, bool WithControl>
struct receive_operation {
    receive_operation(const MutableBufferSequence& buffers, endpoint* sender,
                      std::span<file_descriptor> fds, int flags)
        : buffers(buffers), sender(sender), fds(fds), flags(flags)
    {
    }

    MutableBufferSequence buffers;
    endpoint* sender = nullptr;
    std::span<file_descriptor> fds;
    int flags = 0;
    receive_result result;

    static constexpr bool is_receive = true;

    void attempt(int fd, std::error_code& ec) noexcept
    {
        receive_message(fd, iovec_array(buffers), sender, fds, WithControl, flags, result, ec);
    }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        if constexpr (WithControl) {
            self.complete(ec, std::move(result));
        } else {
            report_truncation(result, ec);
            self.complete(ec, result.bytes);
        }
    }
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_MESSAGE_OPS_HPP
