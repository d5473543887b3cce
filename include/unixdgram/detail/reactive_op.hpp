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

#include <asio/associated_allocator.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>
#include <system_error>
#include <tuple>
#include <type_traits>
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

// A handler and the values it completes with, as one function of no
// arguments that allocates as the handler asks.
template <typename Handler, typename... Values>
class bound_completion {
public:
    using allocator_type = asio::associated_allocator_t<Handler>;

    template <typename... Args>
    explicit bound_completion(Handler&& handler, Args&&... values)
        : handler_(std::move(handler)), values_(std::forward<Args>(values)...)
    {
    }

    allocator_type get_allocator() const noexcept
    {
        return asio::get_associated_allocator(handler_);
    }

    void operator()() { std::apply(std::move(handler_), std::move(values_)); }

private:
    Handler handler_;
    std::tuple<Values...> values_;
};

// Where an operation whose first attempt did not block delivers its result:
// posted to the handler's executor (the socket's when it has none), so it
// never runs inside the initiating call. Posted, not deferred: a handler
// that waits for it by running the io_context itself (as the Lua binding's
// blocking calls outside a fiber do) must find it in the io_context's queue,
// not in the calling thread's continuations, which wait for that handler.
template <typename Handler, typename Executor>
struct immediate_completion {
    Handler& handler;
    const Executor& io_executor;

    template <typename... Values>
    void complete(Values&&... values)
    {
        auto executor = asio::get_associated_executor(handler, io_executor);
        bound_completion<Handler, std::decay_t<Values>...> bound(std::move(handler),
                                                                 std::forward<Values>(values)...);
        if constexpr (std::is_same_v<decltype(executor), asio::any_io_executor>) {
            // Most handlers run on a plain io_context. Posting to its own
            // executor skips the polymorphic wrapper's property queries and
            // its second allocation, a large share of the cost of a post.
            if (auto* io_context_executor =
                    executor.template target<asio::io_context::executor_type>())
                return asio::post(*io_context_executor, std::move(bound));
        }
        asio::post(executor, std::move(bound));
    }
};

template <typename Executor, typename Operation>
class reactive_op;

// Starts every async send and receive: one attempt at once; only when it
// would block does the reactive_op state machine take over, waiting and
// trying again.
template <typename Executor, typename Signature>
class reactive_initiation {
public:
    using executor_type = Executor;

    explicit reactive_initiation(datagram_socket<Executor>& socket) noexcept : socket_(socket) {}

    executor_type get_executor() const noexcept { return socket_.get_executor(); }

    template <typename Handler, typename Operation>
    void operator()(Handler&& handler, Operation&& operation) const
    {
        std::error_code ec;
        operation.attempt(socket_.native_handle(), ec);
        executor_type io_executor = socket_.get_executor();
        if (!is_would_block(ec)) {
            immediate_completion<std::decay_t<Handler>, executor_type> completion{handler,
                                                                                  io_executor};
            return operation.complete(completion, ec);
        }
        // async_compose takes the handler by reference and moves from it.
        asio::async_compose<std::decay_t<Handler>, Signature>(
            reactive_op<Executor, std::decay_t<Operation>>(socket_,
                                                           std::forward<Operation>(operation)),
            handler, io_executor);
    }

private:
    datagram_socket<Executor>& socket_;
};

// The waiting half of an async send or receive, run by asio::async_compose
// once the first attempt (reactive_initiation's) would have blocked: wait for
// readiness, try again, and so on until the attempt does not block.
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
            self.reset_cancellation_state(cancellation_filter());
            return wait(self);
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
    enum class step { starting, waiting };
    enum class waiting_on { socket, probe, backoff_timer };

    // A single send or receive is not half done before its system call
    // succeeds, so any kind of cancellation may stop it. An operation that
    // can be stopped part way (a batch) names the kinds it honours instead.
    static auto cancellation_filter() noexcept
    {
        if constexpr (requires { typename Operation::cancellation_filter; })
            return typename Operation::cancellation_filter();
        else
            return asio::enable_total_cancellation();
    }

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
