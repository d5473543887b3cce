//
// message_test.hpp — what the sources of the test_message executable share:
// the socket type, the fixture, the counting of system calls, and
// send_message and receive_message as operations of every completion form.
//
// test_message tests the general send and receive (unixdgram/message.hpp
// and the "Messages" group of datagram_socket.hpp). Its cases are split by
// concept into the test_*.cpp files of this directory and linked into one
// executable: one meson test whose TAP lists every case, and one link.
// syscall_counting.hpp counts the system calls.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_MESSAGE_TEST_HPP
#define UNIXDGRAM_TEST_MESSAGE_TEST_HPP

#include "completion_forms.hpp"
#include "credentials_test.hpp"
#include "socket_operations.hpp"
#include "syscall_counting.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

namespace unixdgram_test {

using socket_type = unixdgram::datagram_socket<>;
using unixdgram::credentials;
using unixdgram::endpoint;
using unixdgram::receive_result;
using unixdgram::send_control;

// ---------------------------------------------------------------------------
// Fixture and helpers
// ---------------------------------------------------------------------------

/// Sockets of every kind a message goes between: a connected pair (a, b),
/// two sockets bound to abstract names (client, server) and an open socket
/// with no name (unnamed).
struct message_fixture : io_fixture {
    socket_type a{io};
    socket_type b{io};
    std::string server_name = unique_abstract_name("server");
    std::string client_name = unique_abstract_name("client");
    endpoint server_endpoint = unixdgram::make_endpoint(server_name);
    endpoint client_endpoint = unixdgram::make_endpoint(client_name);
    socket_type server{io};
    socket_type client{io};
    socket_type unnamed{io};

    message_fixture()
    {
        connect_pair(a, b);
        server.open();
        server.bind(server_endpoint);
        client.open();
        client.bind(client_endpoint);
        unnamed.open();
    }
};

/// Where a send from `fixture.client` to `fixture.server` goes, one subcase
/// each: to the server's endpoint, which it returns, or to the connected
/// peer (it connects the client), when it returns null.
inline const endpoint* each_way_to_the_server(message_fixture& fixture)
{
    const endpoint* destination = nullptr;
    SUBCASE("to a destination endpoint")
    {
        destination = &fixture.server_endpoint;
    }
    SUBCASE("to the connected peer")
    {
        fixture.client.connect(fixture.server_endpoint);
    }
    return destination;
}

/// Takes one datagram from `fd` without the library (nor the counted
/// recvfrom/recvmsg: glibc's recv calls the kernel itself); false when none
/// was queued.
inline bool drain_one(int fd)
{
    char byte;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

/// The datagrams queued at `socket`, taken from it (texts of at most 64
/// bytes).
inline std::vector<std::string> drain_all(socket_type& socket)
{
    std::vector<std::string> texts;
    std::array<char, 64> storage{};
    for (;;) {
        std::error_code ec;
        const receive_result got =
            socket.try_receive_message(asio::buffer(storage), nullptr, {}, 0, ec);
        if (ec) {
            REQUIRE(ec == errno_is{EAGAIN});
            return texts;
        }
        texts.emplace_back(storage.data(), got.bytes);
    }
}

/// Takes the datagrams queued at `socket` and checks that they are the
/// `queued` one-byte datagrams of fill_queue, and nothing else.
inline void check_only_filler_queued(socket_type& socket, std::size_t queued)
{
    const std::vector<std::string> texts = drain_all(socket);
    CHECK(texts.size() == queued);
    for (const std::string& text : texts)
        CHECK(text == "f");
}

/// On a thread of its own, runs `action` once `ready()` holds, then waits
/// for the call under test to return (finish()). Should ready() not hold, or
/// the call not return, within the safety timeout, it runs `action` (again)
/// to rescue the call, and records that it was late: the call then ends in a
/// failed check instead of a hung test. When finish() comes before ready()
/// holds, `action` never runs. ready() is polled every millisecond.
class act_when {
public:
    act_when(std::function<bool()> ready, std::function<void()> action)
        : ready_(std::move(ready)), action_(std::move(action)), thread_([this] { run(); })
    {
    }
    act_when(const act_when&) = delete;
    act_when& operator=(const act_when&) = delete;
    ~act_when() { finish(); }

    /// The call under test returned; waits for the thread.
    void finish()
    {
        {
            const std::lock_guard lock(mutex_);
            finished_ = true;
        }
        changed_.notify_all();
        if (thread_.joinable())
            thread_.join();
    }

    /// The action had to rescue the call.
    bool late() const { return late_; }

private:
    void run()
    {
        const auto deadline = std::chrono::steady_clock::now() + safety_timeout;
        std::unique_lock lock(mutex_);
        while (!finished_ && !ready_()) {
            if (changed_.wait_until(lock,
                                    std::min(deadline, std::chrono::steady_clock::now() +
                                                           std::chrono::milliseconds(1)),
                                    [this] { return finished_; }))
                return;
            if (std::chrono::steady_clock::now() >= deadline) {
                late_ = true;
                break;
            }
        }
        if (finished_)
            return;
        lock.unlock();
        action_();
        lock.lock();
        if (late_ || !changed_.wait_for(lock, safety_timeout, [this] { return finished_; })) {
            late_ = true;
            lock.unlock();
            action_();
        }
    }

    std::function<bool()> ready_;
    std::function<void()> action_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool finished_ = false;
    bool late_ = false;
    std::thread thread_;
};

// ---------------------------------------------------------------------------
// send_message and receive_message in every form (socket_operations.hpp)
// ---------------------------------------------------------------------------

using send_outcome = outcome<std::size_t>;
using receive_outcome = outcome<receive_result>;

// Each runs an operation of socket_operations.hpp in `Form`. The forms'
// machinery is most of what a test in every form costs to compile, so these
// are compiled once, in message_forms.cpp, for every form of
// completion_forms_and_try and the buffer sequences the tests use: one
// buffer or two, asio::const_buffer for a send and asio::mutable_buffer for
// a receive (another is a link error).

/// `socket.send_message(buffers, destination, control)` in `Form`.
template <typename Form, typename Buffers>
send_outcome send_message_in(message_fixture& fixture, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control);

/// `socket.receive_message(buffers, sender, fds)` in `Form`.
template <typename Form, typename Buffers>
receive_outcome receive_message_in(message_fixture& fixture, socket_type& socket,
                                   const Buffers& buffers, endpoint* sender,
                                   std::span<unixdgram::file_descriptor> fds);

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_MESSAGE_TEST_HPP
