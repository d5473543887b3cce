//
// unixdgram/detail/reactive_op.hpp — one asynchronous send or receive: try
// the system call, wait for readiness only on EAGAIN, try again.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_REACTIVE_OP_HPP
#define UNIXDGRAM_DETAIL_REACTIVE_OP_HPP

#include <unixdgram/detail/completion_queue.hpp>
#include <unixdgram/detail/destination_wait.hpp>
#include <unixdgram/detail/message_ops.hpp>
#include <unixdgram/detail/socket_impl.hpp>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/socket_base.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace unixdgram::detail {

template <typename Executor, message_operation Operation>
class reactive_op;

// Starts every async send and receive: one attempt at once; only when it
// would block does the reactive_op state machine take over, waiting and
// trying again. Told to wait first (first_step::wait), it starts the state
// machine at once, as if its own attempt had met EAGAIN: the caller's had.
//
// It refers to the socket's members, not their values, as Asio's initiations
// refer to their socket: a deferred operation (asio::deferred, an awaitable
// awaited later) runs on what the socket holds when it is launched.
template <typename Executor, typename Signature>
class reactive_initiation {
public:
    using executor_type = Executor;

    // `*impl` is null for a socket that was never opened, or moved from.
    reactive_initiation(const Executor& executor,
                        const std::shared_ptr<socket_impl<Executor>>& impl,
                        first_step first = first_step::attempt) noexcept
        : executor_(&executor), impl_(&impl), first_(first)
    {
    }

    executor_type get_executor() const noexcept { return *executor_; }

    template <typename Handler, typename Operation>
    void operator()(Handler&& handler, Operation&& operation) const
    {
        socket_impl<Executor>* impl = impl_->get();
        std::error_code ec;
        const int fd = impl ? impl->descriptor() : -1;
        if (first_ == first_step::attempt)
            operation.attempt(fd, ec);
        else if (fd < 0)
            ec = asio::error::bad_descriptor; // what the attempt would have met
        else
            ec = asio::error::would_block;
        // The socket joins the reactor only once a call of it would block.
        bool would_block = is_would_block(ec);
        if (would_block) {
            std::error_code registration;
            if (!impl->register_with_reactor(registration)) {
                ec = registration;
                would_block = false;
            }
        }
        if (!would_block) {
            immediate_completion<std::decay_t<Handler>, executor_type> completion{handler,
                                                                                  *executor_};
            return operation.complete(completion, ec);
        }
        // async_compose takes the handler by reference and moves from it.
        asio::async_compose<std::decay_t<Handler>, Signature>(
            reactive_op<Executor, std::decay_t<Operation>>(*impl,
                                                           std::forward<Operation>(operation)),
            handler, *executor_);
    }

private:
    const Executor* executor_;
    const std::shared_ptr<socket_impl<Executor>>* impl_;
    first_step first_;
};

// The waiting half of an async send or receive, run by asio::async_compose
// once the first attempt (reactive_initiation's) would have blocked: wait for
// readiness, try again, and so on until the attempt does not block.
template <typename Executor, message_operation Operation>
class reactive_op {
public:
    reactive_op(socket_impl<Executor>& socket, Operation operation)
        : socket_(socket.weak_from_this()), epoch_(socket.waits.epoch()),
          operation_(std::move(operation))
    {
    }

    template <typename Self>
    void operator()(Self& self, std::error_code wait_error = {})
    {
        if (std::optional<std::error_code> outcome = advance(self, wait_error))
            finish(self, *outcome);
    }

private:
    enum class step { starting, waiting };

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

    // One step, with the socket held for its length (and not while the
    // handler runs, which may destroy the socket, its descriptor closed at
    // once): either it waits again, or it gives the operation's outcome.
    template <typename Self>
    std::optional<std::error_code> advance(Self& self, std::error_code wait_error)
    {
        // Gone (destroyed, or replaced by a move-assignment), or closed,
        // released or cancelled since it started: whatever ended the wait,
        // nothing is left to try.
        const std::shared_ptr<socket_impl<Executor>> socket = socket_.lock();
        if (!socket || socket->waits.epoch() != epoch_)
            return asio::error::operation_aborted;
        if (step_ == step::starting) {
            self.reset_cancellation_state(cancellation_filter());
            wait(self, *socket);
            return std::nullopt;
        }
        // A per-operation cancellation ends this one alone.
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
            if constexpr (!Operation::is_receive)
                socket->waits.wait_abandoned(waiter_);
            return wait_error ? wait_error : asio::error::operation_aborted;
        }
        // With neither, only the destination wait's timer, armed anew by
        // another send, aborts a wait: this one joined the arming before,
        // which had expired, and it tries again as if that had woken it.
        if (wait_error && wait_error != asio::error::operation_aborted)
            return wait_error;
        const bool done = attempt(*socket);
        if constexpr (!Operation::is_receive)
            socket->waits.wait_ended(waiter_, !done);
        if (!done) {
            wait(self, *socket);
            return std::nullopt;
        }
        return error_;
    }

    bool attempt(socket_impl<Executor>& socket) noexcept
    {
        operation_.attempt(socket.descriptor(), error_);
        return !is_would_block(error_);
    }

    // Completing destroys this object; the handler runs inside. The socket
    // may be gone already: the executor is the composed operation's, its
    // handler's or the socket's.
    template <typename Self>
    void finish(Self& self, std::error_code ec)
    {
        auto executor = asio::get_associated_executor(self);
        asio::io_context* context = plain_io_context(executor);
        if (!context)
            return operation_.complete(self, ec);
        completion_runner::complete_as_runner(*context, [&] { operation_.complete(self, ec); });
    }

    template <typename Self>
    void wait(Self& self, socket_impl<Executor>& socket)
    {
        step_ = step::waiting;
        if constexpr (Operation::is_receive)
            socket.socket.async_wait(asio::socket_base::wait_read, std::move(self));
        else
            socket.waits.async_wait_for_room(socket.socket, operation_.destination_address(),
                                             waiter_, std::move(self));
    }

    std::weak_ptr<socket_impl<Executor>> socket_;
    std::uint64_t epoch_; // its socket's waits.epoch() when it started
    Operation operation_;
    std::error_code error_;
    step step_ = step::starting;
    typename destination_wait<Executor>::ticket waiter_;
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_REACTIVE_OP_HPP
