//
// test_system_calls.cpp — the number of system calls each send and receive
// makes (issue 10): one when it does not block, two when it waits.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

/// The named sends of `message` from `socket`, one subcase each: to
/// `*destination`, or to the connected peer when it is null, those that
/// take descriptors with `fds_to_send`. Calls `check(op)` with the send as
/// an operation (socket_operations.hpp).
template <typename Check>
void each_named_send(socket_type& socket, const endpoint* destination, asio::const_buffer message,
                     std::span<const int> fds_to_send, Check&& check)
{
    if (destination) {
        SUBCASE("send_to")
        {
            check(send_to_operation(socket, message, *destination));
        }
        SUBCASE("send_to_with_fds")
        {
            check(send_to_with_fds_operation(socket, message, *destination, fds_to_send));
        }
    } else {
        SUBCASE("send")
        {
            check(send_operation(socket, message));
        }
        SUBCASE("send_with_fds")
        {
            check(send_with_fds_operation(socket, message, fds_to_send));
        }
    }
    SUBCASE(destination ? "send_message to a destination endpoint"
                        : "send_message to the connected peer")
    {
        check(send_message_operation(socket, message, destination, {.fds = fds_to_send}));
    }
}

/// The named receives of `socket` into `room`, one subcase each, those that
/// take a sender's address with `sender` and those that take descriptors
/// with `fds`. Calls `check(name, op)` with the receive as an operation
/// (socket_operations.hpp).
template <typename Check>
void each_named_receive(socket_type& socket, asio::mutable_buffer room, endpoint& sender,
                        std::span<file_descriptor> fds, Check&& check)
{
    SUBCASE("receive")
    {
        check("receive", receive_operation(socket, room));
    }
    SUBCASE("receive_from")
    {
        check("receive_from", receive_from_operation(socket, room, sender));
    }
    SUBCASE("receive_with_fds")
    {
        check("receive_with_fds", receive_with_fds_operation(socket, room, fds));
    }
    SUBCASE("receive_from_with_fds")
    {
        check("receive_from_with_fds", receive_from_with_fds_operation(socket, room, sender, fds));
    }
    SUBCASE("receive_message")
    {
        check("receive_message", receive_message_operation(socket, room, &sender, fds));
    }
}

/// Checks that the operation `op` (completion_forms.hpp), synchronous and
/// asynchronous, makes exactly one system call on `socket`'s descriptor,
/// `prepare()` having queued what it needs first.
template <typename Prepare, typename Operation>
void check_one_call(message_fixture& fixture, socket_type& socket, Prepare&& prepare,
                    Operation&& op)
{
    {
        INFO("synchronous");
        prepare();
        call_counter counter(socket.native_handle());
        std::error_code ec = unlikely_error();
        op.sync(0, ec);
        CHECK_FALSE(ec);
        CHECK(counter.since().total() == 1);
    }
    auto check_async = [&] {
        prepare();
        call_counter counter(socket.native_handle());
        completion<nothing> done;
        done.start([&](auto handler) { op.async(handler); });
        CHECK(counter.since().total() == 1);
        fixture.run();
        CHECK(done.calls == 1);
        CHECK_FALSE(done.ec);
        CHECK(counter.since().total() == 1);
    };
    {
        INFO("asynchronous");
        check_async();
    }
    {
        INFO("asynchronous, on a socket that has joined the reactor");
        // A wait for writability, which is there at once, makes the socket
        // join the reactor as a wait that blocks would.
        int waits = 0;
        socket.async_wait(socket_type::wait_type::wait_write, [&](std::error_code) { ++waits; });
        fixture.run();
        REQUIRE(waits == 1);
        check_async();
    }
}

} // namespace

TEST_CASE_FIXTURE(message_fixture,
                  "a send or receive that does not block makes exactly one system call")
{
    const std::string_view text = "counted";
    const auto message = asio::buffer(text);
    file_descriptor file = file_with_content("counted");
    const std::array<int, 1> fds_to_send{file.get()};
    std::array<char, 64> storage{};
    std::array<file_descriptor, 2> fds;
    endpoint sender;
    auto nothing_to_prepare = [] {};
    auto queue_at_server = [&] { client.send_to_with_fds(message, server_endpoint, fds_to_send); };

    each_named_send(a, nullptr, message, fds_to_send,
                    [&](auto&& op) { check_one_call(*this, a, nothing_to_prepare, op); });
    each_named_send(client, &server_endpoint, message, fds_to_send,
                    [&](auto&& op) { check_one_call(*this, client, nothing_to_prepare, op); });
    SUBCASE("send_message with descriptors and credentials")
    {
        check_one_call(
            *this, client, nothing_to_prepare,
            send_message_operation(client, message, &server_endpoint,
                                   {.fds = fds_to_send, .sender_credentials = own_credentials()}));
    }
    SUBCASE("send_message with nothing but bytes")
    {
        check_one_call(*this, a, nothing_to_prepare,
                       send_message_operation(a, message, nullptr, {}));
    }
    each_named_receive(server, asio::buffer(storage), sender, fds,
                       [&](std::string_view name, auto&& op) {
                           if (name == "receive_message")
                               server.set_option(unixdgram::pass_credentials(true));
                           check_one_call(*this, server, queue_at_server, op);
                       });
    SUBCASE("try_send_message and try_receive_message")
    {
        call_counter sends(client.native_handle());
        std::error_code ec = unlikely_error();
        client.try_send_message(message, &server_endpoint, {.fds = fds_to_send}, 0, ec);
        CHECK_FALSE(ec);
        CHECK(sends.since().total() == 1);
        call_counter receives(server.native_handle());
        ec = unlikely_error();
        server.try_receive_message(asio::buffer(storage), &sender, fds, 0, ec);
        CHECK_FALSE(ec);
        CHECK(receives.since().total() == 1);
    }
}

namespace {

/// Whether an operation sends or receives: the calls it is counted by.
enum class direction { sends, receives };

unsigned calls_made(direction kind, const call_counts& counts)
{
    return kind == direction::sends ? counts.sends() : counts.receives();
}

unsigned calls_of_the_other_kind(direction kind, const call_counts& counts)
{
    return kind == direction::sends ? counts.receives() : counts.sends();
}

/// Checks that the operation `op` on `socket` (completion_forms.hpp), when it
/// would block, makes exactly two system calls of its kind there, and none
/// of the other: synchronous, blocking until another thread calls
/// `unblock()`, and asynchronous, waiting until this thread does. `block()` makes the
/// operation block, before each. Meanwhile no other descriptor sends but
/// the one that unblocks a receive: a send makes its two, and the
/// destination wait's probe socket only connects and is polled.
template <typename Block, typename Unblock, typename Operation>
void check_two_calls(message_fixture& fixture, socket_type& socket, direction kind, Block&& block,
                     Unblock&& unblock, Operation&& op)
{
    const unsigned sends_meanwhile = kind == direction::sends ? 2 : 1;
    {
        INFO("synchronous, blocking until another thread unblocks it");
        block();
        call_counter counter(socket.native_handle());
        act_when unblocker([&] { return calls_made(kind, counter.since()) >= 1; }, unblock);
        std::error_code ec = unlikely_error();
        op.sync(0, ec);
        unblocker.finish();
        CHECK_FALSE(unblocker.late());
        CHECK_FALSE(ec);
        CHECK(calls_made(kind, counter.since()) == 2);
        CHECK(calls_of_the_other_kind(kind, counter.since()) == 0);
        CHECK(counter.sends_on_any() == sends_meanwhile);
    }
    {
        INFO("asynchronous");
        block();
        call_counter counter(socket.native_handle());
        completion<nothing> done;
        done.start([&](auto handler) { op.async(handler); });
        fixture.io.restart();
        fixture.io.poll();
        CHECK(done.calls == 0);
        CHECK(calls_made(kind, counter.since()) == 1);
        unblock();
        fixture.run();
        CHECK(done.calls == 1);
        CHECK_FALSE(done.ec);
        CHECK(calls_made(kind, counter.since()) == 2);
        CHECK(calls_of_the_other_kind(kind, counter.since()) == 0);
        CHECK(counter.sends_on_any() == sends_meanwhile);
    }
}

/// check_two_calls for a receive on `fixture.b`, which finds its queue
/// empty until `fixture.a` sends.
template <typename Operation>
void check_two_receive_calls(message_fixture& fixture, Operation&& op)
{
    file_descriptor file = file_with_content("late");
    const std::array<int, 1> fds_to_send{file.get()};
    check_two_calls(
        fixture, fixture.b, direction::receives, [] {},
        [&] { fixture.a.send_with_fds(asio::buffer(std::string_view("late")), fds_to_send); }, op);
}

/// check_two_calls for a send from `fixture.client`, which finds the queue
/// of `fixture.server` full until one datagram is taken from it.
template <typename Operation>
void check_two_send_calls(message_fixture& fixture, Operation&& op)
{
    const int server_fd = fixture.server.native_handle();
    check_two_calls(
        fixture, fixture.client, direction::sends,
        [&] {
            static_cast<void>(drain_all(fixture.server));
            fill_queue(fixture.client, fixture.server_endpoint);
        },
        [server_fd] { drain_one(server_fd); }, op);
}

} // namespace

TEST_CASE_FIXTURE(message_fixture,
                  "a receive that waits for its datagram makes exactly two system calls")
{
    std::array<char, 64> storage{};
    std::array<file_descriptor, 2> fds;
    endpoint sender;
    each_named_receive(b, asio::buffer(storage), sender, fds,
                       [&](std::string_view, auto&& op) { check_two_receive_calls(*this, op); });
}

TEST_CASE_FIXTURE(message_fixture,
                  "a send that waits for room at its destination makes exactly two system calls")
{
    const auto message = asio::buffer(std::string_view("waited"));
    file_descriptor file = file_with_content("waited");
    const std::array<int, 1> fds_to_send{file.get()};
    auto check = [&](auto&& op) { check_two_send_calls(*this, op); };
    SUBCASE("to a destination endpoint")
    {
        each_named_send(client, &server_endpoint, message, fds_to_send, check);
    }
    SUBCASE("to the connected peer")
    {
        client.connect(server_endpoint);
        each_named_send(client, nullptr, message, fds_to_send, check);
    }
}
