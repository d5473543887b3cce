//
// test_no_spin.cpp — a send_to that waits for room in a full destination
// queue neither spins nor stalls.
//
// Linux reports an unconnected datagram socket writable even when the
// destination's queue is full, so a naive "wait until writable, retry" loop
// spins at 100% CPU. These tests measure the process's CPU time while a send
// waits, and how soon it completes once the receiver makes room.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using clock_type = std::chrono::steady_clock;

/// How long a blocked send is watched, and the CPU time it may use meanwhile
/// (5% of one core).
constexpr auto blocked_window = 500ms;
constexpr auto cpu_allowed_while_blocked = 25ms;

/// How soon a blocked send must complete once its destination has room.
constexpr auto prompt_completion = 100ms;

/// User plus system CPU time of the whole process so far.
std::chrono::microseconds process_cpu_time()
{
    rusage usage{};
    REQUIRE(::getrusage(RUSAGE_SELF, &usage) == 0);
    auto to_duration = [](const timeval& time) {
        return std::chrono::seconds(time.tv_sec) + std::chrono::microseconds(time.tv_usec);
    };
    return to_duration(usage.ru_utime) + to_duration(usage.ru_stime);
}

double milliseconds(std::chrono::duration<double> time)
{
    return time.count() * 1000.0;
}

std::string max_dgram_qlen()
{
    std::ifstream setting("/proc/sys/net/unix/max_dgram_qlen");
    std::string value;
    if (!(setting >> value))
        return "unknown";
    return value;
}

/// An unconnected receiver bound to an abstract name, and an unconnected
/// sender that addresses it with send_to.
struct destination_fixture : io_fixture {
    unixdgram::endpoint destination = unixdgram::make_endpoint(unique_abstract_name("receiver"));
    socket_type receiver{io};
    socket_type sender{io};
    std::array<char, 64> storage{};

    destination_fixture()
    {
        receiver.open();
        receiver.bind(destination);
        sender.open();
    }

    /// Sends one-byte datagrams until the receiver's queue is full; returns
    /// how many it took.
    int fill_queue()
    {
        sender.non_blocking(true);
        const char filler = 'f';
        std::error_code ec;
        int queued = 0;
        while (queued < 100000) {
            sender.send_to(asio::buffer(&filler, 1), destination, 0, ec);
            if (ec)
                break;
            ++queued;
        }
        REQUIRE(ec.value() == EAGAIN);
        sender.non_blocking(false);
        return queued;
    }

    /// Receives what is queued, without waiting; returns the last datagram.
    std::string drain()
    {
        receiver.non_blocking(true);
        std::string last;
        std::error_code ec;
        for (;;) {
            std::size_t bytes = receiver.receive(asio::buffer(storage), 0, ec);
            if (ec)
                break;
            last.assign(storage.data(), bytes);
        }
        CHECK(ec.value() == EAGAIN);
        receiver.non_blocking(false);
        return last;
    }
};

} // namespace

TEST_CASE_FIXTURE(
    destination_fixture,
    "an async send_to waiting for room in a full queue does not spin and completes promptly")
{
    const int queued = fill_queue();
    MESSAGE("net.unix.max_dgram_qlen = " << max_dgram_qlen() << "; the queue took " << queued
                                         << " datagrams");

    file_descriptor null_file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(null_file);
    const std::array<int, 1> fds_to_send{null_file.get()};
    const std::string_view message = "waited";
    bool with_fds = false;
    SUBCASE("async_send_to") {}
    SUBCASE("async_send_to_with_fds")
    {
        with_fds = true;
    }

    int calls = 0;
    std::error_code send_ec;
    std::optional<clock_type::time_point> completed_at;
    auto on_sent = [&](std::error_code ec, std::size_t) {
        ++calls;
        send_ec = ec;
        completed_at = clock_type::now();
    };
    if (with_fds)
        sender.async_send_to_with_fds(asio::buffer(message), destination, fds_to_send, on_sent);
    else
        sender.async_send_to(asio::buffer(message), destination, on_sent);

    const auto cpu_before = process_cpu_time();
    io.run_for(blocked_window);
    const auto cpu_used = process_cpu_time() - cpu_before;
    REQUIRE(calls == 0);
    MESSAGE("CPU time while the send waited "
            << milliseconds(blocked_window) << " ms: " << milliseconds(cpu_used) << " ms ("
            << 100.0 * milliseconds(cpu_used) / milliseconds(blocked_window) << "% of a core)");
    CHECK(cpu_used < cpu_allowed_while_blocked);

    CHECK(receiver.receive(asio::buffer(storage)) == 1);
    const auto room_made_at = clock_type::now();
    io.restart();
    while (calls == 0 && clock_type::now() - room_made_at < safety_timeout)
        io.run_one_for(safety_timeout);
    REQUIRE(calls == 1);
    CHECK_FALSE(send_ec);
    MESSAGE("the send completed " << milliseconds(*completed_at - room_made_at)
                                  << " ms after the receiver made room");
    CHECK(*completed_at - room_made_at < prompt_completion);

    // The waiting datagram went last, whole.
    CHECK(drain() == message);
}

TEST_CASE_FIXTURE(
    destination_fixture,
    "a blocking send_to waiting for room in a full queue does not spin and completes promptly")
{
    fill_queue();
    const std::string_view message = "blocked thread";

    std::promise<clock_type::time_point> completion;
    std::future<clock_type::time_point> completed_at = completion.get_future();
    std::error_code send_ec;
    std::thread blocked_sender([&] {
        sender.send_to(asio::buffer(message), destination, 0, send_ec);
        completion.set_value(clock_type::now());
    });

    const auto cpu_before = process_cpu_time();
    const bool finished_early = completed_at.wait_for(blocked_window) == std::future_status::ready;
    const auto cpu_used = process_cpu_time() - cpu_before;
    CHECK_FALSE(finished_early);
    MESSAGE("CPU time while the blocking send waited "
            << milliseconds(blocked_window) << " ms: " << milliseconds(cpu_used) << " ms ("
            << 100.0 * milliseconds(cpu_used) / milliseconds(blocked_window) << "% of a core)");
    CHECK(cpu_used < cpu_allowed_while_blocked);

    CHECK(receiver.receive(asio::buffer(storage)) == 1);
    const auto room_made_at = clock_type::now();
    bool finished = completed_at.wait_for(safety_timeout) == std::future_status::ready;
    if (!finished) {
        // Room for everything, so that the thread can be joined.
        drain();
        finished = completed_at.wait_for(safety_timeout) == std::future_status::ready;
        if (!finished) {
            std::cerr << "a blocking send_to never returned; the thread cannot be joined\n";
            std::abort();
        }
    }
    blocked_sender.join();
    REQUIRE(finished);
    const auto sent_at = completed_at.get();
    CHECK_FALSE(send_ec);
    MESSAGE("the blocking send returned " << milliseconds(sent_at - room_made_at)
                                          << " ms after the receiver made room");
    CHECK(sent_at - room_made_at < prompt_completion);
    CHECK(drain() == message);
}

TEST_CASE_FIXTURE(
    destination_fixture,
    "5,000 datagrams through a receiver that drains in another thread take under a second")
{
    constexpr int datagram_count = 5000;
    const std::string_view end_marker = "end";

    // The receiver runs on its own io_context in its own thread.
    asio::io_context receiver_io;
    socket_type draining_receiver(receiver_io);
    const unixdgram::endpoint draining_destination =
        unixdgram::make_endpoint(unique_abstract_name("drain"));
    draining_receiver.open();
    draining_receiver.bind(draining_destination);

    int received = 0;
    std::error_code receive_ec;
    std::thread receiving([&] {
        std::array<char, 64> incoming{};
        for (;;) {
            std::size_t bytes = draining_receiver.receive(asio::buffer(incoming), 0, receive_ec);
            if (receive_ec || std::string_view(incoming.data(), bytes) == end_marker)
                return;
            ++received;
        }
    });

    int sent = 0;
    std::error_code send_ec;
    const std::string_view message = "one of many";
    clock_type::time_point finished_at{};
    std::function<void()> send_next = [&] {
        sender.async_send_to(asio::buffer(message), draining_destination,
                             [&](std::error_code ec, std::size_t) {
                                 if (ec) {
                                     send_ec = ec;
                                     finished_at = clock_type::now();
                                     return;
                                 }
                                 if (++sent == datagram_count) {
                                     finished_at = clock_type::now();
                                     return;
                                 }
                                 send_next();
                             });
    };
    const auto started_at = clock_type::now();
    send_next();
    io.run_for(safety_timeout);

    // Whatever happened, the marker ends the receiving thread.
    socket_type marker_sender(io);
    std::error_code marker_ec;
    marker_sender.open(marker_ec);
    if (!marker_ec)
        marker_sender.send_to(asio::buffer(end_marker), draining_destination, 0, marker_ec);
    if (marker_ec) {
        std::cerr << "cannot send the end marker: " << marker_ec.message() << '\n';
        std::abort();
    }
    receiving.join();

    CHECK_FALSE(send_ec);
    CHECK_FALSE(receive_ec);
    REQUIRE(sent == datagram_count);
    CHECK(received == datagram_count);
    const auto elapsed = finished_at - started_at;
    MESSAGE(datagram_count
            << " datagrams sent with async_send_to to a receiver draining in another thread in "
            << milliseconds(elapsed) << " ms");
    CHECK(elapsed < 1s);
}

TEST_CASE_FIXTURE(
    destination_fixture,
    "5,000 datagrams through a receiver draining on the same io_context take under a second")
{
    constexpr int datagram_count = 5000;
    const std::string_view message = "one of many";

    int sent = 0;
    int received = 0;
    std::error_code send_ec;
    std::error_code receive_ec;
    clock_type::time_point sends_finished_at{};
    clock_type::time_point receives_finished_at{};

    std::function<void()> send_next = [&] {
        sender.async_send_to(asio::buffer(message), destination,
                             [&](std::error_code ec, std::size_t) {
                                 if (ec) {
                                     send_ec = ec;
                                     return;
                                 }
                                 if (++sent == datagram_count) {
                                     sends_finished_at = clock_type::now();
                                     return;
                                 }
                                 send_next();
                             });
    };
    std::function<void()> receive_next = [&] {
        receiver.async_receive(asio::buffer(storage), [&](std::error_code ec, std::size_t) {
            if (ec) {
                receive_ec = ec;
                return;
            }
            if (++received == datagram_count) {
                receives_finished_at = clock_type::now();
                return;
            }
            receive_next();
        });
    };
    const auto started_at = clock_type::now();
    send_next();
    receive_next();
    io.run_for(safety_timeout);

    CHECK_FALSE(send_ec);
    CHECK_FALSE(receive_ec);
    REQUIRE(sent == datagram_count);
    REQUIRE(received == datagram_count);
    MESSAGE(datagram_count << " datagrams sent with async_send_to and drained with async_receive "
                              "on one io_context: sends done in "
                           << milliseconds(sends_finished_at - started_at) << " ms, receives in "
                           << milliseconds(receives_finished_at - started_at) << " ms");
    CHECK(sends_finished_at - started_at < 1s);
    CHECK(receives_finished_at - started_at < 1s);
}
