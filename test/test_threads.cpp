//
// test_threads.cpp — sockets used from several threads the ways the thread
// safety contract allows: through a strand of a multi-threaded io_context
// (as the socket's executor or bound to its handlers), one socket per thread,
// and closes posted to a socket's strand while its receive is pending.
//
// scripts/test also runs this file under ThreadSanitizer (build/tsan).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

/// How long the io_context threads may run: thousands of round trips take
/// far longer under ThreadSanitizer than safety_timeout allows.
constexpr auto threaded_run_timeout = 60s;
constexpr std::size_t io_threads = 3;

using strand_type = asio::strand<asio::io_context::executor_type>;
using strand_socket = unixdgram::datagram_socket<strand_type>;

// Runs `io` on `io_threads` threads until its work is done.
void run_on_threads(asio::io_context& io)
{
    std::vector<std::thread> threads;
    for (std::size_t index = 0; index < io_threads; ++index)
        threads.emplace_back([&io] { io.run_for(threaded_run_timeout); });
    for (auto& thread : threads)
        thread.join();
}

// One client and one echo server on a socket pair. The client sends a sequence
// number with a descriptor; the server sends both back; the client checks them
// and sends the next, `round_trips` times. Each side's state is touched only by
// its own socket's handlers, which its executor (or the strand they are
// bound to) serialises.
template <typename Socket>
struct echo_pair {
    echo_pair(Socket client_socket, Socket server_socket, int sent_fd, std::size_t round_trips)
        : client(std::move(client_socket)), server(std::move(server_socket)), sent_fd(sent_fd),
          sent_file(file_identity::of(sent_fd)), round_trips(round_trips)
    {
    }

    Socket client;
    Socket server;
    int sent_fd;
    file_identity sent_file;
    std::size_t round_trips;

    // The client's state.
    std::uint64_t next_sequence = 0;
    std::uint64_t echo_storage = 0;
    std::array<file_descriptor, 1> client_room;
    std::size_t completed = 0;
    std::size_t mismatches = 0;
    std::error_code client_error;

    // The server's state.
    std::uint64_t request_storage = 0;
    std::array<file_descriptor, 1> server_room;
    int echoed_fd = -1;
    std::size_t served = 0;
    std::error_code server_error;
};

// Starts a pair's client and server; `wrap` binds each handler to an executor
// (or leaves it as it is).
template <typename Socket, typename Wrap>
void start_echo(echo_pair<Socket>& pair, Wrap wrap)
{
    struct steps {
        echo_pair<Socket>& pair;
        Wrap wrap;

        void client_send()
        {
            pair.client.async_send_with_fds(
                asio::buffer(&pair.next_sequence, sizeof(pair.next_sequence)),
                std::span(&pair.sent_fd, 1), wrap([*this](std::error_code ec, std::size_t) mutable {
                    if (ec)
                        pair.client_error = ec;
                    else
                        client_receive();
                }));
        }

        void client_receive()
        {
            pair.client.async_receive_with_fds(
                asio::buffer(&pair.echo_storage, sizeof(pair.echo_storage)), pair.client_room,
                wrap([*this](std::error_code ec, unixdgram::receive_result result) mutable {
                    if (ec) {
                        pair.client_error = ec;
                        return;
                    }
                    if (pair.echo_storage != pair.next_sequence || result.fds.size() != 1 ||
                        !pair.sent_file.matches(result.fds[0].get()))
                        ++pair.mismatches;
                    ++pair.next_sequence;
                    if (++pair.completed < pair.round_trips)
                        client_send();
                }));
        }

        void server_receive()
        {
            pair.server.async_receive_with_fds(
                asio::buffer(&pair.request_storage, sizeof(pair.request_storage)), pair.server_room,
                wrap([*this](std::error_code ec, unixdgram::receive_result result) mutable {
                    if (ec) {
                        pair.server_error = ec;
                        return;
                    }
                    if (result.fds.size() != 1) {
                        pair.server_error = std::make_error_code(std::errc::bad_message);
                        return;
                    }
                    pair.echoed_fd = result.fds[0].get();
                    server_echo();
                }));
        }

        void server_echo()
        {
            // The received descriptor goes back; server_room keeps it open
            // until the next receive replaces it.
            pair.server.async_send_with_fds(
                asio::buffer(&pair.request_storage, sizeof(pair.request_storage)),
                std::span(&pair.echoed_fd, 1),
                wrap([*this](std::error_code ec, std::size_t) mutable {
                    if (ec) {
                        pair.server_error = ec;
                        return;
                    }
                    if (++pair.served < pair.round_trips)
                        server_receive();
                }));
        }
    };
    steps start{pair, wrap};
    start.server_receive();
    start.client_send();
}

template <typename Socket>
void check_echo(const std::vector<std::unique_ptr<echo_pair<Socket>>>& pairs, const char* how)
{
    std::size_t completed = 0;
    for (const auto& pair : pairs) {
        CHECK_FALSE(pair->client_error);
        CHECK_FALSE(pair->server_error);
        CHECK(pair->mismatches == 0);
        CHECK(pair->completed == pair->round_trips);
        CHECK(pair->served == pair->round_trips);
        completed += pair->completed;
    }
    MESSAGE(std::string(how) << ": " << pairs.size() << " pairs on " << io_threads << " threads, "
                             << completed << " round trips, each carrying a descriptor both ways");
}

constexpr std::size_t pair_count = 4;
constexpr std::size_t round_trips_per_pair = 2500;

} // namespace

TEST_CASE_FIXTURE(fd_count_fixture, "sockets whose executor is a strand make thousands of round "
                                    "trips on a multi-threaded io_context")
{
    pipe_ends pipe = make_pipe();
    {
        asio::io_context io(static_cast<int>(io_threads));
        std::vector<std::unique_ptr<echo_pair<strand_socket>>> pairs;
        for (std::size_t index = 0; index < pair_count; ++index) {
            strand_socket client(asio::make_strand(io.get_executor()));
            strand_socket server(asio::make_strand(io.get_executor()));
            unixdgram::connect_pair(client, server);
            pairs.push_back(std::make_unique<echo_pair<strand_socket>>(
                std::move(client), std::move(server), pipe.write_end.get(), round_trips_per_pair));
        }
        for (auto& pair : pairs)
            start_echo(*pair, [](auto handler) { return handler; });
        run_on_threads(io);
        check_echo(pairs, "strand executors");
    }
    pipe.write_end.reset();
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(fd_count_fixture, "handlers bound to a strand with bind_executor make thousands "
                                    "of round trips on a multi-threaded io_context")
{
    pipe_ends pipe = make_pipe();
    {
        asio::io_context io(static_cast<int>(io_threads));
        using socket_type = unixdgram::datagram_socket<>;
        std::vector<std::unique_ptr<echo_pair<socket_type>>> pairs;
        std::vector<strand_type> strands;
        for (std::size_t index = 0; index < pair_count; ++index) {
            socket_type client(io);
            socket_type server(io);
            unixdgram::connect_pair(client, server);
            pairs.push_back(std::make_unique<echo_pair<socket_type>>(
                std::move(client), std::move(server), pipe.write_end.get(), round_trips_per_pair));
            strands.push_back(asio::make_strand(io.get_executor()));
        }
        // Both sockets of a pair share its strand: their handlers never run at
        // once, and neither does the library's work for them.
        for (std::size_t index = 0; index < pair_count; ++index) {
            strand_type strand = strands[index];
            asio::dispatch(strand, [&pair = *pairs[index], strand] {
                start_echo(pair, [strand](auto handler) {
                    return asio::bind_executor(strand, std::move(handler));
                });
            });
        }
        run_on_threads(io);
        check_echo(pairs, "bind_executor");
    }
    pipe.write_end.reset();
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(fd_count_fixture, "two threads, each owning one socket of a pair, ping-pong")
{
    constexpr std::size_t exchanges = 10000;
    pipe_ends pipe = make_pipe();
    const int sent_fd = pipe.write_end.get();
    const file_identity sent_file = file_identity::of(sent_fd);

    SUBCASE("asynchronously, each on its own io_context")
    {
        asio::io_context ping_io;
        asio::io_context pong_io;
        unixdgram::datagram_socket<> ping(ping_io);
        unixdgram::datagram_socket<> pong(pong_io);
        unixdgram::connect_pair(ping, pong);

        // The pinging side sends 0, 1, 2, … and expects each back; the echoing
        // side expects the same numbers and sends each back.
        struct side {
            side(unixdgram::datagram_socket<>& socket, bool echoes, int sent_fd,
                 file_identity sent_file)
                : socket(socket), echoes(echoes), sent_fd(sent_fd), sent_file(sent_file)
            {
            }

            unixdgram::datagram_socket<>& socket;
            bool echoes;
            int sent_fd;
            file_identity sent_file;
            std::uint64_t counter = 0;
            std::uint64_t storage = 0;
            std::array<file_descriptor, 1> room;
            std::size_t exchanged = 0;
            std::size_t mismatches = 0;
            std::error_code error;

            void send()
            {
                socket.async_send_with_fds(asio::buffer(&counter, sizeof(counter)),
                                           std::span(&sent_fd, 1),
                                           [this](std::error_code ec, std::size_t) {
                                               if (ec) {
                                                   error = ec;
                                                   return;
                                               }
                                               if (!echoes)
                                                   return receive();
                                               ++counter;
                                               if (exchanged < exchanges)
                                                   receive();
                                           });
            }

            void receive()
            {
                socket.async_receive_with_fds(
                    asio::buffer(&storage, sizeof(storage)), room,
                    [this](std::error_code ec, unixdgram::receive_result result) {
                        if (ec) {
                            error = ec;
                            return;
                        }
                        if (storage != counter || result.fds.size() != 1 ||
                            !sent_file.matches(result.fds[0].get()))
                            ++mismatches;
                        ++exchanged;
                        if (echoes)
                            return send();
                        ++counter;
                        if (exchanged < exchanges)
                            send();
                    });
            }
        };
        side ping_side(ping, false, sent_fd, sent_file);
        side pong_side(pong, true, sent_fd, sent_file);
        asio::post(pong_io, [&] { pong_side.receive(); });
        asio::post(ping_io, [&] { ping_side.send(); });
        std::thread pong_thread([&] { pong_io.run_for(threaded_run_timeout); });
        ping_io.run_for(threaded_run_timeout);
        pong_thread.join();

        MESSAGE("two io_contexts on two threads: " << ping_side.exchanged
                                                   << " round trips, each carrying a descriptor "
                                                      "both ways");
        CHECK_FALSE(ping_side.error);
        CHECK_FALSE(pong_side.error);
        CHECK(ping_side.exchanged == exchanges);
        CHECK(pong_side.exchanged == exchanges);
        CHECK(ping_side.mismatches == 0);
        CHECK(pong_side.mismatches == 0);
    }
    SUBCASE("synchronously")
    {
        asio::io_context io;
        unixdgram::datagram_socket<> ping(io);
        unixdgram::datagram_socket<> pong(io);
        unixdgram::connect_pair(ping, pong);
        std::atomic<std::size_t> pong_mismatches{0};
        std::error_code pong_error;
        std::thread pong_thread([&] {
            std::array<file_descriptor, 1> room;
            for (std::uint64_t expected = 0; expected < exchanges; ++expected) {
                std::uint64_t storage = 0;
                unixdgram::receive_result result = pong.receive_with_fds(
                    asio::buffer(&storage, sizeof(storage)), room, 0, pong_error);
                if (pong_error)
                    return;
                if (storage != expected || result.fds.size() != 1)
                    ++pong_mismatches;
                const int received = room[0].get();
                pong.send_with_fds(asio::buffer(&storage, sizeof(storage)), std::span(&received, 1),
                                   0, pong_error);
                if (pong_error)
                    return;
            }
        });
        std::size_t mismatches = 0;
        std::size_t exchanged = 0;
        std::error_code ping_error;
        std::array<file_descriptor, 1> room;
        for (std::uint64_t sequence = 0; sequence < exchanges && !ping_error; ++sequence) {
            ping.send_with_fds(asio::buffer(&sequence, sizeof(sequence)), std::span(&sent_fd, 1), 0,
                               ping_error);
            if (ping_error)
                break;
            std::uint64_t storage = 0;
            unixdgram::receive_result result =
                ping.receive_with_fds(asio::buffer(&storage, sizeof(storage)), room, 0, ping_error);
            if (ping_error)
                break;
            if (storage != sequence || result.fds.size() != 1 || !sent_file.matches(room[0].get()))
                ++mismatches;
            ++exchanged;
        }
        pong_thread.join();
        MESSAGE("blocking calls on two threads: " << exchanged << " round trips");
        CHECK_FALSE(ping_error);
        CHECK_FALSE(pong_error);
        CHECK(exchanged == exchanges);
        CHECK(mismatches == 0);
        CHECK(pong_mismatches.load() == 0);
    }
    pipe.write_end.reset();
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "closes posted to each socket's strand abort its pending receive exactly once")
{
    constexpr std::size_t socket_count = 200;
    asio::io_context io(static_cast<int>(io_threads));
    struct pending {
        explicit pending(strand_type strand) : socket(strand) {}
        strand_socket socket;
        std::array<char, 8> storage{};
        std::array<file_descriptor, 1> room;
        std::atomic<int> calls{0};
        std::error_code ec;
    };
    std::vector<std::unique_ptr<pending>> entries;
    for (std::size_t index = 0; index < socket_count; ++index) {
        auto& entry = entries.emplace_back(std::make_unique<pending>(asio::make_strand(io)));
        entry->socket.open();
        asio::dispatch(entry->socket.get_executor(), [&entry = *entry] {
            entry.socket.async_receive_with_fds(
                asio::buffer(entry.storage), entry.room,
                [&entry](std::error_code ec, unixdgram::receive_result) {
                    entry.ec = ec;
                    entry.calls.fetch_add(1);
                });
        });
    }
    std::vector<std::thread> threads;
    for (std::size_t index = 0; index < io_threads; ++index)
        threads.emplace_back([&io] { io.run_for(threaded_run_timeout); });
    // Started from this thread while the io_context threads run the receives.
    std::this_thread::sleep_for(10ms);
    for (auto& entry : entries)
        asio::post(entry->socket.get_executor(), [&entry = *entry] { entry.socket.close(); });
    for (auto& thread : threads)
        thread.join();

    std::size_t once = 0;
    std::size_t aborted = 0;
    for (const auto& entry : entries) {
        once += entry->calls.load() == 1;
        aborted += entry->ec == asio::error::operation_aborted;
    }
    MESSAGE(socket_count << " sockets on strands closed from their strands: " << once
                         << " handlers ran exactly once, " << aborted << " with operation_aborted");
    CHECK(once == socket_count);
    CHECK(aborted == socket_count);
}
