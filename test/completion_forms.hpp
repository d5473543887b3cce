//
// completion_forms.hpp — an operation in each of its completion forms,
// written once for every test that runs a case in all of them.
//
// A test names an operation once, as an `operation`: its synchronous
// member, its asynchronous one and, where there is one, its single attempt.
// A form policy runs it: throwing, std::error_code&, try_, or asynchronous
// with a callback, asio::use_future or asio::use_awaitable. Each policy is a
// test case of its own (TEST_CASE_TEMPLATE_APPLY over completion_forms or
// completion_forms_and_try), named after the test with the form in angle
// brackets.
//
// Of the library it needs nothing: the operations bring the socket.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_COMPLETION_FORMS_HPP
#define UNIXDGRAM_TEST_COMPLETION_FORMS_HPP

#include "unixdgram_test.hpp"

#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <cstddef>
#include <future>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

namespace unixdgram_test {

/// Runs the io_context in a thread of its own, for asio::use_future. The
/// io_context is restarted first: a run that ran out of work stops it.
class background_io {
public:
    explicit background_io(asio::io_context& io) : io_(io), work_(io.get_executor())
    {
        io_.restart();
        runner_ = std::thread([this] { io_.run(); });
    }
    background_io(const background_io&) = delete;
    background_io& operator=(const background_io&) = delete;
    ~background_io()
    {
        work_.reset();
        io_.stop();
        runner_.join();
    }

private:
    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread runner_;
};

/// A send or a receive, named once: `sync(tail...)` calls the synchronous
/// member, with no tail for the throwing form and with the flags and a
/// std::error_code& for the other; `async(token)` the asynchronous member;
/// `attempt(flags, ec)`, for the operations that have one, the try_ member.
template <typename Sync, typename Async, typename Attempt = std::nullptr_t>
struct operation {
    Sync sync;
    Async async;
    Attempt attempt = nullptr;
};
template <typename Sync, typename Async>
operation(Sync, Async) -> operation<Sync, Async>;
template <typename Sync, typename Async, typename Attempt>
operation(Sync, Async, Attempt) -> operation<Sync, Async, Attempt>;

/// What the operation returns when it succeeds.
template <typename Operation>
using result_of = decltype(std::declval<Operation&>().sync());

/// What an operation reported: its error (none when it succeeded) and its
/// value.
template <typename Value>
struct outcome {
    std::error_code ec;
    Value value{};
    /// The thrown exception's what(), in the forms that throw.
    std::string what;
};

template <typename Operation>
using outcome_of = outcome<result_of<Operation>>;

/// An error nobody reports, to see that a form clears its error code.
inline std::error_code unlikely_error()
{
    return std::make_error_code(std::errc::io_error);
}

/// What a send and a receive returned, both having succeeded.
template <typename Received>
struct exchanged {
    std::size_t sent = 0;
    Received received{};
};

namespace detail {

/// `out.value = call()`, or what `call()` threw in `out`.
template <typename Value, typename Call>
void catch_into(outcome<Value>& out, Call&& call)
{
    try {
        out.value = call();
    } catch (const std::system_error& failure) {
        out.ec = failure.code();
        out.what = failure.what();
    }
}

/// `call(ec)`'s value and its error, which it must clear on success.
template <typename Operation, typename Call>
outcome_of<Operation> reported_in_error_code(Call&& call)
{
    outcome_of<Operation> out;
    out.ec = unlikely_error();
    out.value = call(out.ec);
    return out;
}

template <typename Value>
void take_future(std::future<Value>& result, outcome<Value>& out)
{
    REQUIRE(result.wait_for(safety_timeout) == std::future_status::ready);
    catch_into(out, [&] { return result.get(); });
}

/// The exchange of the forms that finish each operation before they start
/// the next: the send, then the receive.
template <typename Form>
struct one_after_the_other {
    template <typename Send, typename Receive>
    static exchanged<result_of<Receive>> exchange(io_fixture& fixture, Send& send, Receive& receive)
    {
        const outcome_of<Send> sent = Form::run(fixture, send);
        REQUIRE_FALSE(sent.ec);
        outcome_of<Receive> received = Form::run(fixture, receive);
        REQUIRE_FALSE(received.ec);
        return {sent.value, std::move(received.value)};
    }
};

} // namespace detail

// Each form has `run(fixture, operation)`, which runs the operation to its
// end and returns its outcome, and `exchange(fixture, send, receive)`, which
// runs a send and a receive that must both succeed.

struct throwing_form : detail::one_after_the_other<throwing_form> {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture&, Operation&& op)
    {
        outcome_of<Operation> out;
        detail::catch_into(out, [&] { return op.sync(); });
        return out;
    }
};

struct error_code_form : detail::one_after_the_other<error_code_form> {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture&, Operation&& op)
    {
        return detail::reported_in_error_code<Operation>(
            [&](std::error_code& ec) { return op.sync(0, ec); });
    }
};

/// The single attempt that never waits.
struct try_form : detail::one_after_the_other<try_form> {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture&, Operation&& op)
    {
        return detail::reported_in_error_code<Operation>(
            [&](std::error_code& ec) { return op.attempt(0, ec); });
    }
};

/// An exchange starts the receive first, so that it waits for the datagram.
struct callback_form {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture& fixture, Operation&& op)
    {
        completion<result_of<Operation>> done;
        done.start([&](auto handler) { op.async(handler); });
        CHECK(done.calls == 0);
        fixture.run();
        REQUIRE(done.calls == 1);
        return {done.ec, std::move(done.result), {}};
    }

    template <typename Send, typename Receive>
    static exchanged<result_of<Receive>> exchange(io_fixture& fixture, Send& send, Receive& receive)
    {
        completion<result_of<Send>> sending;
        completion<result_of<Receive>> receiving;
        receiving.start([&](auto handler) { receive.async(handler); });
        sending.start([&](auto handler) { send.async(handler); });
        fixture.run();
        REQUIRE(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(sending.ec);
        CHECK_FALSE(receiving.ec);
        return {sending.result, std::move(receiving.result)};
    }
};

/// An exchange starts the receive first, so that it waits for the datagram.
struct use_future_form {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture& fixture, Operation&& op)
    {
        background_io runner(fixture.io);
        std::future<result_of<Operation>> result = op.async(asio::use_future);
        outcome_of<Operation> out;
        detail::take_future(result, out);
        return out;
    }

    template <typename Send, typename Receive>
    static exchanged<result_of<Receive>> exchange(io_fixture& fixture, Send& send, Receive& receive)
    {
        background_io runner(fixture.io);
        std::future<result_of<Receive>> receiving = receive.async(asio::use_future);
        std::future<result_of<Send>> sending = send.async(asio::use_future);
        outcome_of<Send> sent;
        outcome_of<Receive> received;
        detail::take_future(sending, sent);
        detail::take_future(receiving, received);
        REQUIRE_FALSE(sent.ec);
        REQUIRE_FALSE(received.ec);
        return {sent.value, std::move(received.value)};
    }
};

struct use_awaitable_form : detail::one_after_the_other<use_awaitable_form> {
    template <typename Operation>
    static outcome_of<Operation> run(io_fixture& fixture, Operation&& op)
    {
        outcome_of<Operation> out;
        run_coroutine(fixture.io, await_into(op, out));
        return out;
    }

private:
    // The operation is copied into the coroutine's frame; what it refers to
    // outlives run_coroutine.
    template <typename Operation, typename Value>
    static asio::awaitable<void> await_into(Operation op, outcome<Value>& out)
    {
        try {
            out.value = co_await op.async(asio::use_awaitable);
        } catch (const std::system_error& failure) {
            out.ec = failure.code();
            out.what = failure.what();
        }
    }
};

/// Calls `visit(form)` with each form of `Forms` (a std::tuple of them), in
/// turn.
template <typename Forms, typename Visit>
void for_each_form(Visit&& visit)
{
    std::apply([&](auto... form) { (visit(form), ...); }, Forms{});
}

/// The forms every operation comes in.
using completion_forms =
    std::tuple<throwing_form, error_code_form, callback_form, use_future_form, use_awaitable_form>;

/// The same and try_, for the operations that have a single attempt.
using completion_forms_and_try = std::tuple<throwing_form, error_code_form, try_form, callback_form,
                                            use_future_form, use_awaitable_form>;

} // namespace unixdgram_test

TYPE_TO_STRING_AS("throwing form", unixdgram_test::throwing_form);
TYPE_TO_STRING_AS("error_code form", unixdgram_test::error_code_form);
TYPE_TO_STRING_AS("try_ form", unixdgram_test::try_form);
TYPE_TO_STRING_AS("callback form", unixdgram_test::callback_form);
TYPE_TO_STRING_AS("use_future form", unixdgram_test::use_future_form);
TYPE_TO_STRING_AS("use_awaitable form", unixdgram_test::use_awaitable_form);

#endif // UNIXDGRAM_TEST_COMPLETION_FORMS_HPP
