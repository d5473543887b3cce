//
// test_allocations.cpp — in steady state an asynchronous round trip allocates
// nothing: completion handlers live in Asio's recycled per-thread memory.
//
// This executable links counting_allocator.cpp, which replaces the global
// operator new and delete with versions that count.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "counting_allocator.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace {

using socket_type = unixdgram::datagram_socket<>;
using unixdgram::file_descriptor;
using unixdgram_test::heap_allocations;

constexpr int warm_up_round_trips = 1000;
constexpr int measured_round_trips = 10000;

/// What a round trip moves besides its bytes.
enum class payload { bytes_only, one_fd };

/// Which half of a round trip is started first. Sending first lets the
/// receive find its datagram at once; receiving first makes it wait for
/// readiness (EAGAIN), then the send wakes it.
enum class order { send_first, receive_first };

/// Round trips from `sender` to `receiver`, each started by the completion of
/// the previous one, so that every operation is started from inside a handler
/// as a steady-state program would. Counts the allocations of the measured
/// round trips, which follow the warm-up ones.
class round_trips {
public:
    round_trips(socket_type& sender, socket_type& receiver, payload carried, order first)
        : sender_(sender), receiver_(receiver), payload_(carried), order_(first)
    {
        fd_to_send_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        REQUIRE(fd_to_send_ >= 0);
    }
    round_trips(const round_trips&) = delete;
    round_trips& operator=(const round_trips&) = delete;
    ~round_trips() { ::close(fd_to_send_); }

    void start() { start_round_trip(); }

    int completed = 0;
    int failures = 0;
    std::size_t allocations_at_start = 0;
    std::size_t allocations_at_end = 0;

private:
    void start_round_trip()
    {
        halves_pending_ = 2;
        if (order_ == order::send_first) {
            start_send();
            start_receive();
        } else {
            start_receive();
            start_send();
        }
    }

    void start_send()
    {
        auto on_sent = [this](std::error_code ec, std::size_t bytes) {
            if (ec || bytes != message.size())
                ++failures;
            finish_half();
        };
        if (payload_ == payload::bytes_only)
            sender_.async_send(asio::buffer(message), on_sent);
        else
            sender_.async_send_with_fds(asio::buffer(message),
                                        std::span<const int>(&fd_to_send_, 1), on_sent);
    }

    void start_receive()
    {
        if (payload_ == payload::bytes_only) {
            receiver_.async_receive(asio::buffer(incoming_),
                                    [this](std::error_code ec, std::size_t bytes) {
                                        if (ec || bytes != message.size())
                                            ++failures;
                                        finish_half();
                                    });
        } else {
            receiver_.async_receive_with_fds(
                asio::buffer(incoming_), received_fds_,
                [this](std::error_code ec, const unixdgram::receive_result& result) {
                    if (ec || result.bytes != message.size() || result.fds.size() != 1)
                        ++failures;
                    finish_half();
                });
        }
    }

    void finish_half()
    {
        if (--halves_pending_ > 0)
            return;
        ++completed;
        if (completed == warm_up_round_trips)
            allocations_at_start = heap_allocations();
        if (completed == warm_up_round_trips + measured_round_trips) {
            allocations_at_end = heap_allocations();
            return;
        }
        if (failures == 0)
            start_round_trip();
    }

    static constexpr std::string_view message = "round trip";

    socket_type& sender_;
    socket_type& receiver_;
    payload payload_;
    order order_;
    int fd_to_send_ = -1;
    int halves_pending_ = 0;
    std::array<char, 64> incoming_{};
    // Reused: each receive closes the descriptor the previous one left here.
    std::array<file_descriptor, 1> received_fds_;
};

void measure(payload carried, order first, const std::string& description)
{
    asio::io_context io;
    socket_type a(io);
    socket_type b(io);
    unixdgram::connect_pair(a, b);

    round_trips trips(a, b, carried, first);
    trips.start();
    io.run_for(std::chrono::seconds(60));

    REQUIRE(trips.failures == 0);
    REQUIRE(trips.completed == warm_up_round_trips + measured_round_trips);
    const std::size_t allocations = trips.allocations_at_end - trips.allocations_at_start;
    MESSAGE(description << ": " << allocations << " allocations in " << measured_round_trips
                        << " round trips, "
                        << static_cast<double>(allocations) / measured_round_trips
                        << " per round trip");
    CHECK(allocations == 0);
}

} // namespace

TEST_CASE("the counting operator new sees allocations")
{
    // Guards the other tests against counting nothing at all.
    // Volatile pointers keep the compiler from eliding the pairs.
    const std::size_t before = heap_allocations();
    int* volatile single = new int(1);
    delete single;
    char* volatile array = new char[3];
    delete[] array;
    void* volatile aligned = ::operator new(64, std::align_val_t(64));
    ::operator delete(aligned, std::align_val_t(64));
    int* volatile nothrow = new (std::nothrow) int(2);
    delete nothrow;
    CHECK(heap_allocations() - before == 4);
}

TEST_CASE("an async_send and async_receive round trip allocates nothing in steady state")
{
    measure(payload::bytes_only, order::send_first, "send, then receive");
}

TEST_CASE("a round trip whose receive must wait for the datagram allocates nothing in steady state")
{
    measure(payload::bytes_only, order::receive_first, "receive waiting, then send");
}

TEST_CASE("a round trip carrying one descriptor allocates nothing in steady state")
{
    measure(payload::one_fd, order::send_first, "send_with_fds, then receive_with_fds");
}

TEST_CASE("a round trip carrying one descriptor whose receive must wait allocates nothing in "
          "steady state")
{
    measure(payload::one_fd, order::receive_first, "receive_with_fds waiting, then send_with_fds");
}
