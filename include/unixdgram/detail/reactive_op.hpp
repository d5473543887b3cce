//
// unixdgram/detail/reactive_op.hpp — one asynchronous send or receive: try
// the system call, wait for readiness only on EAGAIN, try again.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_REACTIVE_OP_HPP
#define UNIXDGRAM_DETAIL_REACTIVE_OP_HPP

#include <unixdgram/detail/socket_ops.hpp>
#include <unixdgram/receive_result.hpp>

#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>

#include <algorithm>
#include <chrono>
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

template <typename ConstBufferSequence>
struct send_operation {
    send_operation(const ConstBufferSequence& buffers, std::optional<endpoint> destination,
                   std::span<const int> fds, int flags)
        : buffers(buffers), destination(std::move(destination)), fds(fds), flags(flags)
    {
    }

    ConstBufferSequence buffers;
    std::optional<endpoint> destination;
    std::span<const int> fds;
    int flags = 0;
    std::size_t sent = 0;

    static constexpr bool is_receive = false;

    void attempt(int fd, std::error_code& ec) noexcept
    {
        sent = send_message(fd, iovec_array(buffers), destination ? &*destination : nullptr, fds,
                            flags, ec);
    }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        self.complete(ec, sent);
    }
};

template <typename MutableBufferSequence, bool WithFds>
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
        receive_message(fd, iovec_array(buffers), sender, fds, WithFds, flags, result, ec);
    }

    template <typename Self>
    void complete(Self& self, std::error_code ec)
    {
        if constexpr (WithFds) {
            self.complete(ec, std::move(result));
        } else {
            report_truncation(result, ec);
            self.complete(ec, result.bytes);
        }
    }
};

// The state machine behind every async send and receive, run by
// asio::async_compose. It never completes inside the initiating call: an
// immediate result is posted first.
template <typename Executor, typename Operation>
class reactive_op {
public:
    reactive_op(datagram_socket<Executor>& socket, Operation operation)
        : socket_(socket), operation_(std::move(operation))
    {
    }

    template <typename Self>
    void operator()(Self& self, std::error_code wait_error = {})
    {
        switch (step_) {
        case step::starting:
            // Nothing is half done before the system call succeeds, so any
            // kind of cancellation may stop the operation.
            self.reset_cancellation_state(asio::enable_total_cancellation());
            if (attempt()) {
                step_ = step::completing;
                asio::post(socket_.get_executor(), std::move(self));
                return;
            }
            return wait(self);
        case step::completing:
            return finish(self);
        case step::waiting: {
            // After close(), cancel() or the socket's destruction the wait
            // ends with an error and the socket must not be touched; a
            // per-operation cancellation leaves it alive.
            bool cancelled_here =
                self.get_cancellation_state().cancelled() != asio::cancellation_type::none;
            if (!wait_error || cancelled_here)
                stop_waiting();
            if (wait_error)
                return finish(self, wait_error);
            if (cancelled_here)
                return finish(self, asio::error::operation_aborted);
            if (!attempt())
                return wait(self);
            if (!error_ && waiting_on_ == waiting_on::backoff_timer)
                socket_.destination_wait_.backoff_delay = std::chrono::milliseconds(1);
            return finish(self);
        }
        }
    }

private:
    enum class step { starting, completing, waiting };
    enum class waiting_on { socket, probe, backoff_timer };

    bool attempt() noexcept
    {
        operation_.attempt(socket_.socket_.native_handle(), error_);
        return !is_would_block(error_);
    }

    template <typename Self>
    void finish(Self& self)
    {
        operation_.complete(self, error_);
    }

    template <typename Self>
    void finish(Self& self, std::error_code ec)
    {
        operation_.complete(self, ec);
    }

    template <typename Self>
    void wait(Self& self)
    {
        step_ = step::waiting;
        waiting_on_ = waiting_on::socket;
        if constexpr (Operation::is_receive) {
            socket_.socket_.async_wait(asio::socket_base::wait_read, std::move(self));
        } else {
            if (operation_.destination && !own_buffer_full())
                return wait_for_destination(self, *operation_.destination);
            // A connected socket polls writable only when its peer's queue
            // has room, so waiting on it cannot spin.
            socket_.socket_.async_wait(asio::socket_base::wait_write, std::move(self));
        }
    }

    bool own_buffer_full() const noexcept
    {
        std::error_code ec;
        return !poll_for(socket_.socket_.native_handle(), POLLOUT, 0, ec) || ec;
    }

    template <typename Self>
    void wait_for_destination(Self& self, const endpoint& destination)
    {
        auto& waits = socket_.destination_wait_;
        if (socket_.aim_probe_at(destination)) {
            ++waits.probe_waiters;
            waiting_on_ = waiting_on::probe;
            waits.probe.async_wait(asio::socket_base::wait_write, std::move(self));
            return;
        }
        if (waits.backoff_waiters == 0) {
            waits.backoff_timer.expires_after(waits.backoff_delay);
            waits.backoff_delay = std::min(waits.backoff_delay * 2, std::chrono::milliseconds(64));
        }
        ++waits.backoff_waiters;
        waiting_on_ = waiting_on::backoff_timer;
        waits.backoff_timer.async_wait(std::move(self));
    }

    void stop_waiting() noexcept
    {
        auto& waits = socket_.destination_wait_;
        switch (waiting_on_) {
        case waiting_on::socket:
            break;
        case waiting_on::probe:
            if (waits.probe_waiters > 0)
                --waits.probe_waiters;
            break;
        case waiting_on::backoff_timer:
            if (waits.backoff_waiters > 0)
                --waits.backoff_waiters;
            break;
        }
    }

    datagram_socket<Executor>& socket_;
    Operation operation_;
    std::error_code error_;
    step step_ = step::starting;
    waiting_on waiting_on_ = waiting_on::socket;
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_REACTIVE_OP_HPP
