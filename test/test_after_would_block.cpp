//
// test_after_would_block.cpp — the sends and receives told that their
// caller's own attempt met EAGAIN (unixdgram::after_would_block, in
// message.hpp and the "Messages" and "Batches" groups of datagram_socket.hpp):
// they wait for room or for a datagram before they attempt, so that one that
// had to wait makes two system calls in all, the caller's try_ and theirs
// (issue 10). Their system calls are counted by syscall_counting.cpp, their
// allocations by counting_allocator.cpp, both linked into this executable.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "counting_allocator.hpp"
#include "syscall_counting.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::after_would_block;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using unixdgram::endpoint;
using unixdgram::send_control;

/// A connected pair (a, b), and a socket `client` with no peer that sends to
/// `server`, bound to a path in a private directory (so that it can restart
/// there).
struct after_would_block_fixture : io_fixture {
    socket_type a{io};
    socket_type b{io};
    temp_dir directory;
    endpoint server_endpoint = unixdgram::make_endpoint((directory.path / "server").string());
    std::unique_ptr<socket_type> server;
    socket_type client{io};

    after_would_block_fixture()
    {
        connect_pair(a, b);
        start_server();
        client.open();
    }

    /// The first server, at the path.
    void start_server()
    {
        server = std::make_unique<socket_type>(io);
        server->open();
        server->bind(server_endpoint);
    }

    /// A receiver that restarts: a new server is bound beside the path,
    /// `prepare`d, renamed over the path, and then the old one closes. So a
    /// receiver is bound at the path throughout, and a send woken by the old
    /// one's going meets the new one, never ECONNREFUSED.
    template <typename Prepare>
    void restart_server(Prepare&& prepare)
    {
        auto fresh = std::make_unique<socket_type>(io);
        fresh->open();
        fresh->bind(unixdgram::make_endpoint((directory.path / "server.new").string()));
        prepare(*fresh);
        std::filesystem::rename(directory.path / "server.new", directory.path / "server");
        server->close();
        server = std::move(fresh);
    }

    /// Where `receiver` is bound.
    static const endpoint* endpoint_of(socket_type& receiver)
    {
        static thread_local endpoint bound;
        bound = receiver.local_endpoint();
        return &bound;
    }

    /// Fills the queue `sender` sends into, to `destination` (null: its peer).
    static void fill(socket_type& sender, const endpoint* destination)
    {
        const char byte = 'f';
        std::error_code ec;
        for (int sent = 0; !ec && sent < 100000; ++sent)
            sender.try_send_message(asio::buffer(&byte, 1), destination, {}, 0, ec);
        REQUIRE(ec == errno_is{EAGAIN});
    }
};

/// Takes every datagram queued at `fd` without the library (recv is not
/// counted); returns their texts.
std::vector<std::string> drain(int fd)
{
    std::vector<std::string> texts;
    std::array<char, 64> storage{};
    for (;;) {
        const ssize_t length = ::recv(fd, storage.data(), storage.size(), MSG_DONTWAIT);
        if (length < 0)
            return texts;
        texts.emplace_back(storage.data(), static_cast<std::size_t>(length));
    }
}

std::size_t count_of(const std::vector<std::string>& texts, std::string_view text)
{
    return static_cast<std::size_t>(std::count(texts.begin(), texts.end(), text));
}

/// Runs `fixture.io` until `done` or the safety net expires.
template <typename Done>
void run_until(io_fixture& fixture, Done&& done)
{
    fixture.io.restart();
    const auto deadline = std::chrono::steady_clock::now() + safety_timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline)
        fixture.io.run_for(1ms);
}

} // namespace

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a send after would-block to a queue with room makes one system call, after its "
                  "wait")
{
    const auto message = asio::buffer(std::string_view("room"));
    SUBCASE("synchronous, to the connected peer")
    {
        call_counter counter(a.native_handle());
        std::error_code ec = std::make_error_code(std::errc::io_error);
        CHECK(a.send_message(after_would_block, message, nullptr, {}, 0, ec) == 4);
        CHECK_FALSE(ec);
        CHECK(counter.since().sends() == 1);
        CHECK(drain(b.native_handle()) == std::vector<std::string>{"room"});
    }
    SUBCASE("throwing, to a destination endpoint")
    {
        call_counter counter(client.native_handle());
        CHECK(client.send_message(after_would_block, message, &server_endpoint) == 4);
        CHECK(counter.since().sends() == 1);
        CHECK(drain(server->native_handle()) == std::vector<std::string>{"room"});
    }
    SUBCASE("asynchronous, to a destination endpoint")
    {
        call_counter counter(client.native_handle());
        completion<std::size_t> sent;
        sent.start([&](auto handler) {
            client.async_send_message(after_would_block, message, &server_endpoint, {}, 0, handler);
        });
        // The wait comes first: nothing was attempted inside the call.
        CHECK(counter.since().sends() == 0);
        run();
        CHECK(sent.calls == 1);
        CHECK_FALSE(sent.ec);
        CHECK(sent.result == 4);
        CHECK(counter.since().sends() == 1);
        CHECK(drain(server->native_handle()) == std::vector<std::string>{"room"});
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a send after would-block that waits for room makes two system calls with the "
                  "caller's attempt, and sends its datagram once")
{
    file_descriptor file = file_with_content("passed");
    const std::array<int, 1> fds_to_send{file.get()};
    struct target {
        socket_type* sender;
        const endpoint* destination;
        int receiver_fd;
        send_control control;
    };
    std::optional<target> chosen;
    SUBCASE("to the connected peer")
    {
        chosen = target{&a, nullptr, b.native_handle(), {}};
    }
    SUBCASE("to a destination endpoint")
    {
        chosen = target{&client, &server_endpoint, server->native_handle(), {}};
    }
    SUBCASE("to a destination endpoint, with a descriptor")
    {
        chosen = target{&client, &server_endpoint, server->native_handle(), {.fds = fds_to_send}};
    }
    REQUIRE(chosen);
    socket_type& sender = *chosen->sender;
    const auto message = asio::buffer(std::string_view("waited"));

    // The caller's own attempt, which meets EAGAIN.
    auto callers_attempt = [&] {
        std::error_code ec;
        sender.try_send_message(message, chosen->destination, chosen->control, 0, ec);
        REQUIRE(ec == errno_is{EAGAIN});
    };
    {
        INFO("asynchronous");
        fill(sender, chosen->destination);
        call_counter counter(sender.native_handle());
        callers_attempt();
        completion<std::size_t> sent;
        sent.start([&](auto handler) {
            sender.async_send_message(after_would_block, message, chosen->destination,
                                      chosen->control, 0, handler);
        });
        io.restart();
        io.poll();
        CHECK(sent.calls == 0);
        CHECK(counter.since().sends() == 1);
        const std::vector<std::string> before = drain(chosen->receiver_fd);
        CHECK(count_of(before, "waited") == 0);
        run_until(*this, [&] { return sent.calls > 0; });
        CHECK(sent.calls == 1);
        CHECK_FALSE(sent.ec);
        CHECK(sent.result == 6);
        CHECK(counter.since().sends() == 2);
        CHECK(counter.since().receives() == 0);
        CHECK(count_of(drain(chosen->receiver_fd), "waited") == 1);
    }
    {
        INFO("synchronous, unblocked by another thread");
        fill(sender, chosen->destination);
        call_counter counter(sender.native_handle());
        callers_attempt();
        // Whenever the drain comes, before the wait or during it, the send
        // makes one attempt once there is room.
        // (The drain may take the sent datagram too.)
        std::vector<std::string> drained;
        std::thread drainer([&] {
            std::this_thread::sleep_for(20ms);
            drained = drain(chosen->receiver_fd);
        });
        std::error_code ec = std::make_error_code(std::errc::io_error);
        const std::size_t bytes = sender.send_message(after_would_block, message,
                                                      chosen->destination, chosen->control, 0, ec);
        drainer.join();
        CHECK_FALSE(ec);
        CHECK(bytes == 6);
        CHECK(counter.since().sends() == 2);
        CHECK(count_of(drained, "waited") + count_of(drain(chosen->receiver_fd), "waited") == 1);
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a send_many after would-block waits for room at its first entry's destination, "
                  "then sends the entries in one more system call")
{
    fill(client, &server_endpoint);
    std::array<unixdgram::send_entry, 3> entries;
    const std::array<std::string_view, 3> texts{"one", "two", "three"};
    for (std::size_t at = 0; at < entries.size(); ++at)
        entries[at] = {asio::buffer(texts[at]), &server_endpoint};
    call_counter counter(client.native_handle());
    std::error_code ec;
    CHECK(client.try_send_many(entries, 0, ec) == 0);
    REQUIRE(ec == errno_is{EAGAIN});
    completion<std::size_t> sent;
    sent.start(
        [&](auto handler) { client.async_send_many(after_would_block, entries, 0, handler); });
    io.restart();
    io.poll();
    // Waiting on the sending socket, which polls writable, would have
    // attempted again here.
    CHECK(sent.calls == 0);
    CHECK(counter.since().sends() == 1);
    drain(server->native_handle());
    run_until(*this, [&] { return sent.calls > 0; });
    CHECK_FALSE(sent.ec);
    CHECK(sent.result == 3);
    CHECK(counter.since().sends() == 2);
    CHECK(drain(server->native_handle()) == std::vector<std::string>{"one", "two", "three"});
}

namespace {

/// The receiver of a send after would-block to a path restarts (close,
/// unlink, a new socket bound there) while the send waits on a probe
/// connected to the old one; the new receiver's queue has room, or is full.
void restart_case(after_would_block_fixture& fixture, bool blocking, bool new_server_full)
{
    socket_type& client = fixture.client;
    const endpoint& server_endpoint = fixture.server_endpoint;
    const auto message = asio::buffer(std::string_view("restart"));
    fixture.fill(client, &server_endpoint);
    call_counter counter(client.native_handle());
    std::error_code ec;
    client.try_send_message(message, &server_endpoint, {}, 0, ec);
    REQUIRE(ec == errno_is{EAGAIN});

    std::error_code send_ec = std::make_error_code(std::errc::io_error);
    std::atomic<bool> done{false};
    std::thread blocked_sender;
    if (blocking) {
        blocked_sender = std::thread([&] {
            client.send_message(after_would_block, message, &server_endpoint, {}, 0, send_ec);
            done = true;
        });
    } else {
        client.async_send_message(after_would_block, message, &server_endpoint, {}, 0,
                                  [&](std::error_code error, std::size_t) {
                                      send_ec = error;
                                      done = true;
                                  });
    }
    auto let_it_wait = [&](auto window) {
        if (blocking) {
            std::this_thread::sleep_for(window);
        } else {
            fixture.io.restart();
            fixture.io.run_for(window);
        }
    };
    // The send waits on a probe connected to the first server.
    let_it_wait(50ms);
    CHECK_FALSE(done.load());
    CHECK(counter.since().sends() == 1);

    std::size_t sent_early = 0;
    socket_type filler(fixture.io);
    filler.open();
    fixture.restart_server([&](socket_type& fresh) {
        if (new_server_full)
            fixture.fill(filler, fixture.endpoint_of(fresh));
    });
    if (new_server_full) {
        // The probe woke when the old receiver went; the send found the new
        // queue full, and the probe now watches the new receiver: no spin.
        let_it_wait(200ms);
        CHECK_FALSE(done.load());
        CHECK(counter.since().sends() <= 2);
        // The drain makes room: a blocking send may go in the middle of it
        // (and be drained too); an async one waits for the io_context.
        sent_early = count_of(drain(fixture.server->native_handle()), "restart");
        if (!blocking)
            CHECK(sent_early == 0);
    }
    if (blocking) {
        const auto deadline = std::chrono::steady_clock::now() + safety_timeout;
        while (!done && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        if (!done) {
            std::cerr << "a blocking send after would-block never returned; the thread cannot "
                         "be joined\n";
            std::abort();
        }
        blocked_sender.join();
    } else {
        run_until(fixture, [&] { return done.load(); });
    }
    REQUIRE(done.load());
    CHECK_FALSE(send_ec);
    // The caller's attempt and the one that sent; one more when the probe
    // still watching the old receiver woke the send into a full new queue.
    CHECK(counter.since().sends() == (new_server_full ? 3u : 2u));
    CHECK(sent_early + count_of(drain(fixture.server->native_handle()), "restart") == 1);
}

} // namespace

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a send after would-block whose receiver restarts at the same path while it "
                  "waits neither spins nor loses nor repeats its datagram")
{
    SUBCASE("asynchronous, the new receiver with room")
    {
        restart_case(*this, false, false);
    }
    SUBCASE("asynchronous, the new receiver's queue full too")
    {
        restart_case(*this, false, true);
    }
    SUBCASE("blocking, the new receiver with room")
    {
        restart_case(*this, true, false);
    }
    SUBCASE("blocking, the new receiver's queue full too")
    {
        restart_case(*this, true, true);
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "in non_blocking mode a send after would-block makes its attempt without "
                  "waiting")
{
    const auto message = asio::buffer(std::string_view("at once"));
    client.non_blocking(true);
    fill(client, &server_endpoint);
    call_counter counter(client.native_handle());
    std::error_code ec;
    CHECK(client.send_message(after_would_block, message, &server_endpoint, {}, 0, ec) == 0);
    CHECK(ec == errno_is{EAGAIN});
    CHECK(counter.since().sends() == 1);
    drain(server->native_handle());
    CHECK(client.send_message(after_would_block, message, &server_endpoint, {}, 0, ec) == 7);
    CHECK_FALSE(ec);
    CHECK(counter.since().sends() == 2);
    CHECK(drain(server->native_handle()) == std::vector<std::string>{"at once"});
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a send after would-block honours per-operation cancellation and completes "
                  "outside its call on a closed socket")
{
    const auto message = asio::buffer(std::string_view("cancelled"));
    SUBCASE("cancelled while it waits: it sent nothing")
    {
        fill(client, &server_endpoint);
        call_counter counter(client.native_handle());
        asio::cancellation_signal signal;
        completion<std::size_t> sent;
        sent.start([&](auto handler) {
            client.async_send_message(after_would_block, message, &server_endpoint, {}, 0,
                                      asio::bind_cancellation_slot(signal.slot(), handler));
        });
        io.restart();
        io.poll();
        REQUIRE(sent.calls == 0);
        signal.emit(asio::cancellation_type::total);
        run();
        CHECK(sent.calls == 1);
        CHECK(sent.ec == asio::error::operation_aborted);
        CHECK(counter.since().sends() == 0);
        CHECK(count_of(drain(server->native_handle()), "cancelled") == 0);
        // The socket still sends.
        CHECK(client.send_message(after_would_block, message, &server_endpoint) == 9);
    }
    SUBCASE("on a closed socket")
    {
        client.close();
        completion<std::size_t> sent;
        sent.start([&](auto handler) {
            client.async_send_message(after_would_block, message, &server_endpoint, {}, 0, handler);
        });
        CHECK(sent.calls == 0);
        run();
        CHECK(sent.calls == 1);
        CHECK(sent.ec == asio::error::bad_descriptor);
        std::error_code ec;
        client.send_message(after_would_block, message, &server_endpoint, {}, 0, ec);
        CHECK(ec == asio::error::bad_descriptor);
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "sends after would-block that wait allocate nothing in steady state")
{
    const auto message = asio::buffer(std::string_view("steady"));
    const endpoint* destination = nullptr;
    SUBCASE("to the connected peer")
    {
        destination = nullptr;
    }
    SUBCASE("to a destination endpoint, through a probe")
    {
        destination = &server_endpoint;
    }
    socket_type& sender = destination ? client : a;
    const int receiver_fd = destination ? server->native_handle() : b.native_handle();
    int failures = 0;
    auto one_blocked_send = [&] {
        bool done = false;
        // Started from a handler, as a steady-state program starts its
        // operations: Asio recycles operation memory per thread only there.
        asio::post(io, [&] {
            fill(sender, destination);
            std::error_code ec;
            sender.try_send_message(message, destination, {}, 0, ec);
            if (ec != errno_is{EAGAIN})
                ++failures;
            sender.async_send_message(after_would_block, message, destination, {}, 0,
                                      [&](std::error_code error, std::size_t) {
                                          failures += error ? 1 : 0;
                                          done = true;
                                      });
        });
        io.restart();
        io.poll();
        if (done)
            ++failures;
        // recv(2) and a vector of texts would allocate: the bytes go.
        char byte;
        while (::recv(receiver_fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
        }
        io.restart();
        while (!done && io.run_one_for(safety_timeout) > 0) {
        }
        if (!done)
            ++failures;
        char last[16];
        while (::recv(receiver_fd, last, sizeof(last), MSG_DONTWAIT) >= 0) {
        }
    };
    for (int warm_up = 0; warm_up < 100; ++warm_up)
        one_blocked_send();
    const std::size_t before = heap_allocations();
    for (int measured = 0; measured < 100; ++measured)
        one_blocked_send();
    CHECK(heap_allocations() - before == 0);
    CHECK(failures == 0);
}

// Receives --------------------------------------------------------------------

namespace {

/// The caller's own receive on `receiver`, which finds nothing queued.
void callers_receive_attempt(socket_type& receiver)
{
    std::array<char, 8> storage{};
    std::error_code ec;
    receiver.try_receive_message(asio::buffer(storage), nullptr, {}, 0, ec);
    REQUIRE(ec == errno_is{EAGAIN});
}

/// Sends `text` to `fd`'s peer without the library (send is not counted on
/// the receiver's descriptor), after `delay`, from another thread.
std::thread send_later(int fd, std::string text, std::chrono::milliseconds delay)
{
    return std::thread([=] {
        std::this_thread::sleep_for(delay);
        ::send(fd, text.data(), text.size(), MSG_DONTWAIT);
    });
}

} // namespace

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a receive after would-block waits for its datagram and makes two system calls "
                  "with the caller's attempt")
{
    std::array<char, 16> storage{};
    const auto buffer = asio::buffer(storage);
    call_counter counter(b.native_handle());
    callers_receive_attempt(b);
    SUBCASE("receive_message, blocking")
    {
        std::thread sender = send_later(a.native_handle(), "blocked", 20ms);
        const unixdgram::receive_result result =
            b.receive_message(after_would_block, buffer, nullptr);
        sender.join();
        CHECK(text_of(storage, result.bytes) == "blocked");
        CHECK(counter.since().receives() == 2);
    }
    SUBCASE("receive_message, asynchronous, with the sender and a descriptor")
    {
        file_descriptor file = file_with_content("carried");
        std::array<file_descriptor, 2> fds;
        endpoint sender;
        completion<unixdgram::receive_result> received;
        received.start([&](auto handler) {
            b.async_receive_message(after_would_block, buffer, &sender, fds, 0, handler);
        });
        io.restart();
        io.poll();
        // The wait came first: nothing was attempted inside the call or since.
        CHECK(received.calls == 0);
        CHECK(counter.since().receives() == 1);
        const std::array<int, 1> sent_fds{file.get()};
        a.send_with_fds(asio::buffer(std::string_view("fd")), sent_fds);
        run_until(*this, [&] { return received.calls > 0; });
        REQUIRE(received.calls == 1);
        CHECK_FALSE(received.ec);
        CHECK(text_of(storage, received.result.bytes) == "fd");
        REQUIRE(received.result.fds.size() == 1);
        CHECK(read_some(received.result.fds[0].get()) == "carried");
        CHECK(counter.since().receives() == 2);
    }
    SUBCASE("receive_many, blocking and asynchronous")
    {
        std::array<unixdgram::receive_entry, 2> entries;
        std::array<std::array<char, 8>, 2> texts{};
        for (std::size_t at = 0; at < entries.size(); ++at)
            entries[at].buffer = asio::buffer(texts[at]);
        std::thread sender = send_later(a.native_handle(), "many", 20ms);
        CHECK(b.receive_many(after_would_block, entries) == 1);
        sender.join();
        CHECK(text_of(texts[0], entries[0].bytes) == "many");
        CHECK(counter.since().receives() == 2);

        callers_receive_attempt(b);
        completion<std::size_t> received;
        received.start(
            [&](auto handler) { b.async_receive_many(after_would_block, entries, 0, handler); });
        io.restart();
        io.poll();
        CHECK(received.calls == 0);
        CHECK(counter.since().receives() == 3);
        a.send(asio::buffer(std::string_view("first")));
        a.send(asio::buffer(std::string_view("second")));
        run_until(*this, [&] { return received.calls > 0; });
        REQUIRE(received.calls == 1);
        CHECK_FALSE(received.ec);
        CHECK(received.result == 2);
        CHECK(text_of(texts[1], entries[1].bytes) == "second");
        CHECK(counter.since().receives() == 4);
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a receive after would-block whose datagram came meanwhile ends its wait at once")
{
    std::array<char, 16> storage{};
    call_counter counter(b.native_handle());
    callers_receive_attempt(b);
    a.send(asio::buffer(std::string_view("early")));
    completion<unixdgram::receive_result> received;
    received.start([&](auto handler) {
        b.async_receive_message(after_would_block, asio::buffer(storage), nullptr, {}, 0, handler);
    });
    CHECK(received.calls == 0);
    run();
    REQUIRE(received.calls == 1);
    CHECK_FALSE(received.ec);
    CHECK(text_of(storage, received.result.bytes) == "early");
    CHECK(counter.since().receives() == 2);
    // And the blocking form.
    a.send(asio::buffer(std::string_view("again")));
    CHECK(b.receive_message(after_would_block, asio::buffer(storage), nullptr).bytes == 5);
    CHECK(counter.since().receives() == 3);
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "in non_blocking mode a receive after would-block makes its attempt without "
                  "waiting")
{
    std::array<char, 16> storage{};
    b.non_blocking(true);
    call_counter counter(b.native_handle());
    std::error_code ec;
    b.receive_message(after_would_block, asio::buffer(storage), nullptr, {}, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    std::array<unixdgram::receive_entry, 1> entries;
    entries[0].buffer = asio::buffer(storage);
    CHECK(b.receive_many(after_would_block, entries, 0, ec) == 0);
    CHECK(ec == errno_is{EAGAIN});
    CHECK(counter.since().receives() == 2);
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "a receive after would-block is ended by per-operation cancellation and by "
                  "close, takes nothing, and completes outside its call on a closed socket")
{
    std::array<char, 16> storage{};
    const auto buffer = asio::buffer(storage);
    SUBCASE("cancelled while it waits")
    {
        const asio::cancellation_type type = each_cancellation_type();
        asio::cancellation_signal signal;
        completion<unixdgram::receive_result> received;
        received.start([&](auto handler) {
            b.async_receive_message(after_would_block, buffer, nullptr, {}, 0,
                                    asio::bind_cancellation_slot(signal.slot(), handler));
        });
        io.restart();
        io.poll();
        REQUIRE(received.calls == 0);
        signal.emit(type);
        run();
        CHECK(received.calls == 1);
        CHECK(received.ec == asio::error::operation_aborted);
        // Nothing was taken: the next datagram is the next receive's.
        a.send(asio::buffer(std::string_view("after")));
        CHECK(b.receive_message(after_would_block, buffer, nullptr).bytes == 5);
    }
    SUBCASE("closed while it waits, then reopened: the new socket's datagram stays")
    {
        completion<std::size_t> received;
        std::array<unixdgram::receive_entry, 1> entries;
        entries[0].buffer = buffer;
        received.start([&](auto handler) {
            server->async_receive_many(after_would_block, entries, 0, handler);
        });
        io.restart();
        io.poll();
        REQUIRE(received.calls == 0);
        server->close();
        std::filesystem::remove(directory.path / "server");
        server->open();
        server->bind(server_endpoint);
        client.send_to(asio::buffer(std::string_view("new")), server_endpoint);
        run();
        CHECK(received.calls == 1);
        CHECK(received.ec == asio::error::operation_aborted);
        CHECK(drain(server->native_handle()) == std::vector<std::string>{"new"});
    }
    SUBCASE("on a closed socket")
    {
        b.close();
        completion<unixdgram::receive_result> received;
        received.start([&](auto handler) {
            b.async_receive_message(after_would_block, buffer, nullptr, {}, 0, handler);
        });
        CHECK(received.calls == 0);
        run();
        CHECK(received.calls == 1);
        CHECK(received.ec == asio::error::bad_descriptor);
        std::error_code ec;
        b.receive_message(after_would_block, buffer, nullptr, {}, 0, ec);
        CHECK(ec == asio::error::bad_descriptor);
    }
}

TEST_CASE_FIXTURE(after_would_block_fixture,
                  "receives after would-block that wait allocate nothing in steady state")
{
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    int failures = 0;
    auto one_waited_receive = [&] {
        bool done = false;
        // Started from a handler, where Asio recycles operation memory.
        asio::post(io, [&] {
            std::error_code ec;
            b.try_receive_message(asio::buffer(storage), nullptr, fds, 0, ec);
            if (ec != errno_is{EAGAIN})
                ++failures;
            b.async_receive_message(after_would_block, asio::buffer(storage), nullptr, fds, 0,
                                    [&](std::error_code error, unixdgram::receive_result result) {
                                        failures += error || result.bytes != 1 ? 1 : 0;
                                        done = true;
                                    });
        });
        io.restart();
        io.poll();
        if (done)
            ++failures;
        const char byte = 'x';
        if (::send(a.native_handle(), &byte, 1, MSG_DONTWAIT) != 1)
            ++failures;
        io.restart();
        while (!done && io.run_one_for(safety_timeout) > 0) {
        }
        if (!done)
            ++failures;
    };
    for (int warm_up = 0; warm_up < 100; ++warm_up)
        one_waited_receive();
    const std::size_t before = heap_allocations();
    for (int measured = 0; measured < 100; ++measured)
        one_waited_receive();
    CHECK(heap_allocations() - before == 0);
    CHECK(failures == 0);
}
