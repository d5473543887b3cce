//
// test_socket_move.cpp — moving a datagram_socket hands its pending
// operations over with it (the operations hold the socket's impl, not the
// socket object).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram/datagram_socket.hpp>

#include <doctest/doctest.h>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

using namespace unixdgram_test;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using pair_fixture = socket_pair_fixture<socket_type>;

std::string text_of(const std::array<char, 64>& storage, std::size_t bytes)
{
    return std::string(storage.data(), bytes);
}

} // namespace

TEST_CASE_FIXTURE(pair_fixture,
                  "a receive pending when its socket is move-constructed completes on the new one")
{
    std::array<char, 64> storage{};
    completion<std::size_t> received;
    received.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    io.poll(); // the receive is now waiting for readiness
    REQUIRE(received.calls == 0);

    socket_type moved(std::move(b));
    CHECK_FALSE(b.is_open());
    CHECK(moved.is_open());
    a.send(asio::buffer(std::string_view("after the move")));
    run();
    CHECK(received.calls == 1);
    CHECK_FALSE(received.ec);
    CHECK(text_of(storage, received.result) == "after the move");

    SUBCASE("and the socket moved from is closed, usable and can be opened again")
    {
        std::error_code ec;
        b.receive(asio::buffer(storage), 0, ec);
        CHECK(ec == asio::error::bad_descriptor);
        completion<std::size_t> on_closed;
        on_closed.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
        run();
        CHECK(on_closed.calls == 1);
        CHECK(on_closed.ec == asio::error::bad_descriptor);
        b.open();
        CHECK(b.is_open());
        b.close();
    }
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a receive pending when its socket is move-assigned completes on the target, and "
                  "the target's own pending receive ends with operation_aborted")
{
    socket_type target(io);
    socket_type target_peer(io);
    connect_pair(target, target_peer);
    std::array<char, 64> storage{};
    std::array<char, 64> target_storage{};
    completion<std::size_t> moved_receive;
    completion<std::size_t> overwritten_receive;
    moved_receive.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    overwritten_receive.start(
        [&](auto handler) { target.async_receive(asio::buffer(target_storage), handler); });
    io.poll();
    REQUIRE(moved_receive.calls == 0);
    REQUIRE(overwritten_receive.calls == 0);

    target = std::move(b);
    a.send(asio::buffer(std::string_view("to the target")));
    run();
    CHECK(overwritten_receive.calls == 1);
    CHECK(overwritten_receive.ec == asio::error::operation_aborted);
    CHECK(moved_receive.calls == 1);
    CHECK_FALSE(moved_receive.ec);
    CHECK(text_of(storage, moved_receive.result) == "to the target");
}

TEST_CASE_FIXTURE(io_fixture,
                  "a send waiting for room when its socket moves completes once the destination "
                  "drains")
{
    socket_type receiver(io);
    socket_type sender(io);
    const unixdgram::endpoint destination =
        unixdgram::make_endpoint(unique_abstract_name("move-destination"));
    receiver.open();
    receiver.bind(destination);
    sender.open();
    fill_queue(sender, destination);

    completion<std::size_t> sent;
    sent.start([&](auto handler) {
        sender.async_send_to(asio::buffer(std::string_view("waited")), destination, handler);
    });
    io.poll();
    REQUIRE(sent.calls == 0);

    auto moved = std::make_unique<socket_type>(std::move(sender));
    std::array<char, 64> storage{};
    std::string last;
    receiver.non_blocking(true);
    std::error_code ec;
    for (int round = 0; round < 1000 && sent.calls == 0; ++round) {
        for (;;) {
            std::size_t bytes = receiver.receive(asio::buffer(storage), 0, ec);
            if (ec)
                break;
            last.assign(storage.data(), bytes);
        }
        io.run_one_for(std::chrono::milliseconds(10));
    }
    CHECK(sent.calls == 1);
    CHECK_FALSE(sent.ec);
    CHECK(sent.result == 6);
    std::size_t bytes = 0;
    for (int round = 0; round < 100 && last != "waited"; ++round) {
        bytes = receiver.receive(asio::buffer(storage), 0, ec);
        if (!ec)
            last.assign(storage.data(), bytes);
        else
            io.run_one_for(std::chrono::milliseconds(10));
    }
    CHECK(last == "waited");
}

TEST_CASE_FIXTURE(pair_fixture, "destroying the socket a pending receive moved to ends it with "
                                "operation_aborted")
{
    std::array<char, 64> storage{};
    completion<std::size_t> received;
    received.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    io.poll();
    {
        socket_type moved(std::move(b));
    }
    run();
    CHECK(received.calls == 1);
    CHECK(received.ec == asio::error::operation_aborted);
}
