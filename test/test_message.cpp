//
// test_message.cpp — the general send and receive (message.hpp and the
// "Messages" group of datagram_socket.hpp): send_message and receive_message
// in each of their forms (throwing, std::error_code&, try_, and async with a
// callback, asio::use_future and asio::use_awaitable), explicit credentials
// (send_control::sender_credentials), and the number of system calls each
// send and receive makes (issue 10: one when it does not block, two when it
// waits).
//
// The system calls are counted by interposition: this executable defines
// sendto, sendmsg, recvfrom and recvmsg itself, counting each call per
// descriptor and forwarding it to the kernel with syscall(2). The library is
// header-only and compiled into this executable, so its calls bind to these
// definitions; the reactor's own calls (epoll_wait, epoll_ctl, poll) are not
// among them and are not counted. A send that waits for room at a
// destination waits on a probe socket connected there
// (detail/destination_wait.hpp), which only connects and is polled, never
// sends: the counts are those of the operation's own descriptor, and the
// waiting tests also check that no other descriptor sent meanwhile.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <grp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Counting system calls
// ---------------------------------------------------------------------------

namespace {

enum call_kind : int { sendto_call, sendmsg_call, recvfrom_call, recvmsg_call, call_kinds };

constexpr int counted_fds = 1024;

// Calls per descriptor number and kind, and sends on any descriptor at all
// (to see that nothing but the sending socket sends while a send waits).
std::atomic<unsigned> calls_per_fd[counted_fds][call_kinds];
std::atomic<unsigned> sends_on_any_fd;

// The SCM_CREDENTIALS of the last sendmsg that carried them.
std::mutex sent_credentials_mutex;
std::optional<ucred> last_sent_credentials;

void count_call(int fd, call_kind kind) noexcept
{
    if (fd >= 0 && fd < counted_fds)
        calls_per_fd[fd][kind].fetch_add(1, std::memory_order_relaxed);
    if (kind == sendto_call || kind == sendmsg_call)
        sends_on_any_fd.fetch_add(1, std::memory_order_relaxed);
}

void record_sent_credentials(const msghdr* message) noexcept
{
    if (message == nullptr || message->msg_control == nullptr)
        return;
    auto* examined = const_cast<msghdr*>(message);
    for (cmsghdr* header = CMSG_FIRSTHDR(examined); header != nullptr;
         header = CMSG_NXTHDR(examined, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS &&
            header->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            ucred sent;
            std::memcpy(&sent, CMSG_DATA(header), sizeof(sent));
            const std::lock_guard lock(sent_credentials_mutex);
            last_sent_credentials = sent;
        }
    }
}

} // namespace

extern "C" ssize_t sendto(int fd, const void* buffer, size_t length, int flags,
                          const struct sockaddr* address, socklen_t address_length)
{
    count_call(fd, sendto_call);
    return ::syscall(SYS_sendto, fd, buffer, length, flags, address, address_length);
}

extern "C" ssize_t sendmsg(int fd, const struct msghdr* message, int flags)
{
    count_call(fd, sendmsg_call);
    record_sent_credentials(message);
    return ::syscall(SYS_sendmsg, fd, message, flags);
}

extern "C" ssize_t recvfrom(int fd, void* buffer, size_t length, int flags,
                            struct sockaddr* address, socklen_t* address_length)
{
    count_call(fd, recvfrom_call);
    return ::syscall(SYS_recvfrom, fd, buffer, length, flags, address, address_length);
}

extern "C" ssize_t recvmsg(int fd, struct msghdr* message, int flags)
{
    count_call(fd, recvmsg_call);
    return ::syscall(SYS_recvmsg, fd, message, flags);
}

namespace {

struct call_counts {
    unsigned sendto = 0;
    unsigned sendmsg = 0;
    unsigned recvfrom = 0;
    unsigned recvmsg = 0;

    unsigned sends() const { return sendto + sendmsg; }
    unsigned receives() const { return recvfrom + recvmsg; }
    unsigned total() const { return sends() + receives(); }
};

/// The calls made on one descriptor since the counter was made.
class call_counter {
public:
    explicit call_counter(int fd) : fd_(fd), start_(read(fd)), any_start_(sends_on_any_fd.load())
    {
        REQUIRE(fd >= 0);
        REQUIRE(fd < counted_fds);
    }

    call_counts since() const
    {
        const call_counts now = read(fd_);
        return {now.sendto - start_.sendto, now.sendmsg - start_.sendmsg,
                now.recvfrom - start_.recvfrom, now.recvmsg - start_.recvmsg};
    }

    /// Sends on every descriptor since the counter was made.
    unsigned sends_on_any() const { return sends_on_any_fd.load() - any_start_; }

private:
    static call_counts read(int fd)
    {
        return {calls_per_fd[fd][sendto_call].load(), calls_per_fd[fd][sendmsg_call].load(),
                calls_per_fd[fd][recvfrom_call].load(), calls_per_fd[fd][recvmsg_call].load()};
    }

    int fd_;
    call_counts start_;
    unsigned any_start_;
};

} // namespace

namespace doctest {

template <>
struct StringMaker<unixdgram::credentials> {
    static String convert(const unixdgram::credentials& who)
    {
        const std::string text = "{pid " + std::to_string(who.pid) + ", uid " +
                                 std::to_string(who.uid) + ", gid " + std::to_string(who.gid) + "}";
        return String(text.c_str());
    }
};

} // namespace doctest

// ---------------------------------------------------------------------------
// Fixture and helpers
// ---------------------------------------------------------------------------

namespace {

using socket_type = unixdgram::datagram_socket<>;
using unixdgram::credentials;
using unixdgram::endpoint;
using unixdgram::receive_result;
using unixdgram::send_control;

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

std::string_view text_of(std::span<const char> storage, std::size_t length)
{
    REQUIRE(length <= storage.size());
    return {storage.data(), length};
}

credentials own_credentials()
{
    return {::getpid(), ::getuid(), ::getgid()};
}

/// Takes one datagram from `fd` without the library (nor the counted
/// recvfrom/recvmsg: glibc's recv calls the kernel itself); false when none
/// was queued.
bool drain_one(int fd)
{
    char byte;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

/// The datagrams queued at `socket`, taken from it (texts of at most 64
/// bytes).
std::vector<std::string> drain_all(socket_type& socket)
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

std::optional<credentials> credentials_last_sent()
{
    const std::lock_guard lock(sent_credentials_mutex);
    if (!last_sent_credentials)
        return std::nullopt;
    return credentials{last_sent_credentials->pid, last_sent_credentials->uid,
                       last_sent_credentials->gid};
}

void forget_credentials_sent()
{
    const std::lock_guard lock(sent_credentials_mutex);
    last_sent_credentials.reset();
}

/// Runs the io_context in a thread of its own for asio::use_future.
class background_io {
public:
    explicit background_io(asio::io_context& io)
        : io_(io), work_(io.get_executor()), runner_([this] { io_.run(); })
    {
    }
    background_io(const background_io&) = delete;
    background_io& operator=(const background_io&) = delete;
    ~background_io()
    {
        work_.reset();
        io_.stop();
        runner_.join();
    }

private:
    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread runner_;
};

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
                                    std::min(deadline, std::chrono::steady_clock::now() + 1ms),
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

/// Fills `destination`'s queue with one-byte datagrams from `sender`
/// (which is left in blocking mode); returns how many it took.
std::size_t fill_queue_counted(socket_type& sender, const endpoint& destination)
{
    sender.non_blocking(true);
    const char byte = 'f';
    std::error_code ec;
    std::size_t sent = 0;
    for (; sent < 100000; ++sent) {
        sender.send_to(asio::buffer(&byte, 1), destination, 0, ec);
        if (ec)
            break;
    }
    REQUIRE(ec == errno_is{EAGAIN});
    sender.non_blocking(false);
    return sent;
}

// ---------------------------------------------------------------------------
// The forms of send_message and receive_message, written once
// ---------------------------------------------------------------------------

/// What a send or receive reported: its error (none when it succeeded) and
/// its value.
template <typename Value>
struct outcome {
    std::error_code ec;
    Value value{};
    /// The thrown exception's what(), in the throwing form.
    std::string what;
};

using send_outcome = outcome<std::size_t>;
using receive_outcome = outcome<receive_result>;

/// An error nobody reports, to see that a form clears its error code.
std::error_code unlikely_error()
{
    return std::make_error_code(std::errc::io_error);
}

struct throwing_form {
    template <typename Buffers>
    static send_outcome send(message_fixture&, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        send_outcome out;
        try {
            out.value = socket.send_message(buffers, destination, control);
        } catch (const std::system_error& failure) {
            out.ec = failure.code();
            out.what = failure.what();
        }
        return out;
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture&, socket_type& socket, const Buffers& buffers,
                                   endpoint* sender, std::span<file_descriptor> fds)
    {
        receive_outcome out;
        try {
            out.value = socket.receive_message(buffers, sender, fds);
        } catch (const std::system_error& failure) {
            out.ec = failure.code();
            out.what = failure.what();
        }
        return out;
    }
};

struct error_code_form {
    template <typename Buffers>
    static send_outcome send(message_fixture&, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        send_outcome out;
        out.ec = unlikely_error();
        out.value = socket.send_message(buffers, destination, control, 0, out.ec);
        return out;
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture&, socket_type& socket, const Buffers& buffers,
                                   endpoint* sender, std::span<file_descriptor> fds)
    {
        receive_outcome out;
        out.ec = unlikely_error();
        out.value = socket.receive_message(buffers, sender, fds, 0, out.ec);
        return out;
    }
};

struct try_form {
    template <typename Buffers>
    static send_outcome send(message_fixture&, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        send_outcome out;
        out.ec = unlikely_error();
        out.value = socket.try_send_message(buffers, destination, control, 0, out.ec);
        return out;
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture&, socket_type& socket, const Buffers& buffers,
                                   endpoint* sender, std::span<file_descriptor> fds)
    {
        receive_outcome out;
        out.ec = unlikely_error();
        out.value = socket.try_receive_message(buffers, sender, fds, 0, out.ec);
        return out;
    }
};

struct callback_form {
    template <typename Buffers>
    static send_outcome send(message_fixture& fixture, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            socket.async_send_message(buffers, destination, control, 0, handler);
        });
        CHECK(sending.calls == 0);
        fixture.run();
        REQUIRE(sending.calls == 1);
        return {sending.ec, sending.result, {}};
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture& fixture, socket_type& socket,
                                   const Buffers& buffers, endpoint* sender,
                                   std::span<file_descriptor> fds)
    {
        completion<receive_result> receiving;
        receiving.start(
            [&](auto handler) { socket.async_receive_message(buffers, sender, fds, 0, handler); });
        CHECK(receiving.calls == 0);
        fixture.run();
        REQUIRE(receiving.calls == 1);
        return {receiving.ec, std::move(receiving.result), {}};
    }
};

template <typename Value>
void take_future(std::future<Value>& result, outcome<Value>& out)
{
    REQUIRE(result.wait_for(safety_timeout) == std::future_status::ready);
    try {
        out.value = result.get();
    } catch (const std::system_error& failure) {
        out.ec = failure.code();
        out.what = failure.what();
    }
}

struct future_form {
    template <typename Buffers>
    static send_outcome send(message_fixture& fixture, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        fixture.io.restart();
        background_io runner(fixture.io);
        std::future<std::size_t> result =
            socket.async_send_message(buffers, destination, control, 0, asio::use_future);
        send_outcome out;
        take_future(result, out);
        return out;
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture& fixture, socket_type& socket,
                                   const Buffers& buffers, endpoint* sender,
                                   std::span<file_descriptor> fds)
    {
        fixture.io.restart();
        background_io runner(fixture.io);
        std::future<receive_result> result =
            socket.async_receive_message(buffers, sender, fds, 0, asio::use_future);
        receive_outcome out;
        take_future(result, out);
        return out;
    }
};

struct awaitable_form {
    template <typename Buffers>
    static send_outcome send(message_fixture& fixture, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
    {
        send_outcome out;
        auto body = [](socket_type& from, const Buffers& data, const endpoint* to,
                       const send_control& with, send_outcome& into) -> asio::awaitable<void> {
            try {
                into.value =
                    co_await from.async_send_message(data, to, with, 0, asio::use_awaitable);
            } catch (const std::system_error& failure) {
                into.ec = failure.code();
                into.what = failure.what();
            }
        };
        run_coroutine(fixture.io, body(socket, buffers, destination, control, out));
        return out;
    }

    template <typename Buffers>
    static receive_outcome receive(message_fixture& fixture, socket_type& socket,
                                   const Buffers& buffers, endpoint* sender,
                                   std::span<file_descriptor> fds)
    {
        receive_outcome out;
        auto body = [](socket_type& at, const Buffers& into_buffers, endpoint* from,
                       std::span<file_descriptor> room,
                       receive_outcome& into) -> asio::awaitable<void> {
            try {
                into.value = co_await at.async_receive_message(into_buffers, from, room, 0,
                                                               asio::use_awaitable);
            } catch (const std::system_error& failure) {
                into.ec = failure.code();
                into.what = failure.what();
            }
        };
        run_coroutine(fixture.io, body(socket, buffers, sender, fds, out));
        return out;
    }
};

using all_forms = std::tuple<throwing_form, error_code_form, try_form, callback_form, future_form,
                             awaitable_form>;

} // namespace

TYPE_TO_STRING_AS("throwing form", throwing_form);
TYPE_TO_STRING_AS("error_code form", error_code_form);
TYPE_TO_STRING_AS("try_ form", try_form);
TYPE_TO_STRING_AS("callback form", callback_form);
TYPE_TO_STRING_AS("use_future form", future_form);
TYPE_TO_STRING_AS("use_awaitable form", awaitable_form);

// ---------------------------------------------------------------------------
// Every form: peers, destinations, descriptors, truncation
// ---------------------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("send_message and receive_message carry a datagram to the connected peer",
                          Form, carry_to_peer)
{
    message_fixture f;
    std::array<char, 64> storage{};
    send_outcome sent;
    receive_outcome got;
    std::string_view expected;

    SUBCASE("in one buffer")
    {
        expected = "to the peer";
        sent = Form::send(f, f.a, asio::buffer(expected), nullptr, {});
        got = Form::receive(f, f.b, asio::buffer(storage), nullptr, {});
    }
    SUBCASE("gathered from two buffers and scattered into two")
    {
        expected = "gathered, scattered";
        const std::array<asio::const_buffer, 2> pieces{asio::buffer(expected.substr(0, 9)),
                                                       asio::buffer(expected.substr(9))};
        sent = Form::send(f, f.a, pieces, nullptr, {});
        const std::array<asio::mutable_buffer, 2> halves{asio::buffer(storage.data(), 5),
                                                         asio::buffer(storage.data() + 5, 59)};
        got = Form::receive(f, f.b, halves, nullptr, {});
    }
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == expected.size());
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == expected);
    CHECK(got.value.fds.empty());
    CHECK_FALSE(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    CHECK_FALSE(got.value.sender_credentials.has_value());
    CHECK_FALSE(got.value.sender_pidfd);
    CHECK(f.b.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(carry_to_peer, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "send_message to a destination endpoint arrives there with the sender's address", Form,
    carry_to_destination)
{
    message_fixture f;
    const std::string_view message = "addressed";
    std::array<char, 64> storage{};
    endpoint sender = unixdgram::make_endpoint("stale address");
    socket_type* from = nullptr;
    std::string expected_sender;

    SUBCASE("from a named socket")
    {
        from = &f.client;
        expected_sender = f.client_name;
    }
    SUBCASE("from an unnamed socket")
    {
        from = &f.unnamed;
    }
    const send_outcome sent = Form::send(f, *from, asio::buffer(message), &f.server_endpoint, {});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == message.size());
    const receive_outcome got = Form::receive(f, f.server, asio::buffer(storage), &sender, {});
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == message);
    CHECK(sender.path() == expected_sender);
    if (expected_sender.empty())
        CHECK(sender == endpoint());
    CHECK(f.server.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(carry_to_destination, all_forms);

TEST_CASE_TEMPLATE_DEFINE("send_message passes descriptors that receive_message hands over", Form,
                          pass_descriptors)
{
    message_fixture f;
    const std::string_view message = "with descriptors";
    pipe_ends pipe = make_pipe();
    file_descriptor file = file_with_content("file content");
    const std::array<int, 2> fds_to_send{pipe.read_end.get(), file.get()};
    std::array<char, 64> storage{};
    // The third entry holds a descriptor from before: the receive closes it.
    pipe_ends earlier = make_pipe();
    std::array<file_descriptor, 3> fds;
    fds[2] = std::move(earlier.write_end);
    socket_type* from = nullptr;
    socket_type* to = nullptr;
    const endpoint* destination = nullptr;
    endpoint sender;
    endpoint* sender_wanted = nullptr;

    SUBCASE("to the connected peer")
    {
        from = &f.a;
        to = &f.b;
    }
    SUBCASE("to a destination endpoint, naming the sender")
    {
        from = &f.client;
        to = &f.server;
        destination = &f.server_endpoint;
        sender_wanted = &sender;
    }
    const send_outcome sent =
        Form::send(f, *from, asio::buffer(message), destination, {.fds = fds_to_send});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == message.size());
    const receive_outcome got = Form::receive(f, *to, asio::buffer(storage), sender_wanted, fds);
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == message);
    REQUIRE(got.value.fds.size() == 2);
    CHECK(got.value.fds.data() == fds.data());
    CHECK_FALSE(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    if (sender_wanted)
        CHECK(sender.path() == f.client_name);

    REQUIRE(fds[0]);
    REQUIRE(fds[1]);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(is_cloexec(fds[1].get()));
    CHECK(fds[0].get() != pipe.read_end.get());
    write_all(pipe.write_end.get(), "through the pipe");
    CHECK(read_some(fds[0].get()) == "through the pipe");
    CHECK(read_some(fds[1].get()) == "file content");
    CHECK_FALSE(fds[2]);
    CHECK(all_writers_gone(earlier.read_end.get()));
}
TEST_CASE_TEMPLATE_APPLY(pass_descriptors, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message reports a truncated datagram in its result, not as an error", Form,
    report_truncation)
{
    message_fixture f;
    const std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz";
    std::array<char, 4> storage{};
    REQUIRE_FALSE(Form::send(f, f.a, asio::buffer(alphabet), nullptr, {}).ec);
    receive_outcome got;
    std::string_view expected;
    SUBCASE("into one buffer")
    {
        got = Form::receive(f, f.b, asio::buffer(storage), nullptr, {});
        expected = "abcd";
    }
    SUBCASE("into two buffers")
    {
        const std::array<asio::mutable_buffer, 2> halves{asio::buffer(storage.data(), 1),
                                                         asio::buffer(storage.data() + 1, 3)};
        got = Form::receive(f, f.b, halves, nullptr, {});
        expected = "abcd";
    }
    SUBCASE("into no room at all")
    {
        got = Form::receive(f, f.b, asio::mutable_buffer(), nullptr, {});
    }
    CHECK_FALSE(got.ec);
    CHECK(got.value.bytes == expected.size());
    CHECK(text_of(storage, got.value.bytes) == expected);
    CHECK(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    // The rest of the datagram is gone, not left for the next receive.
    CHECK(f.b.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(report_truncation, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message closes the descriptors it has no room for and reports control_truncated", Form,
    report_control_truncation)
{
    message_fixture f;
    // Each descriptor sent is the only other write end of a pipe, so that a
    // read of the pipe tells whether the received copy was closed.
    std::size_t sent_count = 0;
    std::size_t room = 0;
    SUBCASE("three descriptors, room for one")
    {
        sent_count = 3;
        room = 1;
    }
    SUBCASE("three descriptors, an empty span")
    {
        sent_count = 3;
        room = 0;
    }
    SUBCASE("more descriptors than the control buffer has room for, room for one")
    {
        sent_count = 40;
        room = 1;
    }
    std::vector<pipe_ends> pipes;
    std::vector<int> fds_to_send;
    for (std::size_t i = 0; i < sent_count; ++i) {
        pipes.push_back(make_pipe());
        fds_to_send.push_back(pipes.back().write_end.get());
    }
    REQUIRE_FALSE(
        Form::send(f, f.a, asio::buffer(std::string_view("many")), nullptr, {.fds = fds_to_send})
            .ec);
    for (pipe_ends& each : pipes)
        each.write_end.reset();

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got =
        Form::receive(f, f.b, asio::buffer(storage), nullptr, std::span(fds).first(room));
    CHECK_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "many");
    CHECK_FALSE(got.value.truncated);
    CHECK(got.value.control_truncated);
    REQUIRE(got.value.fds.size() == room);
    if (room == 1) {
        // The first descriptor sent is the one handed over.
        REQUIRE(fds[0]);
        write_all(fds[0].get(), "kept");
        CHECK(read_some(pipes[0].read_end.get()) == "kept");
    }
    for (std::size_t i = room; i < sent_count; ++i) {
        CAPTURE(i);
        CHECK(all_writers_gone(pipes[i].read_end.get()));
    }
}
TEST_CASE_TEMPLATE_APPLY(report_control_truncation, all_forms);

TEST_CASE_TEMPLATE_DEFINE("send_message refuses more than max_fds_per_datagram descriptors", Form,
                          refuse_too_many_fds)
{
    message_fixture f;
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram + 1, null_file.get());
    call_counter counter(f.a.native_handle());
    const send_outcome sent = Form::send(f, f.a, asio::buffer(std::string_view("too many")),
                                         nullptr, {.fds = fds_to_send});
    CHECK(sent.ec == unixdgram::error::too_many_fds);
    CHECK(counter.since().total() == 0);
    CHECK(f.b.bytes_readable() == 0);
    // The socket is still usable.
    REQUIRE_FALSE(Form::send(f, f.a, asio::buffer(std::string_view("fine")), nullptr,
                             {.fds = std::span(fds_to_send).first(1)})
                      .ec);
    CHECK(f.b.bytes_readable() == 4);
}
TEST_CASE_TEMPLATE_APPLY(refuse_too_many_fds, all_forms);

TEST_CASE_TEMPLATE_DEFINE("a datagram of zero bytes carries descriptors through send_message", Form,
                          empty_datagram_with_fds)
{
    message_fixture f;
    file_descriptor file = file_with_content("no bytes, one file");
    const std::array<int, 1> fds_to_send{file.get()};
    const send_outcome sent =
        Form::send(f, f.a, asio::const_buffer(), nullptr, {.fds = fds_to_send});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == 0);
    std::array<char, 8> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got = Form::receive(f, f.b, asio::buffer(storage), nullptr, fds);
    REQUIRE_FALSE(got.ec);
    CHECK(got.value.bytes == 0);
    CHECK_FALSE(got.value.truncated);
    REQUIRE(got.value.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "no bytes, one file");
}
TEST_CASE_TEMPLATE_APPLY(empty_datagram_with_fds, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message reports truncated bytes and truncated control data of one datagram together",
    Form, both_truncations)
{
    message_fixture f;
    pipe_ends first = make_pipe();
    pipe_ends second = make_pipe();
    const std::array<int, 2> fds_to_send{first.write_end.get(), second.write_end.get()};
    REQUIRE_FALSE(Form::send(f, f.a, asio::buffer(std::string_view("longer than room")), nullptr,
                             {.fds = fds_to_send})
                      .ec);
    first.write_end.reset();
    second.write_end.reset();
    std::array<char, 6> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got = Form::receive(f, f.b, asio::buffer(storage), nullptr, fds);
    CHECK_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "longer");
    CHECK(got.value.truncated);
    CHECK(got.value.control_truncated);
    REQUIRE(got.value.fds.size() == 1);
    write_all(fds[0].get(), "first");
    CHECK(read_some(first.read_end.get()) == "first");
    CHECK(all_writers_gone(second.read_end.get()));
}
TEST_CASE_TEMPLATE_APPLY(both_truncations, all_forms);

TEST_CASE_FIXTURE(message_fixture,
                  "receive_message with message_peek leaves the datagram queued, and each look "
                  "hands over descriptors of its own")
{
    file_descriptor file = file_with_content("peeked");
    const std::array<int, 1> fds_to_send{file.get()};
    a.send_message(asio::buffer(std::string_view("look")), nullptr, {.fds = fds_to_send});
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> peeked;
    const receive_result peek =
        b.receive_message(asio::buffer(storage), nullptr, peeked, socket_type::message_peek);
    CHECK(text_of(storage, peek.bytes) == "look");
    REQUIRE(peek.fds.size() == 1);
    CHECK(same_file(peeked[0].get(), file.get()));
    CHECK(b.bytes_readable() == 4);

    std::array<file_descriptor, 1> taken;
    completion<receive_result> receiving;
    receiving.start([&](auto handler) {
        b.async_receive_message(asio::buffer(storage), nullptr, taken, 0, handler);
    });
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result.bytes) == "look");
    REQUIRE(receiving.result.fds.size() == 1);
    CHECK(same_file(taken[0].get(), file.get()));
    CHECK(taken[0].get() != peeked[0].get());
    CHECK(b.bytes_readable() == 0);
}

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message from a sender no endpoint can name hands over the datagram and its "
    "descriptors, then reports ENAMETOOLONG",
    Form, unnameable_sender)
{
    message_fixture f;
    // An abstract name of all 108 bytes whose last byte is NUL: Linux
    // reports it whole, and an endpoint cannot hold it.
    std::string name = full_length_abstract_name("unnameable");
    name.back() = '\0';
    file_descriptor raw = raw_socket_bound_to(name);
    file_descriptor file = file_with_content("from the unnameable");
    {
        const std::string_view text = "nameless";
        iovec piece{const_cast<char*>(text.data()), text.size()};
        alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, f.server_name.data(), f.server_name.size());
        message.msg_name = &address;
        message.msg_namelen =
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + f.server_name.size());
        message.msg_iov = &piece;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof(control);
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        const int fd = file.get();
        std::memcpy(CMSG_DATA(header), &fd, sizeof(fd));
        REQUIRE(::sendmsg(raw.get(), &message, 0) == static_cast<ssize_t>(text.size()));
    }
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    endpoint sender = unixdgram::make_endpoint("stale");
    const receive_outcome got = Form::receive(f, f.server, asio::buffer(storage), &sender, fds);
    CHECK(got.ec == errno_is{ENAMETOOLONG});
    CHECK(sender == endpoint());
    // The datagram is taken, whatever form the report took: the bytes are in
    // the buffer and the descriptor in the caller's span.
    CHECK(f.server.bytes_readable() == 0);
    CHECK(text_of(storage, 8) == "nameless");
    REQUIRE(fds[0]);
    CHECK(read_some(fds[0].get()) == "from the unnameable");
    if constexpr (!std::is_same_v<Form, throwing_form> && !std::is_same_v<Form, future_form> &&
                  !std::is_same_v<Form, awaitable_form>) {
        // Where the result survives the error, it says what came.
        CHECK(got.value.bytes == 8);
        CHECK(got.value.fds.size() == 1);
    }
}
TEST_CASE_TEMPLATE_APPLY(unnameable_sender, all_forms);

TEST_CASE_FIXTURE(message_fixture,
                  "async_send_message copies its destination and credentials, so the caller's "
                  "may change while it waits")
{
    server.set_option(unixdgram::pass_credentials(true));
    fill_queue_counted(client, server_endpoint);
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
    const endpoint* destination = nullptr;
    SUBCASE("to a destination endpoint")
    {
        destination = &server_endpoint;
    }
    SUBCASE("to the connected peer")
    {
        client.connect(server_endpoint);
    }
    const std::size_t queued = fill_queue_counted(client, server_endpoint);
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
    const std::vector<std::string> texts = drain_all(server);
    CHECK(texts.size() == queued);
    for (const std::string& text : texts)
        CHECK(text == "f");
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
        fill_queue_counted(client, server_endpoint);
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
    asio::cancellation_type type = asio::cancellation_type::terminal;
    SUBCASE("terminal")
    {
        type = asio::cancellation_type::terminal;
    }
    SUBCASE("partial")
    {
        type = asio::cancellation_type::partial;
    }
    SUBCASE("total")
    {
        type = asio::cancellation_type::total;
    }
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
    const endpoint* destination = nullptr;
    SUBCASE("to a destination endpoint")
    {
        destination = &server_endpoint;
    }
    SUBCASE("to the connected peer")
    {
        client.connect(server_endpoint);
    }
    const std::size_t queued = fill_queue_counted(client, server_endpoint);
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
    const std::vector<std::string> texts = drain_all(server);
    CHECK(texts.size() == queued);
    for (const std::string& text : texts)
        CHECK(text == "f");
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

// ---------------------------------------------------------------------------
// Explicit credentials (send_control::sender_credentials)
// ---------------------------------------------------------------------------

namespace {

bool running_as_root()
{
    return ::geteuid() == 0;
}

/// A pid no process has: a child's, after it was reaped. (Linux hands out
/// pids in increasing order, so it is not soon reused.)
pid_t reaped_pid()
{
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0)
        ::_exit(0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    return child;
}

/// After a send of credentials the kernel refused with `expected`: the
/// send reported it (the throwing form naming send_message; use_future and
/// use_awaitable throw Asio's exceptions, made from the error code alone),
/// sent nothing, and `f.a` still sends to `f.b`, which passes credentials.
template <typename Form>
void check_refused(message_fixture& f, const send_outcome& refused, int expected)
{
    CHECK(refused.ec == errno_is{expected});
    CHECK(refused.value == 0);
    if constexpr (std::is_same_v<Form, throwing_form>)
        CHECK(refused.what.find("send_message") != std::string::npos);
    CHECK(f.b.bytes_readable() == 0);

    std::array<char, 16> storage{};
    REQUIRE_FALSE(Form::send(f, f.a, asio::buffer(std::string_view("fine")), nullptr, {}).ec);
    const receive_outcome got = Form::receive(f, f.b, asio::buffer(storage), nullptr, {});
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "fine");
    CHECK(got.value.sender_credentials == std::optional(own_credentials()));
}

/// A child that does nothing until released: a live process that is not us.
struct idle_child {
    pid_t pid = -1;
    pipe_ends hold = make_pipe();

    idle_child()
    {
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            hold.write_end.reset();
            char byte;
            while (::read(hold.read_end.get(), &byte, 1) < 0 && errno == EINTR) {
            }
            ::_exit(0);
        }
        hold.read_end.reset();
    }
    idle_child(const idle_child&) = delete;
    idle_child& operator=(const idle_child&) = delete;
    ~idle_child()
    {
        hold.write_end.reset();
        int status = 0;
        ::waitpid(pid, &status, 0);
    }
};

} // namespace

TEST_CASE_TEMPLATE_DEFINE("send_message with this process's own credentials delivers exactly those",
                          Form, own_credentials_arrive)
{
    message_fixture f;
    f.b.set_option(unixdgram::pass_credentials(true));
    forget_credentials_sent();
    std::array<char, 16> storage{};
    const send_outcome sent = Form::send(f, f.a, asio::buffer(std::string_view("mine")), nullptr,
                                         {.sender_credentials = own_credentials()});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == 4);
    // The kernel would attach these credentials anyway: what tells that they
    // were sent is the SCM_CREDENTIALS message sendmsg carried.
    CHECK(credentials_last_sent() == std::optional(own_credentials()));
    const receive_outcome got = Form::receive(f, f.b, asio::buffer(storage), nullptr, {});
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "mine");
    REQUIRE(got.value.sender_credentials.has_value());
    CHECK(*got.value.sender_credentials == own_credentials());
}
TEST_CASE_TEMPLATE_APPLY(own_credentials_arrive, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "as root, send_message with another live process's pid or other ids delivers them as sent" *
        doctest::skip(!running_as_root()),
    Form, root_credentials_arrive)
{
    message_fixture f;
    f.b.set_option(unixdgram::pass_credentials(true));
    idle_child other;
    credentials claimed;
    bool to_destination = false;
    SUBCASE("another process's pid")
    {
        claimed = {other.pid, ::getuid(), ::getgid()};
    }
    SUBCASE("the parent's pid")
    {
        claimed = {::getppid(), ::getuid(), ::getgid()};
    }
    SUBCASE("another uid and gid")
    {
        claimed = {::getpid(), 4321, 8765};
    }
    SUBCASE("another pid, uid and gid, to a destination endpoint")
    {
        claimed = {other.pid, 4321, 8765};
        to_destination = true;
    }
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    file_descriptor file = file_with_content("with credentials");
    const std::array<int, 1> fds_to_send{file.get()};
    send_outcome sent;
    receive_outcome got;
    if (to_destination) {
        f.server.set_option(unixdgram::pass_credentials(true));
        sent = Form::send(f, f.client, asio::buffer(std::string_view("claimed")),
                          &f.server_endpoint, {.fds = fds_to_send, .sender_credentials = claimed});
        REQUIRE_FALSE(sent.ec);
        got = Form::receive(f, f.server, asio::buffer(storage), nullptr, fds);
    } else {
        sent = Form::send(f, f.a, asio::buffer(std::string_view("claimed")), nullptr,
                          {.fds = fds_to_send, .sender_credentials = claimed});
        REQUIRE_FALSE(sent.ec);
        got = Form::receive(f, f.b, asio::buffer(storage), nullptr, fds);
    }
    CHECK(sent.value == 7);
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "claimed");
    REQUIRE(got.value.sender_credentials.has_value());
    CHECK(*got.value.sender_credentials == claimed);
    REQUIRE(got.value.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "with credentials");
}
TEST_CASE_TEMPLATE_APPLY(root_credentials_arrive, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "as root, send_message naming a pid no process has fails with ESRCH and sends nothing" *
        doctest::skip(!running_as_root()),
    Form, root_dead_pid)
{
    message_fixture f;
    f.b.set_option(unixdgram::pass_credentials(true));
    const pid_t nobody = reaped_pid();
    const send_outcome refused =
        Form::send(f, f.a, asio::buffer(std::string_view("refused")), nullptr,
                   {.sender_credentials = credentials{nobody, ::getuid(), ::getgid()}});
    check_refused<Form>(f, refused, ESRCH);
}
TEST_CASE_TEMPLATE_APPLY(root_dead_pid, all_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "without privileges, send_message naming another pid, uid or gid fails with EPERM and sends "
    "nothing (run as another user than root)" *
        doctest::skip(running_as_root()),
    Form, unprivileged_eperm)
{
    message_fixture f;
    f.b.set_option(unixdgram::pass_credentials(true));
    credentials claimed = own_credentials();
    SUBCASE("the parent's pid")
    {
        claimed.pid = ::getppid();
    }
    SUBCASE("a pid no process has")
    {
        // EPERM, not ESRCH: the kernel checks the permission first.
        claimed.pid = reaped_pid();
    }
    SUBCASE("another uid")
    {
        claimed.uid = claimed.uid == 0 ? 1 : 0;
    }
    SUBCASE("another gid")
    {
        claimed.gid = claimed.gid == 0 ? 1 : 0;
    }
    const send_outcome refused = Form::send(f, f.a, asio::buffer(std::string_view("refused")),
                                            nullptr, {.sender_credentials = claimed});
    check_refused<Form>(f, refused, EPERM);
}
TEST_CASE_TEMPLATE_APPLY(unprivileged_eperm, all_forms);

namespace {

/// What the unprivileged child found, sent to the parent through a pipe.
struct unprivileged_findings {
    int dropped_errno = -1; // 0: setgroups, setgid and setuid succeeded
    int other_pid_errno = -1;
    bool other_pid_system_category = false;
    std::size_t other_pid_bytes = 1;
    int thrown_errno = -1;
    bool thrown_names_send_message = false;
    bool threw_something_else = false;
    int dead_pid_errno = -1;
    int other_uid_errno = -1;
    int other_gid_errno = -1;
    int own_errno = -1;
    int plain_errno = -1;
    int async_errno = -1;
    std::size_t async_bytes = 1;
    int async_calls = -1;
    bool async_inside_initiation = true;
    pid_t pid = 0;
};

} // namespace

TEST_CASE_FIXTURE(message_fixture,
                  "a process dropped to an unprivileged user gets EPERM from send_message for "
                  "another pid, uid or gid, and its socket stays usable (run as root)" *
                      doctest::skip(!running_as_root()))
{
    // Only root can become an unprivileged user in a child (the skip
    // decorator says so in TAP when not root).
    b.set_option(unixdgram::pass_credentials(true));
    const pid_t nobody = reaped_pid();
    constexpr uid_t nobody_uid = 65534;
    constexpr gid_t nobody_gid = 65534;
    pipe_ends report = make_pipe();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // No doctest here: the findings go to the parent, which checks them.
        report.read_end.reset();
        unprivileged_findings found;
        found.pid = ::getpid();
        found.dropped_errno = 0;
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody_gid) != 0 || ::setuid(nobody_uid) != 0)
            found.dropped_errno = errno;
        if (found.dropped_errno == 0) {
            const auto refused = asio::buffer(std::string_view("refused"));
            std::error_code ec;
            found.other_pid_bytes = a.send_message(
                refused, nullptr,
                {.sender_credentials = credentials{::getppid(), nobody_uid, nobody_gid}}, 0, ec);
            found.other_pid_errno = ec.value();
            found.other_pid_system_category = ec.category() == asio::error::get_system_category();
            try {
                a.send_message(
                    refused, nullptr,
                    {.sender_credentials = credentials{::getppid(), nobody_uid, nobody_gid}});
                found.thrown_errno = 0;
            } catch (const std::system_error& failure) {
                found.thrown_errno = failure.code().value();
                found.thrown_names_send_message =
                    std::string_view(failure.what()).find("send_message") != std::string_view::npos;
            } catch (...) {
                found.threw_something_else = true;
            }
            a.send_message(refused, nullptr,
                           {.sender_credentials = credentials{nobody, nobody_uid, nobody_gid}}, 0,
                           ec);
            found.dead_pid_errno = ec.value();
            a.send_message(refused, nullptr,
                           {.sender_credentials = credentials{::getpid(), 0, nobody_gid}}, 0, ec);
            found.other_uid_errno = ec.value();
            a.send_message(refused, nullptr,
                           {.sender_credentials = credentials{::getpid(), nobody_uid, 0}}, 0, ec);
            found.other_gid_errno = ec.value();
            a.send_message(asio::buffer(std::string_view("own")), nullptr,
                           {.sender_credentials = credentials{::getpid(), nobody_uid, nobody_gid}},
                           0, ec);
            found.own_errno = ec.value();
            try {
                // A fresh io_context: the parent's is not the child's to run.
                asio::io_context child_io;
                socket_type duplicate(child_io, ::dup(a.native_handle()));
                int calls = 0;
                duplicate.async_send_message(
                    refused, nullptr,
                    {.sender_credentials = credentials{::getppid(), nobody_uid, nobody_gid}}, 0,
                    [&](std::error_code error, std::size_t bytes) {
                        ++calls;
                        found.async_errno = error.value();
                        found.async_bytes = bytes;
                    });
                found.async_inside_initiation = calls != 0;
                child_io.run();
                found.async_calls = calls;
            } catch (...) {
                found.threw_something_else = true;
            }
            a.send_message(asio::buffer(std::string_view("plain")), nullptr, {}, 0, ec);
            found.plain_errno = ec.value();
        }
        const bool written = ::write(report.write_end.get(), &found, sizeof(found)) ==
                             static_cast<ssize_t>(sizeof(found));
        ::_exit(written ? 0 : 1);
    }
    report.write_end.reset();
    unprivileged_findings found;
    const ssize_t length = ::read(report.read_end.get(), &found, sizeof(found));
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(length == static_cast<ssize_t>(sizeof(found)));
    REQUIRE(found.dropped_errno == 0);

    CHECK(found.other_pid_errno == EPERM);
    CHECK(found.other_pid_system_category);
    CHECK(found.other_pid_bytes == 0);
    CHECK(found.thrown_errno == EPERM);
    CHECK(found.thrown_names_send_message);
    CHECK_FALSE(found.threw_something_else);
    // The kernel checks the permission before it looks the pid up.
    CHECK(found.dead_pid_errno == EPERM);
    CHECK(found.other_uid_errno == EPERM);
    CHECK(found.other_gid_errno == EPERM);
    CHECK(found.own_errno == 0);
    CHECK(found.async_calls == 1);
    CHECK_FALSE(found.async_inside_initiation);
    CHECK(found.async_errno == EPERM);
    CHECK(found.async_bytes == 0);
    CHECK(found.plain_errno == 0);

    // Of the child's sends only the last two arrived, with its identity.
    std::array<char, 16> storage{};
    const credentials child_identity{found.pid, nobody_uid, nobody_gid};
    b.non_blocking(true);
    receive_result got = b.receive_message(asio::buffer(storage), nullptr);
    CHECK(text_of(storage, got.bytes) == "own");
    CHECK(got.sender_credentials == std::optional(child_identity));
    got = b.receive_message(asio::buffer(storage), nullptr);
    CHECK(text_of(storage, got.bytes) == "plain");
    CHECK(got.sender_credentials == std::optional(child_identity));
    CHECK(b.bytes_readable() == 0);
}

// ---------------------------------------------------------------------------
// System calls (issue 10): one when nothing blocks, two when a call waits
// ---------------------------------------------------------------------------

namespace {

/// Checks that `sync(ec)` and the async operation `start(handler)` each make
/// exactly one system call on `socket`'s descriptor, `prepare()` having
/// queued what they need first.
template <typename Prepare, typename Sync, typename Start>
void check_one_call(message_fixture& fixture, socket_type& socket, Prepare&& prepare, Sync&& sync,
                    Start&& start)
{
    {
        INFO("synchronous");
        prepare();
        call_counter counter(socket.native_handle());
        std::error_code ec = unlikely_error();
        sync(ec);
        CHECK_FALSE(ec);
        CHECK(counter.since().total() == 1);
    }
    auto check_async = [&] {
        prepare();
        call_counter counter(socket.native_handle());
        int calls = 0;
        std::error_code ec = unlikely_error();
        start([&](std::error_code error, auto&&...) {
            ++calls;
            ec = error;
        });
        CHECK(counter.since().total() == 1);
        fixture.run();
        CHECK(calls == 1);
        CHECK_FALSE(ec);
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
    auto queue_at_b = [&] { a.send_with_fds(message, fds_to_send); };
    auto queue_at_server = [&] { client.send_to_with_fds(message, server_endpoint, fds_to_send); };

    SUBCASE("send")
    {
        check_one_call(
            *this, a, nothing_to_prepare, [&](std::error_code& ec) { a.send(message, 0, ec); },
            [&](auto handler) { a.async_send(message, handler); });
    }
    SUBCASE("send_to")
    {
        check_one_call(
            *this, client, nothing_to_prepare,
            [&](std::error_code& ec) { client.send_to(message, server_endpoint, 0, ec); },
            [&](auto handler) { client.async_send_to(message, server_endpoint, handler); });
    }
    SUBCASE("send_with_fds")
    {
        check_one_call(
            *this, a, nothing_to_prepare,
            [&](std::error_code& ec) { a.send_with_fds(message, fds_to_send, 0, ec); },
            [&](auto handler) { a.async_send_with_fds(message, fds_to_send, handler); });
    }
    SUBCASE("send_to_with_fds")
    {
        check_one_call(
            *this, client, nothing_to_prepare,
            [&](std::error_code& ec) {
                client.send_to_with_fds(message, server_endpoint, fds_to_send, 0, ec);
            },
            [&](auto handler) {
                client.async_send_to_with_fds(message, server_endpoint, fds_to_send, handler);
            });
    }
    SUBCASE("send_message with descriptors and credentials")
    {
        const send_control control{.fds = fds_to_send, .sender_credentials = own_credentials()};
        check_one_call(
            *this, client, nothing_to_prepare,
            [&](std::error_code& ec) {
                client.send_message(message, &server_endpoint, control, 0, ec);
            },
            [&](auto handler) {
                client.async_send_message(message, &server_endpoint, control, 0, handler);
            });
    }
    SUBCASE("send_message with nothing but bytes")
    {
        check_one_call(
            *this, a, nothing_to_prepare,
            [&](std::error_code& ec) { a.send_message(message, nullptr, {}, 0, ec); },
            [&](auto handler) { a.async_send_message(message, nullptr, {}, 0, handler); });
    }
    SUBCASE("receive")
    {
        check_one_call(
            *this, b, queue_at_b,
            [&](std::error_code& ec) { b.receive(asio::buffer(storage), 0, ec); },
            [&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    }
    SUBCASE("receive_from")
    {
        check_one_call(
            *this, server, queue_at_server,
            [&](std::error_code& ec) { server.receive_from(asio::buffer(storage), sender, 0, ec); },
            [&](auto handler) {
                server.async_receive_from(asio::buffer(storage), sender, handler);
            });
    }
    SUBCASE("receive_with_fds")
    {
        check_one_call(
            *this, b, queue_at_b,
            [&](std::error_code& ec) { b.receive_with_fds(asio::buffer(storage), fds, 0, ec); },
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    }
    SUBCASE("receive_from_with_fds")
    {
        check_one_call(
            *this, server, queue_at_server,
            [&](std::error_code& ec) {
                server.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
            },
            [&](auto handler) {
                server.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
            });
    }
    SUBCASE("receive_message")
    {
        server.set_option(unixdgram::pass_credentials(true));
        check_one_call(
            *this, server, queue_at_server,
            [&](std::error_code& ec) {
                server.receive_message(asio::buffer(storage), &sender, fds, 0, ec);
            },
            [&](auto handler) {
                server.async_receive_message(asio::buffer(storage), &sender, fds, 0, handler);
            });
    }
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

/// Checks that an operation on `socket` that would block makes exactly two
/// system calls of its kind there, and none of the other: `sync(ec)`
/// blocking until another thread calls `unblock()`, and the async
/// `start(handler)` waiting until this thread does. `block()` makes the
/// operation block, before each. Meanwhile no other descriptor sends but
/// the one that unblocks a receive: a send makes its two, and the
/// destination wait's probe socket only connects and is polled.
template <typename Block, typename Unblock, typename Sync, typename Start>
void check_two_calls(message_fixture& fixture, socket_type& socket, direction kind, Block&& block,
                     Unblock&& unblock, Sync&& sync, Start&& start)
{
    const unsigned sends_meanwhile = kind == direction::sends ? 2 : 1;
    {
        INFO("synchronous, blocking until another thread unblocks it");
        block();
        call_counter counter(socket.native_handle());
        act_when unblocker([&] { return calls_made(kind, counter.since()) >= 1; }, unblock);
        std::error_code ec = unlikely_error();
        sync(ec);
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
        int calls = 0;
        std::error_code ec = unlikely_error();
        start([&](std::error_code error, auto&&...) {
            ++calls;
            ec = error;
        });
        fixture.io.restart();
        fixture.io.poll();
        CHECK(calls == 0);
        CHECK(calls_made(kind, counter.since()) == 1);
        unblock();
        fixture.run();
        CHECK(calls == 1);
        CHECK_FALSE(ec);
        CHECK(calls_made(kind, counter.since()) == 2);
        CHECK(calls_of_the_other_kind(kind, counter.since()) == 0);
        CHECK(counter.sends_on_any() == sends_meanwhile);
    }
}

/// check_two_calls for a receive on `fixture.b`, which finds its queue
/// empty until `fixture.a` sends.
template <typename Sync, typename Start>
void check_two_receive_calls(message_fixture& fixture, Sync&& sync, Start&& start)
{
    file_descriptor file = file_with_content("late");
    const std::array<int, 1> fds_to_send{file.get()};
    check_two_calls(
        fixture, fixture.b, direction::receives, [] {},
        [&] { fixture.a.send_with_fds(asio::buffer(std::string_view("late")), fds_to_send); }, sync,
        start);
}

/// check_two_calls for a send from `fixture.client`, which finds the queue
/// of `fixture.server` full until one datagram is taken from it.
template <typename Sync, typename Start>
void check_two_send_calls(message_fixture& fixture, Sync&& sync, Start&& start)
{
    const int server_fd = fixture.server.native_handle();
    check_two_calls(
        fixture, fixture.client, direction::sends,
        [&] {
            static_cast<void>(drain_all(fixture.server));
            fill_queue_counted(fixture.client, fixture.server_endpoint);
        },
        [server_fd] { drain_one(server_fd); }, sync, start);
}

} // namespace

TEST_CASE_FIXTURE(message_fixture,
                  "a receive that waits for its datagram makes exactly two system calls")
{
    std::array<char, 64> storage{};
    std::array<file_descriptor, 2> fds;
    endpoint sender;
    SUBCASE("receive")
    {
        check_two_receive_calls(
            *this, [&](std::error_code& ec) { b.receive(asio::buffer(storage), 0, ec); },
            [&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    }
    SUBCASE("receive_from")
    {
        check_two_receive_calls(
            *this,
            [&](std::error_code& ec) { b.receive_from(asio::buffer(storage), sender, 0, ec); },
            [&](auto handler) { b.async_receive_from(asio::buffer(storage), sender, handler); });
    }
    SUBCASE("receive_with_fds")
    {
        check_two_receive_calls(
            *this,
            [&](std::error_code& ec) { b.receive_with_fds(asio::buffer(storage), fds, 0, ec); },
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    }
    SUBCASE("receive_from_with_fds")
    {
        check_two_receive_calls(
            *this,
            [&](std::error_code& ec) {
                b.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
            },
            [&](auto handler) {
                b.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
            });
    }
    SUBCASE("receive_message")
    {
        check_two_receive_calls(
            *this,
            [&](std::error_code& ec) {
                b.receive_message(asio::buffer(storage), &sender, fds, 0, ec);
            },
            [&](auto handler) {
                b.async_receive_message(asio::buffer(storage), &sender, fds, 0, handler);
            });
    }
}

TEST_CASE_FIXTURE(message_fixture,
                  "a send that waits for room at its destination makes exactly two system calls")
{
    const auto message = asio::buffer(std::string_view("waited"));
    file_descriptor file = file_with_content("waited");
    const std::array<int, 1> fds_to_send{file.get()};
    SUBCASE("send_to")
    {
        check_two_send_calls(
            *this, [&](std::error_code& ec) { client.send_to(message, server_endpoint, 0, ec); },
            [&](auto handler) { client.async_send_to(message, server_endpoint, handler); });
    }
    SUBCASE("send_to_with_fds")
    {
        check_two_send_calls(
            *this,
            [&](std::error_code& ec) {
                client.send_to_with_fds(message, server_endpoint, fds_to_send, 0, ec);
            },
            [&](auto handler) {
                client.async_send_to_with_fds(message, server_endpoint, fds_to_send, handler);
            });
    }
    SUBCASE("send_message to a destination endpoint")
    {
        check_two_send_calls(
            *this,
            [&](std::error_code& ec) {
                client.send_message(message, &server_endpoint, {.fds = fds_to_send}, 0, ec);
            },
            [&](auto handler) {
                client.async_send_message(message, &server_endpoint, {.fds = fds_to_send}, 0,
                                          handler);
            });
    }
    SUBCASE("send to the connected peer")
    {
        client.connect(server_endpoint);
        check_two_send_calls(
            *this, [&](std::error_code& ec) { client.send(message, 0, ec); },
            [&](auto handler) { client.async_send(message, handler); });
    }
    SUBCASE("send_with_fds to the connected peer")
    {
        client.connect(server_endpoint);
        check_two_send_calls(
            *this, [&](std::error_code& ec) { client.send_with_fds(message, fds_to_send, 0, ec); },
            [&](auto handler) { client.async_send_with_fds(message, fds_to_send, handler); });
    }
    SUBCASE("send_message to the connected peer")
    {
        client.connect(server_endpoint);
        check_two_send_calls(
            *this,
            [&](std::error_code& ec) {
                client.send_message(message, nullptr, {.fds = fds_to_send}, 0, ec);
            },
            [&](auto handler) {
                client.async_send_message(message, nullptr, {.fds = fds_to_send}, 0, handler);
            });
    }
}
