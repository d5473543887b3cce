//
// test_waiting.cpp — when a send or a receive waits: try_ never does;
// async never completes inside the initiating call, waits for a datagram or
// for room in every async form, copies what it needs while it waits, and
// honours per-operation cancellation.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

TEST_CASE_FIXTURE(message_fixture,
                  "async_send_message copies its destination and credentials, so the caller's "
                  "may change while it waits")
{
    server.set_option(unixdgram::pass_credentials(true));
    fill_queue(client, server_endpoint);
    completion<std::size_t> sending;
    {
        endpoint destination = server_endpoint;
        send_control control{.sender_credentials = own_credentials()};
        sending.start([&](auto handler) {
            client.async_send_message(asio::buffer(std::string_view("copied")), &destination,
                                      control, 0, handler);
        });
        io.poll();
        REQUIRE(sending.calls == 0);
        // Overwritten, then gone, while the send waits.
        destination = client_endpoint;
        control.sender_credentials = credentials{1, 2, 3};
    }
    REQUIRE(drain_one(server.native_handle()));
    forget_credentials_sent();
    run();
    REQUIRE(sending.calls == 1);
    REQUIRE_FALSE(sending.ec);
    CHECK(credentials_last_sent() == std::optional(own_credentials()));
    std::vector<std::string> texts = drain_all(server);
    REQUIRE_FALSE(texts.empty());
    CHECK(texts.back() == "copied");
    CHECK(client.bytes_readable() == 0);
}

// ---------------------------------------------------------------------------
// try_: one attempt, never a wait
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(message_fixture,
                  "try_receive_message gives EAGAIN on an empty queue and never waits, whatever "
                  "non_blocking says")
{
    bool mode = false;
    SUBCASE("non_blocking false")
    {
        mode = false;
    }
    SUBCASE("non_blocking true")
    {
        mode = true;
    }
    b.non_blocking(mode);
    REQUIRE(b.non_blocking() == mode);
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    endpoint sender;
    call_counter counter(b.native_handle());
    std::error_code ec = unlikely_error();
    receive_result got;
    {
        // Were the try to wait, the rescuer's datagram would end it.
        act_when rescuer([] { return false; },
                         [this] { a.send(asio::buffer(std::string_view("rescue"))); });
        got = b.try_receive_message(asio::buffer(storage), &sender, fds, 0, ec);
        rescuer.finish();
        CHECK_FALSE(rescuer.late());
    }
    CHECK(ec == errno_is{EAGAIN});
    CHECK(got.bytes == 0);
    CHECK(got.fds.empty());
    CHECK(counter.since().receives() == 1);
    // The socket still receives; drop the rescuer's datagram, if it came.
    std::error_code ignored;
    b.try_receive_message(asio::buffer(storage), nullptr, {}, 0, ignored);
    a.send(asio::buffer(std::string_view("later")));
    CHECK(
        text_of(storage, b.try_receive_message(asio::buffer(storage), nullptr, {}, 0, ec).bytes) ==
        "later");
    CHECK_FALSE(ec);
}

TEST_CASE_FIXTURE(message_fixture,
                  "try_send_message gives EAGAIN at a full destination and never waits, whatever "
                  "non_blocking says")
{
    // doctest runs one sibling SUBCASE per pass, so the destinations are
    // subcases and the modes a loop.
    const endpoint* destination = each_way_to_the_server(*this);
    const std::size_t queued = fill_queue(client, server_endpoint);
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    for (const bool mode : {false, true}) {
        CAPTURE(mode);
        client.non_blocking(mode);
        REQUIRE(client.non_blocking() == mode);
        call_counter counter(client.native_handle());
        std::error_code plain_ec = unlikely_error();
        std::error_code with_fds_ec = unlikely_error();
        std::size_t plain_sent = 1;
        std::size_t with_fds_sent = 1;
        {
            // Were a try to wait, the rescuer would make room to end it.
            act_when rescuer([] { return false; }, [this] { drain_one(server.native_handle()); });
            plain_sent = client.try_send_message(asio::buffer(std::string_view("blocked")),
                                                 destination, {}, 0, plain_ec);
            with_fds_sent =
                client.try_send_message(asio::buffer(std::string_view("blocked with fd")),
                                        destination, {.fds = fds_to_send}, 0, with_fds_ec);
            rescuer.finish();
            CHECK_FALSE(rescuer.late());
        }
        CHECK(plain_ec == errno_is{EAGAIN});
        CHECK(with_fds_ec == errno_is{EAGAIN});
        CHECK(plain_sent == 0);
        CHECK(with_fds_sent == 0);
        CHECK(counter.since().sends() == 2);
    }
    // Nothing of the refused sends was queued.
    check_only_filler_queued(server, queued);
}

// ---------------------------------------------------------------------------
// Async: never inside the initiating call, waiting, cancellation
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(message_fixture,
                  "async_send_message and async_receive_message never call their handler inside "
                  "the initiating call, even when the system call succeeds at once")
{
    const std::string_view message = "at once";
    std::array<char, 16> storage{};
    {
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send_message(asio::buffer(message), nullptr, {}, 0, handler);
        });
        CHECK(sending.calls == 0);
        // The datagram is already sent: only the handler is pending.
        CHECK(b.bytes_readable() == message.size());
        completion<receive_result> receiving;
        receiving.start([&](auto handler) {
            b.async_receive_message(asio::buffer(storage), nullptr, {}, 0, handler);
        });
        CHECK(receiving.calls == 0);
        run();
        CHECK(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        CHECK(text_of(storage, receiving.result.bytes) == message);
    }
    // Not with asio::use_future: its handler's associated executor is Asio's
    // promise_executor, so the library posts an immediate completion there
    // (to the system_context's thread), where it may run before the
    // initiating call has returned to the caller. Nothing here can tell the
    // two apart.
}

TEST_CASE_FIXTURE(
    message_fixture,
    "async_receive_message waits for a datagram that comes later, in every async form")
{
    std::array<char, 32> storage{};
    std::array<file_descriptor, 1> fds;
    endpoint sender;
    file_descriptor file = file_with_content("sent later");
    const std::array<int, 1> fds_to_send{file.get()};
    auto send_later = [&] {
        client.send_message(asio::buffer(std::string_view("later")), &server_endpoint,
                            {.fds = fds_to_send});
    };
    receive_result got;

    SUBCASE("callback")
    {
        completion<receive_result> receiving;
        receiving.start([&](auto handler) {
            server.async_receive_message(asio::buffer(storage), &sender, fds, 0, handler);
        });
        io.poll();
        CHECK(receiving.calls == 0);
        send_later();
        run();
        REQUIRE(receiving.calls == 1);
        REQUIRE_FALSE(receiving.ec);
        got = std::move(receiving.result);
    }
    SUBCASE("use_future")
    {
        background_io runner(io);
        std::future<receive_result> receiving =
            server.async_receive_message(asio::buffer(storage), &sender, fds, 0, asio::use_future);
        // Nothing was sent yet, so nothing can have been received.
        CHECK(receiving.wait_for(0s) == std::future_status::timeout);
        send_later();
        REQUIRE(receiving.wait_for(safety_timeout) == std::future_status::ready);
        got = receiving.get();
    }
    SUBCASE("use_awaitable")
    {
        bool done = false;
        auto body = [](socket_type& at, asio::mutable_buffer into, endpoint& from,
                       std::span<file_descriptor> room, receive_result& result,
                       bool& finished) -> asio::awaitable<void> {
            result = co_await at.async_receive_message(into, &from, room, 0, asio::use_awaitable);
            finished = true;
        };
        std::exception_ptr escaped;
        asio::co_spawn(io, body(server, asio::buffer(storage), sender, fds, got, done),
                       [&](std::exception_ptr failure) { escaped = failure; });
        io.poll();
        CHECK_FALSE(done);
        send_later();
        run();
        CHECK(done);
        if (escaped)
            std::rethrow_exception(escaped);
    }
    CHECK(text_of(storage, got.bytes) == "later");
    CHECK(sender.path() == client_name);
    REQUIRE(got.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "sent later");
}

TEST_CASE_FIXTURE(message_fixture,
                  "async_send_message waits for room at a full destination, in every async form")
{
    // The forms are subcases nested in each destination's (doctest runs one
    // sibling SUBCASE per pass).
    auto exercise = [this](const endpoint* destination) {
        fill_queue(client, server_endpoint);
        file_descriptor file = file_with_content("waited");
        const std::array<int, 1> fds_to_send{file.get()};
        const std::string_view message = "waited for room";
        const send_control control{.fds = fds_to_send};
        std::size_t sent = 0;

        SUBCASE("callback")
        {
            completion<std::size_t> sending;
            sending.start([&](auto handler) {
                client.async_send_message(asio::buffer(message), destination, control, 0, handler);
            });
            io.poll();
            CHECK(sending.calls == 0);
            REQUIRE(drain_one(server.native_handle()));
            run();
            REQUIRE(sending.calls == 1);
            REQUIRE_FALSE(sending.ec);
            sent = sending.result;
        }
        SUBCASE("use_future")
        {
            background_io runner(io);
            std::future<std::size_t> sending = client.async_send_message(
                asio::buffer(message), destination, control, 0, asio::use_future);
            // The queue is full until the drain below.
            CHECK(sending.wait_for(0s) == std::future_status::timeout);
            REQUIRE(drain_one(server.native_handle()));
            REQUIRE(sending.wait_for(safety_timeout) == std::future_status::ready);
            sent = sending.get();
        }
        SUBCASE("use_awaitable")
        {
            bool done = false;
            auto body = [](socket_type& from, asio::const_buffer data, const endpoint* to,
                           send_control with, std::size_t& result,
                           bool& finished) -> asio::awaitable<void> {
                result = co_await from.async_send_message(data, to, with, 0, asio::use_awaitable);
                finished = true;
            };
            std::exception_ptr escaped;
            asio::co_spawn(io,
                           body(client, asio::buffer(message), destination, control, sent, done),
                           [&](std::exception_ptr failure) { escaped = failure; });
            io.poll();
            CHECK_FALSE(done);
            REQUIRE(drain_one(server.native_handle()));
            run();
            CHECK(done);
            if (escaped)
                std::rethrow_exception(escaped);
        }
        CHECK(sent == message.size());
        // Last in the queue, after the filler datagrams.
        std::array<char, 32> storage{};
        std::array<file_descriptor, 1> fds;
        receive_result got;
        server.non_blocking(true);
        for (;;) {
            got = server.receive_message(asio::buffer(storage), nullptr, fds);
            if (got.bytes != 1)
                break;
        }
        CHECK(text_of(storage, got.bytes) == message);
        REQUIRE(got.fds.size() == 1);
        CHECK(read_some(fds[0].get()) == "waited");
    };
    SUBCASE("to a destination endpoint")
    {
        exercise(&server_endpoint);
    }
    SUBCASE("to the connected peer")
    {
        client.connect(server_endpoint);
        exercise(nullptr);
    }
}

TEST_CASE_FIXTURE(message_fixture,
                  "a per-operation cancellation aborts a pending async_receive_message, which "
                  "takes nothing")
{
    const asio::cancellation_type type = each_cancellation_type();
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    endpoint sender;
    completion<receive_result> cancelled;
    cancelled.start([&](auto handler) {
        server.async_receive_message(asio::buffer(storage), &sender, fds, 0,
                                     asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    REQUIRE(cancelled.calls == 0);
    signal.emit(type);
    run();
    REQUIRE(cancelled.calls == 1);
    CHECK(cancelled.ec == asio::error::operation_aborted);
    CHECK(cancelled.result.bytes == 0);
    CHECK(cancelled.result.fds.empty());
    CHECK_FALSE(fds[0]);

    // The next datagram, and its descriptor, go whole to the next receive.
    file_descriptor file = file_with_content("after the cancel");
    const std::array<int, 1> fds_to_send{file.get()};
    client.send_message(asio::buffer(std::string_view("next")), &server_endpoint,
                        {.fds = fds_to_send});
    completion<receive_result> receiving;
    receiving.start([&](auto handler) {
        server.async_receive_message(asio::buffer(storage), &sender, fds, 0, handler);
    });
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result.bytes) == "next");
    CHECK(sender.path() == client_name);
    REQUIRE(receiving.result.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "after the cancel");
    CHECK(cancelled.calls == 1);
}

TEST_CASE_FIXTURE(message_fixture,
                  "a per-operation cancellation aborts an async_send_message waiting for room, "
                  "which sends nothing")
{
    const endpoint* destination = each_way_to_the_server(*this);
    const std::size_t queued = fill_queue(client, server_endpoint);
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    // The queue stays full while the cancelled sends send nothing, so each
    // kind of cancellation gets its turn at a waiting send.
    for (const auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                            asio::cancellation_type::total}) {
        CAPTURE(static_cast<unsigned>(type));
        asio::cancellation_signal signal;
        completion<std::size_t> cancelled;
        cancelled.start([&](auto handler) {
            client.async_send_message(asio::buffer(std::string_view("cancelled")), destination,
                                      {.fds = fds_to_send}, 0,
                                      asio::bind_cancellation_slot(signal.slot(), handler));
        });
        io.restart();
        io.poll();
        REQUIRE(cancelled.calls == 0);
        signal.emit(type);
        run();
        REQUIRE(cancelled.calls == 1);
        CHECK(cancelled.ec == asio::error::operation_aborted);
        CHECK(cancelled.result == 0);
    }

    // Only the filler datagrams are queued; then the socket sends again.
    check_only_filler_queued(server, queued);
    completion<std::size_t> sending;
    sending.start([&](auto handler) {
        client.async_send_message(asio::buffer(std::string_view("again")), destination, {}, 0,
                                  handler);
    });
    run();
    REQUIRE(sending.calls == 1);
    CHECK_FALSE(sending.ec);
    CHECK(drain_all(server) == std::vector<std::string>{"again"});
}

// Past its probes, a socket's sends wait on one fallback timer, armed anew by
// the first send whose arming fired. A send that joined an arming after it
// had expired, before its handlers ran, had that re-arming abort its wait.
TEST_CASE_FIXTURE(io_fixture,
                  "a send that joins the fallback timer after it expired is not aborted when "
                  "another send arms it anew")
{
    using waits = unixdgram::detail::destination_wait<asio::any_io_executor>;
    std::vector<std::unique_ptr<socket_type>> receivers;
    std::vector<std::unique_ptr<socket_type>> fillers;
    std::vector<endpoint> destinations;
    for (std::size_t i = 0; i <= waits::max_probes; ++i) {
        destinations.push_back(unixdgram::make_endpoint(unique_abstract_name("full")));
        receivers.push_back(std::make_unique<socket_type>(io));
        receivers.back()->open();
        receivers.back()->bind(destinations.back());
        fillers.push_back(std::make_unique<socket_type>(io));
        fillers.back()->open();
        fill_queue(*fillers.back(), destinations.back());
    }
    socket_type sender(io);
    sender.open();
    // One send waiting on each probe, then one past them, on the timer.
    for (std::size_t i = 0; i < waits::max_probes; ++i)
        sender.async_send_to(asio::buffer(std::string_view("p")), destinations[i],
                             [](std::error_code, std::size_t) {});
    const endpoint& last = destinations.back();
    std::error_code first_ec = asio::error::in_progress;
    sender.async_send_to(asio::buffer(std::string_view("A")), last,
                         [&](std::error_code ec, std::size_t) { first_ec = ec; });
    // The late send starts after the timer (1 ms) has expired and before its
    // handlers run: the sleep first lets both timers expire, so that they
    // run in one pass of the reactor, the earlier one's first.
    asio::post(io, [] { std::this_thread::sleep_for(5ms); });
    std::error_code late_ec = asio::error::in_progress;
    bool late_done_before_close = false;
    asio::steady_timer before_expiry(io, std::chrono::microseconds(300));
    before_expiry.async_wait([&](std::error_code) {
        sender.async_send_to(asio::buffer(std::string_view("C")), last,
                             [&](std::error_code ec, std::size_t) {
                                 late_ec = ec;
                                 late_done_before_close = sender.is_open();
                             });
    });
    // Room at last, then the end.
    asio::steady_timer room(io, 50ms);
    room.async_wait([&](std::error_code) {
        std::array<char, 4> drain{};
        std::error_code ec;
        receivers.back()->non_blocking(true);
        while (!ec)
            receivers.back()->receive(asio::buffer(drain), 0, ec);
    });
    asio::steady_timer end(io, 500ms);
    end.async_wait([&](std::error_code) { sender.close(); });
    run();
    CHECK_FALSE(first_ec);
    CHECK_FALSE(late_ec);
    CHECK(late_done_before_close);
}
