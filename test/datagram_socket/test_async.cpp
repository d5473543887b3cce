//
// test_async.cpp — asynchronous behaviour: async_wait, completion
// outside the initiation, ordering, and per-operation cancellation.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"
#include "socket_operations.hpp"

using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// async_wait
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "async_wait reports writability at once and readability when a datagram arrives")
{
    completion<nothing> writable;
    completion<nothing> readable;
    writable.start(
        [&](auto handler) { b.async_wait(socket_type::wait_type::wait_write, handler); });
    readable.start([&](auto handler) { b.async_wait(socket_type::wait_type::wait_read, handler); });
    io.restart();
    io.run_one_for(safety_timeout);
    io.poll();
    CHECK(writable.calls == 1);
    CHECK_FALSE(writable.ec);
    CHECK(readable.calls == 0);

    a.send(asio::buffer(std::string_view("wake")));
    run();
    CHECK(readable.calls == 1);
    CHECK_FALSE(readable.ec);
    CHECK(b.bytes_readable() == 4);
}

// ---------------------------------------------------------------------------
// Asynchronous behaviour: completion outside the initiation, cancellation
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "an operation started from a handler completes after that handler returns")
{
    const std::string_view message = "chained";
    a.send(asio::buffer(message));
    a.send(asio::buffer(message));
    std::array<char, 16> storage{};
    completion<std::size_t> first;
    completion<std::size_t> second;
    bool first_handler_returned = false;
    bool second_ran_before_first_returned = false;
    first.start([&](auto record) {
        b.async_receive(asio::buffer(storage), [&, record](std::error_code ec, std::size_t n) {
            record(ec, n);
            second.start([&](auto record_second) {
                b.async_receive(asio::buffer(storage),
                                [&, record_second](std::error_code ec, std::size_t n) {
                                    second_ran_before_first_returned = !first_handler_returned;
                                    record_second(ec, n);
                                });
            });
            first_handler_returned = true;
        });
    });
    run();
    CHECK(first.calls == 1);
    REQUIRE(second.calls == 1);
    CHECK_FALSE(second_ran_before_first_returned);
    CHECK(second.result == message.size());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "the handler of an operation that waited has the completions of "
                  "operations it started run after it, before handlers posted meanwhile")
{
    std::array<char, 16> storage{};
    std::vector<std::string> order;
    b.async_receive(asio::buffer(storage), [&](std::error_code ec, std::size_t) {
        CHECK_FALSE(ec);
        asio::post(io, [&] { order.push_back("posted"); });
        b.async_send(asio::buffer(std::string_view("reply")), [&](std::error_code ec, std::size_t) {
            CHECK_FALSE(ec);
            order.push_back("reply sent");
        });
        order.push_back("request handled");
    });
    io.poll();
    REQUIRE(order.empty()); // the receive waits
    a.send(asio::buffer(std::string_view("request")));
    run();
    // A completion posted to the io_context instead would come after
    // "posted", and after a poll of the reactor.
    CHECK(order == std::vector<std::string>{"request handled", "reply sent", "posted"});
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "a handler can wait for an operation it started once it posts the queued completions")
{
    const std::string_view message = "nested";
    a.send(asio::buffer(message));
    a.send(asio::buffer(message));
    std::array<char, 16> storage{};
    completion<std::size_t> outer;
    completion<std::size_t> inner;
    std::size_t ran_by_poll = 0;
    outer.start([&](auto record) {
        b.async_receive(asio::buffer(storage), [&, record](std::error_code ec, std::size_t n) {
            record(ec, n);
            inner.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
            // Queued to run after this handler: the io_context cannot see it yet.
            CHECK(io.poll_one() == 0);
            unixdgram::post_queued_completions();
            ran_by_poll = io.poll_one();
        });
    });
    run();
    CHECK(outer.calls == 1);
    CHECK(ran_by_poll == 1);
    CHECK(inner.calls == 1);
    CHECK(inner.result == message.size());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a handler running the io_context sees the completions of the handlers "
                  "that loop runs")
{
    socket_type c(io);
    socket_type d(io);
    unixdgram::connect_pair(c, d);
    std::array<char, 16> storage{};
    std::array<char, 16> request{};
    bool reply_sent = false;
    bool posted_send_done = false;
    int loops = 0;
    // Each completion below is one the inner loop waits for: the send of a
    // handler that waited (d's receive), then the send of a posted handler.
    b.async_receive(asio::buffer(storage), [&](std::error_code ec, std::size_t) {
        CHECK_FALSE(ec);
        d.async_receive(asio::buffer(request), [&](std::error_code ec, std::size_t) {
            CHECK_FALSE(ec);
            d.async_send(asio::buffer(std::string_view("reply")),
                         [&](std::error_code, std::size_t) { reply_sent = true; });
        });
        asio::post(io, [&] { c.send(asio::buffer(std::string_view("request"))); });
        unixdgram::post_queued_completions();
        for (; !reply_sent && loops < 200; ++loops)
            io.run_one_for(std::chrono::milliseconds(10));
        asio::post(io, [&] {
            c.async_send(asio::buffer(std::string_view("posted")),
                         [&](std::error_code, std::size_t) { posted_send_done = true; });
        });
        for (int more = 0; !posted_send_done && more < 200; ++more)
            io.run_one_for(std::chrono::milliseconds(10));
    });
    io.poll();
    a.send(asio::buffer(std::string_view("go")));
    run();
    CHECK(reply_sent);
    CHECK(loops < 200);
    CHECK(posted_send_done);
}

TEST_CASE_FIXTURE(named_fixture,
                  "operations that can complete at once still complete outside the initiating call")
{
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    const std::string_view message = "ready";
    std::array<char, 16> storage{};
    // Every operation is pending at once: each gets descriptors of its own.
    std::array<file_descriptor, 1> fds;
    std::array<file_descriptor, 1> fds_from;
    unixdgram::endpoint sender;
    for (int queued = 0; queued < 4; ++queued)
        client.send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send);

    socket_type unbound_first(io);
    socket_type unbound_second(io);
    unixdgram::connect_pair(unbound_first, unbound_second);

    completion<std::size_t> sending;
    completion<std::size_t> sending_to;
    completion<std::size_t> sending_fds;
    completion<std::size_t> sending_fds_to;
    completion<std::size_t> receiving;
    completion<std::size_t> receiving_from;
    completion<unixdgram::receive_result> receiving_fds;
    completion<unixdgram::receive_result> receiving_fds_from;
    completion<nothing> waiting;
    completion<std::size_t> failing;

    sending.start([&](auto handler) { unbound_first.async_send(asio::buffer(message), handler); });
    sending_to.start([&](auto handler) {
        client.async_send_to(asio::buffer(message), server_endpoint, handler);
    });
    sending_fds.start([&](auto handler) {
        unbound_first.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
    });
    sending_fds_to.start([&](auto handler) {
        client.async_send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send, handler);
    });
    receiving.start([&](auto handler) { server.async_receive(asio::buffer(storage), handler); });
    receiving_from.start(
        [&](auto handler) { server.async_receive_from(asio::buffer(storage), sender, handler); });
    receiving_fds.start(
        [&](auto handler) { server.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    receiving_fds_from.start([&](auto handler) {
        server.async_receive_from_with_fds(asio::buffer(storage), sender, fds_from, handler);
    });
    waiting.start(
        [&](auto handler) { server.async_wait(socket_type::wait_type::wait_write, handler); });
    const std::vector<int> too_many(unixdgram::max_fds_per_datagram + 1, null_file.get());
    failing.start([&](auto handler) {
        unbound_first.async_send_with_fds(asio::buffer(message), too_many, handler);
    });

    CHECK(sending.calls + sending_to.calls + sending_fds.calls + sending_fds_to.calls +
              receiving.calls + receiving_from.calls + receiving_fds.calls +
              receiving_fds_from.calls + waiting.calls + failing.calls ==
          0);
    run();
    for (const auto* done : {&sending, &sending_to, &sending_fds, &sending_fds_to, &receiving,
                             &receiving_from, &failing}) {
        CHECK(done->calls == 1);
        CHECK_FALSE(done->ran_inside_initiation);
    }
    for (const auto* done : {&receiving_fds, &receiving_fds_from}) {
        CHECK(done->calls == 1);
        CHECK_FALSE(done->ec);
    }
    CHECK(waiting.calls == 1);
    CHECK(failing.ec == unixdgram::error::too_many_fds);
}

TEST_CASE_FIXTURE(pair_fixture, "pending async_receives complete in the order they were started")
{
    std::array<char, 16> first_storage{};
    std::array<char, 16> second_storage{};
    std::vector<int> completion_order;
    b.async_receive(asio::buffer(first_storage), [&](std::error_code ec, std::size_t bytes) {
        completion_order.push_back(1);
        CHECK_FALSE(ec);
        CHECK(text_of(first_storage, bytes) == "first");
    });
    b.async_receive(asio::buffer(second_storage), [&](std::error_code ec, std::size_t bytes) {
        completion_order.push_back(2);
        CHECK_FALSE(ec);
        CHECK(text_of(second_storage, bytes) == "second");
    });
    io.poll();
    a.send(asio::buffer(std::string_view("first")));
    a.send(asio::buffer(std::string_view("second")));
    run();
    CHECK(completion_order == std::vector<int>{1, 2});
}

TEST_CASE_FIXTURE(pair_fixture, "a per-operation cancellation aborts a pending async_receive")
{
    const asio::cancellation_type type = each_cancellation_type();
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) {
        b.async_receive(asio::buffer(storage),
                        asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    REQUIRE(receiving.calls == 0);

    signal.emit(type);
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);

    // Only that operation was cancelled: the socket still receives.
    a.send(asio::buffer(std::string_view("still here")));
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "still here");
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a per-operation cancellation aborts each kind of pending receive and wait")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    unixdgram::endpoint sender;
    completion<std::size_t> receiving;
    completion<unixdgram::receive_result> receiving_fds;
    completion<nothing> waiting;

    SUBCASE("async_receive_from")
    {
        receiving.start([&](auto handler) {
            b.async_receive_from(asio::buffer(storage), sender,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_receive_with_fds")
    {
        receiving_fds.start([&](auto handler) {
            b.async_receive_with_fds(asio::buffer(storage), fds,
                                     asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_receive_from_with_fds")
    {
        receiving_fds.start([&](auto handler) {
            b.async_receive_from_with_fds(asio::buffer(storage), sender, fds,
                                          asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_wait")
    {
        waiting.start([&](auto handler) {
            b.async_wait(socket_type::wait_type::wait_read,
                         asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    io.poll();
    REQUIRE(receiving.calls + receiving_fds.calls + waiting.calls == 0);
    signal.emit(asio::cancellation_type::terminal);
    run();
    CHECK(receiving.calls + receiving_fds.calls + waiting.calls == 1);
    CHECK((receiving.ec == asio::error::operation_aborted ||
           receiving_fds.ec == asio::error::operation_aborted ||
           waiting.ec == asio::error::operation_aborted));
    CHECK(receiving_fds.result.fds.empty());
    CHECK_FALSE(fds[0]);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a cancelled async_receive_with_fds takes nothing and leaks no descriptors")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    completion<unixdgram::receive_result> cancelled;
    cancelled.start([&](auto handler) {
        b.async_receive_with_fds(asio::buffer(storage), fds,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    signal.emit(asio::cancellation_type::terminal);
    run();
    REQUIRE(cancelled.calls == 1);
    CHECK(cancelled.ec == asio::error::operation_aborted);

    // The next datagram and its descriptor go to the next receive.
    file_descriptor file = file_with_content("after cancel");
    const std::array<int, 1> fds_to_send{file.get()};
    a.send_with_fds(asio::buffer(std::string_view("next")), fds_to_send);
    const outcome<unixdgram::receive_result> received =
        callback_form::run(*this, receive_with_fds_operation(b, asio::buffer(storage), fds));
    CHECK_FALSE(received.ec);
    CHECK(text_of(storage, received.value.bytes) == "next");
    REQUIRE(received.value.fds.size() == 1);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(cancelled.calls == 1);
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "cancelling an async_receive_with_fds whose datagram already arrived leaks no descriptors")
{
    // The datagram is there before the receive starts, so the receive may take
    // it at once; the cancellation then comes too late to abort it, or aborts
    // it and must close what it took. Either way nothing leaks (the fixture
    // counts) and the handler runs once.
    pipe_ends pipe = make_pipe();
    const std::array<int, 2> fds_to_send{pipe.read_end.get(), pipe.write_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("raced")), fds_to_send);

    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    completion<unixdgram::receive_result> receiving;
    receiving.start([&](auto handler) {
        b.async_receive_with_fds(asio::buffer(storage), fds,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
    });
    signal.emit(asio::cancellation_type::terminal);
    run();
    REQUIRE(receiving.calls == 1);
    if (receiving.ec) {
        CHECK(receiving.ec == asio::error::operation_aborted);
        CHECK_FALSE(fds[0]);
        CHECK_FALSE(fds[1]);
    } else {
        CHECK(receiving.result.fds.size() == 2);
    }
}

TEST_CASE_FIXTURE(pair_fixture, "a cancellation signal emitted after completion has no effect")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) {
        b.async_receive(asio::buffer(storage),
                        asio::bind_cancellation_slot(signal.slot(), handler));
    });
    a.send(asio::buffer(std::string_view("done")));
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);

    signal.emit(asio::cancellation_type::terminal);
    run();
    CHECK(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result) == "done");
}

TEST_CASE_FIXTURE(named_fixture,
                  "a per-operation cancellation aborts an async_send_to waiting for room")
{
    socket_type sender(io);
    sender.open();
    fill_queue(sender, server_endpoint);

    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    asio::cancellation_signal signal;
    completion<std::size_t> sending;
    SUBCASE("async_send_to")
    {
        sending.start([&](auto handler) {
            sender.async_send_to(asio::buffer(std::string_view("blocked")), server_endpoint,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_send_to_with_fds")
    {
        sending.start([&](auto handler) {
            sender.async_send_to_with_fds(asio::buffer(std::string_view("blocked")),
                                          server_endpoint, fds_to_send,
                                          asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    io.poll();
    REQUIRE(sending.calls == 0);
    signal.emit(asio::cancellation_type::terminal);
    io.restart();
    io.run_for(safety_timeout);
    CHECK(sending.calls == 1);
    CHECK(sending.ec == asio::error::operation_aborted);
    CHECK_MESSAGE(io.stopped(), "the cancelled send left work pending in the io_context");

    // The cancelled datagram never arrives: the queue holds only the filler.
    server.non_blocking(true);
    std::array<char, 16> storage{};
    std::error_code ec;
    while (!ec) {
        std::size_t bytes = server.receive(asio::buffer(storage), 0, ec);
        if (!ec)
            CHECK(text_of(storage, bytes) == "f");
    }
    CHECK(ec == errno_is{EAGAIN});
}
