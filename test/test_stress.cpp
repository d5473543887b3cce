//
// test_stress.cpp — the library under load: a million datagrams each carrying
// a descriptor, a thousand pending receives closed at random moments, many
// senders queued on one slow receiver, and a receiver out of descriptor
// numbers.
//
// Each scenario runs twice. After each it checks that the process has the
// descriptors it started with, and after the second that memory has not grown
// since the first: what one round leaks, the next one shows.
//
// UNIXDGRAM_STRESS_DATAGRAMS sets how many datagrams the first scenario moves
// (default one million, which takes seconds even under AddressSanitizer).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using clock_type = std::chrono::steady_clock;

/// How long one scenario may run: a million datagrams take seconds, many
/// more under the sanitizers.
constexpr auto scenario_timeout = 120s;

double seconds_since(clock_type::time_point start)
{
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::uint64_t datagram_count()
{
    constexpr std::uint64_t full_count = 1'000'000;
    const char* setting = std::getenv("UNIXDGRAM_STRESS_DATAGRAMS");
    if (setting == nullptr || *setting == '\0')
        return full_count;
    std::uint64_t count = std::strtoull(setting, nullptr, 10);
    return count >= 2 ? count : full_count;
}

// Runs `round` twice, checking after each that no descriptor is left open,
// and after the second that memory in use has not grown.
template <typename Round>
void twice_without_growth(const char* scenario, Round&& round)
{
    const std::size_t fds_at_start = count_open_fds();
    memory_use after_round[2];
    for (int index = 0; index < 2; ++index) {
        round(index);
        CHECK_MESSAGE(count_open_fds() == fds_at_start,
                      "descriptors leaked in round " << index + 1);
        after_round[index] = memory_use::now();
    }
    const auto grown = [](std::size_t before, std::size_t after) {
        return static_cast<long long>(after) - static_cast<long long>(before);
    };
    const long long resident_growth =
        grown(after_round[0].resident_bytes, after_round[1].resident_bytes);
    const long long heap_growth = grown(after_round[0].heap_bytes, after_round[1].heap_bytes);
    MESSAGE(std::string(scenario) << ": descriptors open " << count_open_fds() << " (at start "
                                  << fds_at_start << "); second round grew resident memory by "
                                  << resident_growth << " bytes, malloc'd memory by " << heap_growth
                                  << " bytes");
    if (under_address_sanitizer) {
        // ASan keeps freed blocks in quarantine, so resident memory grows
        // with any allocation; LeakSanitizer checks for leaks instead.
        return;
    }
    CHECK(heap_growth <= 64 * 1024);
    CHECK(resident_growth <= 4 * 1024 * 1024);
}

// Restores the descriptor limit it found.
class descriptor_limit {
public:
    descriptor_limit() { REQUIRE(::getrlimit(RLIMIT_NOFILE, &original_) == 0); }
    descriptor_limit(const descriptor_limit&) = delete;
    descriptor_limit& operator=(const descriptor_limit&) = delete;
    ~descriptor_limit() { restore(); }

    void lower_to(rlim_t soft_limit)
    {
        rlimit lowered = original_;
        lowered.rlim_cur = soft_limit;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    }

    void restore() { ::setrlimit(RLIMIT_NOFILE, &original_); }

private:
    rlimit original_{};
};

int highest_open_fd()
{
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        highest = std::max(highest, std::stoi(entry.path().filename().string()));
    return highest;
}

} // namespace

// ---------------------------------------------------------------------------
// Volume
// ---------------------------------------------------------------------------

namespace {

// Receives `expected` datagrams, each an 8-byte sequence number and one
// descriptor, one async_receive_with_fds after another.
struct sequence_receiver {
    sequence_receiver(socket_type& socket, int sent_fd, std::uint64_t expected)
        : socket(socket), sent_file(file_identity::of(sent_fd)), expected(expected)
    {
    }

    socket_type& socket;
    file_identity sent_file;
    std::uint64_t expected;
    std::uint64_t received = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t wrong_descriptors = 0;
    std::error_code error;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> room;

    void start()
    {
        socket.async_receive_with_fds(asio::buffer(storage), room,
                                      [this](std::error_code ec, unixdgram::receive_result result) {
                                          on_receive(ec, result);
                                      });
    }

    void on_receive(std::error_code ec, const unixdgram::receive_result& result)
    {
        if (ec) {
            error = ec;
            return;
        }
        std::uint64_t sequence = 0;
        std::memcpy(&sequence, storage.data(), sizeof(sequence));
        if (result.bytes != sizeof(sequence) || sequence != received)
            ++out_of_order;
        if (result.fds.size() != 1 || result.control_truncated || !sent_file.matches(room[0].get()))
            ++wrong_descriptors;
        if (++received < expected)
            start();
    }
};

} // namespace

TEST_CASE("a million datagrams each carrying a descriptor: blocking sends, asynchronous receives")
{
    const std::uint64_t total = datagram_count();
    MESSAGE("moving " << total << " datagrams with one descriptor each"
                      << std::string(total < 1'000'000 ? " (reduced by UNIXDGRAM_STRESS_DATAGRAMS)"
                                                       : ""));
    std::uint64_t moved = 0;
    double elapsed = 0;
    twice_without_growth("a million datagrams", [&](int round) {
        const std::uint64_t count = round == 0 ? total / 2 : total - total / 2;
        asio::io_context io;
        socket_type sender(io);
        socket_type receiver(io);
        unixdgram::connect_pair(sender, receiver);
        pipe_ends pipe = make_pipe();

        sequence_receiver loop(receiver, pipe.write_end.get(), count);
        loop.start();

        std::error_code send_error;
        std::uint64_t sent = 0;
        const auto started = clock_type::now();
        std::thread sending([&] {
            const int fd = pipe.write_end.get();
            for (std::uint64_t sequence = 0; sequence < count; ++sequence) {
                sender.send_with_fds(asio::buffer(&sequence, sizeof(sequence)), std::span(&fd, 1),
                                     0, send_error);
                if (send_error)
                    return;
                ++sent;
            }
        });
        io.run_for(scenario_timeout);
        sending.join();
        elapsed += seconds_since(started);

        CHECK_FALSE(send_error);
        CHECK_FALSE(loop.error);
        CHECK(sent == count);
        CHECK(loop.received == count);
        CHECK(loop.out_of_order == 0);
        CHECK(loop.wrong_descriptors == 0);
        moved += loop.received;

        loop.room = {};
        pipe.write_end.reset();
        CHECK(all_writers_gone(pipe.read_end.get()));
    });
    MESSAGE(moved << " datagrams and " << moved << " descriptors moved in " << elapsed << " s ("
                  << static_cast<std::uint64_t>(static_cast<double>(moved) / elapsed)
                  << " per second)");
    CHECK(moved == total);
}

// ---------------------------------------------------------------------------
// Closing under pending receives
// ---------------------------------------------------------------------------

namespace {

// A thousand sockets, each with one pending receive of one of the four kinds,
// ended at a random moment — by a timer, at the end of a chain of posts, or
// from the completion handler of another socket's receive — in one of four
// ways: close(), release(), cancel() then close(), or a per-operation
// cancellation signal then close().
class closing_storm {
public:
    static constexpr std::size_t socket_count = 1000;

    closing_storm(asio::io_context& io, std::uint32_t seed) : io_(io), random_(seed)
    {
        for (std::size_t index = 0; index < socket_count; ++index) {
            auto entry = std::make_unique<pending>(io);
            entry->socket.open();
            entries_.push_back(std::move(entry));
        }
    }

    void start()
    {
        for (std::size_t index = 0; index < socket_count; ++index)
            start_receive(index);

        std::vector<std::size_t> order(socket_count);
        for (std::size_t index = 0; index < socket_count; ++index)
            order[index] = index;
        std::shuffle(order.begin(), order.end(), random_);
        for (std::size_t position = 0; position < order.size(); ++position) {
            const std::size_t target = order[position];
            switch (position < 10 ? random_() % 2 : random_() % 3) {
            case 0: {
                auto& timer = timers_.emplace_back(std::make_unique<asio::steady_timer>(
                    io_, std::chrono::microseconds(random_() % 20000)));
                timer->async_wait([this, target](std::error_code) { close_one(target); });
                ++by_timer;
                break;
            }
            case 1:
                post_then_close(target, 1 + random_() % 8);
                ++by_post_chain;
                break;
            default:
                // Closed when an earlier one's handler runs.
                entries_[order[random_() % position]]->closes_when_done.push_back(target);
                ++by_handler;
                break;
            }
        }
    }

    // Every handler ran once, with operation_aborted.
    void check() const
    {
        std::size_t handled_once = 0;
        std::size_t aborted = 0;
        for (const auto& entry : entries_) {
            handled_once += entry->calls == 1;
            aborted += entry->ec == asio::error::operation_aborted;
        }
        MESSAGE(socket_count << " pending receives closed: " << by_timer << " by timer, "
                             << by_post_chain << " after a chain of posts, " << by_handler
                             << " from another receive's handler; " << closed_by_close
                             << " by close(), " << closed_by_release << " by release(), "
                             << closed_by_cancel << " by cancel() then close(), "
                             << closed_by_signal << " by a cancellation signal then close(); "
                             << handled_once << " handlers ran exactly once, " << aborted
                             << " with operation_aborted");
        CHECK(handled_once == socket_count);
        CHECK(aborted == socket_count);
    }

    std::size_t by_timer = 0;
    std::size_t by_post_chain = 0;
    std::size_t by_handler = 0;
    std::size_t closed_by_close = 0;
    std::size_t closed_by_release = 0;
    std::size_t closed_by_cancel = 0;
    std::size_t closed_by_signal = 0;

private:
    struct pending {
        explicit pending(asio::io_context& io) : socket(io) {}

        socket_type socket;
        std::array<char, 8> storage{};
        std::array<file_descriptor, 1> room;
        unixdgram::endpoint sender;
        asio::cancellation_signal cancel_signal;
        int calls = 0;
        std::error_code ec;
        std::vector<std::size_t> closes_when_done;
    };

    void start_receive(std::size_t index)
    {
        pending& entry = *entries_[index];
        auto on_bytes = asio::bind_cancellation_slot(
            entry.cancel_signal.slot(),
            [this, index](std::error_code ec, std::size_t) { completed(index, ec); });
        auto on_result = asio::bind_cancellation_slot(
            entry.cancel_signal.slot(),
            [this, index](std::error_code ec, unixdgram::receive_result) { completed(index, ec); });
        switch (index % 4) {
        case 0:
            entry.socket.async_receive(asio::buffer(entry.storage), on_bytes);
            break;
        case 1:
            entry.socket.async_receive_from(asio::buffer(entry.storage), entry.sender, on_bytes);
            break;
        case 2:
            entry.socket.async_receive_with_fds(asio::buffer(entry.storage), entry.room, on_result);
            break;
        default:
            entry.socket.async_receive_from_with_fds(asio::buffer(entry.storage), entry.sender,
                                                     entry.room, on_result);
            break;
        }
    }

    void completed(std::size_t index, std::error_code ec)
    {
        pending& entry = *entries_[index];
        ++entry.calls;
        entry.ec = ec;
        for (std::size_t target : entry.closes_when_done)
            close_one(target);
    }

    void post_then_close(std::size_t target, std::size_t hops)
    {
        asio::post(io_, [this, target, hops] {
            if (hops > 1)
                post_then_close(target, hops - 1);
            else
                close_one(target);
        });
    }

    void close_one(std::size_t target)
    {
        socket_type& socket = entries_[target]->socket;
        switch (random_() % 4) {
        case 0:
            socket.close();
            ++closed_by_close;
            break;
        case 1:
            ::close(socket.release());
            ++closed_by_release;
            break;
        case 2:
            socket.cancel();
            socket.close();
            ++closed_by_cancel;
            break;
        default:
            entries_[target]->cancel_signal.emit(asio::cancellation_type::terminal);
            socket.close();
            ++closed_by_signal;
            break;
        }
    }

    asio::io_context& io_;
    std::minstd_rand random_;
    std::vector<std::unique_ptr<pending>> entries_;
    std::vector<std::unique_ptr<asio::steady_timer>> timers_;
};

} // namespace

TEST_CASE("a thousand sockets with pending receives closed at random moments: every handler runs "
          "once, aborted")
{
    const std::uint32_t seed = std::random_device()();
    MESSAGE("random seed " << seed);
    twice_without_growth("a thousand closed receives", [&](int round) {
        asio::io_context io;
        closing_storm storm(io, seed + static_cast<std::uint32_t>(round));
        storm.start();
        io.run_for(scenario_timeout);
        storm.check();
    });
}

// ---------------------------------------------------------------------------
// Many senders, one slow receiver
// ---------------------------------------------------------------------------

namespace {

// `sender_count` unconnected sockets send to one receiver whose queue is
// full, each keeping one or two async_send_to_with_fds in flight; the
// receiver takes a few datagrams every few milliseconds.
class crowded_receiver {
public:
    static constexpr std::size_t sender_count = 48;
    static constexpr std::size_t sends_per_sender = 40;
    static constexpr std::size_t total = sender_count * sends_per_sender;
    static constexpr std::size_t drained_per_tick = 10;
    static constexpr auto tick = 5ms;

    crowded_receiver(asio::io_context& io, int sent_fd)
        : io_(io), sent_fd_(sent_fd), sent_file_(file_identity::of(sent_fd)), receiver_(io),
          drain_timer_(io)
    {
        destination_ = unixdgram::make_endpoint(unique_abstract_name("crowded"));
        receiver_.open();
        receiver_.bind(destination_);
        receiver_.non_blocking(true);
        for (std::size_t index = 0; index < sender_count; ++index) {
            auto& sender = senders_.emplace_back(std::make_unique<sender_state>(io));
            sender->socket.open();
            sender->payload = {static_cast<std::uint32_t>(index), 0};
        }
    }

    void start()
    {
        for (std::size_t index = 0; index < sender_count; ++index) {
            send_next(index);
            if (index % 2 == 0)
                send_next(index);
        }
        drain_timer_.expires_after(tick);
        drain_timer_.async_wait([this](std::error_code ec) { drain(ec); });
    }

    std::size_t completed = 0;
    std::size_t failed = 0;
    std::size_t received = 0;
    std::size_t wrong_descriptors = 0;

private:
    struct sender_state {
        explicit sender_state(asio::io_context& io) : socket(io) {}

        socket_type socket;
        std::size_t started = 0;
        std::array<std::uint32_t, 2> payload{};
    };

    void send_next(std::size_t index)
    {
        sender_state& sender = *senders_[index];
        if (sender.started == sends_per_sender)
            return;
        ++sender.started;
        sender.socket.async_send_to_with_fds(asio::buffer(sender.payload), destination_,
                                             std::span(&sent_fd_, 1),
                                             [this, index](std::error_code ec, std::size_t) {
                                                 ++completed;
                                                 failed += ec ? 1 : 0;
                                                 if (!ec)
                                                     send_next(index);
                                             });
    }

    void drain(std::error_code ec)
    {
        if (ec)
            return;
        for (std::size_t taken = 0; taken < drained_per_tick; ++taken) {
            std::error_code receive_error;
            unixdgram::receive_result result =
                receiver_.receive_with_fds(asio::buffer(storage_), room_, 0, receive_error);
            if (receive_error)
                break;
            ++received;
            if (result.fds.size() != 1 || !sent_file_.matches(room_[0].get()))
                ++wrong_descriptors;
        }
        room_ = {};
        if (received < total) {
            drain_timer_.expires_after(tick);
            drain_timer_.async_wait([this](std::error_code error) { drain(error); });
        }
    }

    asio::io_context& io_;
    int sent_fd_;
    file_identity sent_file_;
    unixdgram::endpoint destination_;
    socket_type receiver_;
    asio::steady_timer drain_timer_;
    std::vector<std::unique_ptr<sender_state>> senders_;
    std::array<char, 16> storage_{};
    std::array<file_descriptor, 1> room_;
};

} // namespace

TEST_CASE("many asynchronous senders queued on one full receiver all complete, without spinning")
{
    twice_without_growth("many senders, one slow receiver", [&](int) {
        asio::io_context io;
        pipe_ends pipe = make_pipe();
        {
            crowded_receiver crowd(io, pipe.write_end.get());
            crowd.start();
            const double cpu_before = cpu_seconds();
            const auto started = clock_type::now();
            io.run_for(scenario_timeout);
            const double wall = seconds_since(started);
            const double cpu = cpu_seconds() - cpu_before;
            MESSAGE(crowded_receiver::sender_count
                    << " senders, " << crowd.completed << " sends completed (" << crowd.failed
                    << " failed), " << crowd.received << " datagrams and descriptors received in "
                    << wall << " s using " << cpu << " s of CPU (" << 100 * cpu / wall << "%)");
            CHECK(crowd.completed == crowded_receiver::total);
            CHECK(crowd.failed == 0);
            CHECK(crowd.received == crowded_receiver::total);
            CHECK(crowd.wrong_descriptors == 0);
            // A sender spinning on EAGAIN would burn a whole core.
            CHECK(cpu < 0.5 * wall);
        }
        pipe.write_end.reset();
        CHECK(all_writers_gone(pipe.read_end.get()));
    });
}

// ---------------------------------------------------------------------------
// Out of descriptor numbers
// ---------------------------------------------------------------------------

TEST_CASE("a receiver at its descriptor limit still gets the payload, with control_truncated, and "
          "nothing leaks")
{
    twice_without_growth("receiver at RLIMIT_NOFILE", [&](int) {
        asio::io_context io;
        socket_type sender(io);
        socket_type receiver(io);
        unixdgram::connect_pair(sender, receiver);
        pipe_ends pipe = make_pipe();
        file_descriptor null_device(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        REQUIRE(null_device);

        constexpr std::size_t fds_per_datagram = 4;
        constexpr std::size_t datagrams = 3;
        {
            std::vector<file_descriptor> copies;
            std::vector<int> numbers;
            for (std::size_t i = 0; i < fds_per_datagram; ++i) {
                copies.push_back(pipe.write_end.dup());
                numbers.push_back(copies.back().get());
            }
            for (std::size_t sequence = 0; sequence < datagrams; ++sequence) {
                const std::uint32_t payload = 0xfd000000u + static_cast<std::uint32_t>(sequence);
                REQUIRE(sender.send_with_fds(asio::buffer(&payload, sizeof(payload)), numbers) ==
                        sizeof(payload));
            }
        }
        pipe.write_end.reset();

        // The limit a few numbers above the highest descriptor, and every
        // free number below it taken by a holder: the kernel has no number to
        // install a descriptor at until holders are let go.
        descriptor_limit limit;
        limit.lower_to(static_cast<rlim_t>(highest_open_fd() + 1 + 4));
        std::vector<file_descriptor> holders;
        for (;;) {
            int holder = ::fcntl(null_device.get(), F_DUPFD_CLOEXEC, 0);
            if (holder < 0)
                break;
            holders.emplace_back(holder);
        }
        REQUIRE(holders.size() >= 2);

        std::array<char, 8> storage{};
        std::array<file_descriptor, fds_per_datagram> room;
        std::size_t installed = 0;
        std::size_t dropped = 0;
        const auto expect_payload = [&](const unixdgram::receive_result& result,
                                        std::uint32_t sequence) {
            std::uint32_t payload = 0;
            std::memcpy(&payload, storage.data(), sizeof(payload));
            CHECK(result.bytes == sizeof(payload));
            CHECK(payload == 0xfd000000u + sequence);
            CHECK_FALSE(result.truncated);
            CHECK(result.control_truncated);
            installed += result.fds.size();
            dropped += fds_per_datagram - result.fds.size();
        };

        // No number free.
        std::error_code ec;
        unixdgram::receive_result none =
            receiver.receive_with_fds(asio::buffer(storage), room, 0, ec);
        CHECK_FALSE(ec);
        CHECK(none.fds.empty());
        expect_payload(none, 0);

        // Two numbers free: two of the four descriptors are installed.
        holders.resize(holders.size() - 2);
        unixdgram::receive_result some =
            receiver.receive_with_fds(asio::buffer(storage), room, 0, ec);
        CHECK_FALSE(ec);
        CHECK(some.fds.size() == 2);
        expect_payload(some, 1);

        // Asynchronously, with those two still held: none free again.
        std::array<file_descriptor, fds_per_datagram> kept = std::move(room);
        int calls = 0;
        receiver.async_receive_with_fds(
            asio::buffer(storage), room,
            [&](std::error_code error, unixdgram::receive_result result) {
                ++calls;
                CHECK_FALSE(error);
                CHECK(result.fds.empty());
                expect_payload(result, 2);
            });
        io.run_for(scenario_timeout);
        CHECK(calls == 1);

        limit.restore();
        MESSAGE("at the descriptor limit: " << datagrams << " datagrams received whole, "
                                            << installed << " descriptors installed, " << dropped
                                            << " dropped by the kernel (MSG_CTRUNC)");
        CHECK(installed == 2);
        CHECK(dropped == datagrams * fds_per_datagram - 2);
        room = {};
        kept = {};
        holders.clear();
        CHECK(all_writers_gone(pipe.read_end.get()));
    });
}
