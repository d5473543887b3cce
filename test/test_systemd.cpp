//
// test_systemd.cpp — unixdgram/systemd.hpp: the `@name` address helpers,
// notify, notify_barrier and listen_fds, on their own and against the real
// programs from Debian: systemd-notify and systemd-socket-activate (systemd
// 252), socat and CPython (test/interop/notify_peer.py).
//
// meson sets PYTHON3, UNIXDGRAM_INTEROP_DIR and UNIXDGRAM_ACTIVATED_SERVICE
// (example/activated_service.cpp, built for the test); run by hand, the test
// needs them too (`meson test -v test_systemd` shows them). A test needing a
// program that is missing fails, naming it: scripts/test installs them.
//
// The host's NOTIFY_SOCKET and LISTEN_* are never used: children get an
// environment without them, plus what the test gives; a test setting them in
// this process restores them afterwards. Sockets live in temporary
// directories or under abstract names unique to this process.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "interop_program.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram/datagram_socket.hpp>
#include <unixdgram/systemd.hpp>

#include <asio/buffer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;
namespace systemd = unixdgram::systemd;

namespace {

using socket_type = unixdgram::datagram_socket<>;

std::string activated_service()
{
    return environment_or("UNIXDGRAM_ACTIVATED_SERVICE", "activated_service_for_test");
}

/// Whether a task, "<pid>" or "self/task/<tid>", is blocked in poll(2) or
/// ppoll(2) right now, as /proc/<task>/syscall says: how a test knows a
/// barrier is really waiting, not just slow to return.
/// Where the file cannot be read (a kernel without it, or Yama's
/// ptrace_scope 2 for a process of ours), it says so and answers yes: the
/// test then checks the rest without this.
bool waiting_in_poll(const std::string& task)
{
    std::ifstream syscall_file("/proc/" + task + "/syscall");
    long number = -1;
    if (!(syscall_file >> number)) {
        MESSAGE("cannot read /proc/" << task << "/syscall; not checking that it waits in poll");
        return true;
    }
#ifdef SYS_poll
    if (number == SYS_poll)
        return true;
#endif
    return number == SYS_ppoll;
}

/// notify_barrier running on a thread of its own, so the test can play the
/// manager meanwhile.
class barrier_in_thread {
public:
    barrier_in_thread()
        : thread_([this] {
              tid_ = ::gettid();
              passed_ = systemd::notify_barrier({.timeout = program_timeout}, ec_);
              returned_ = true;
          })
    {
    }
    barrier_in_thread(const barrier_in_thread&) = delete;
    barrier_in_thread& operator=(const barrier_in_thread&) = delete;
    ~barrier_in_thread()
    {
        if (thread_.joinable())
            thread_.join();
    }

    /// Whether it is blocked in poll, not returned: really waiting.
    bool is_waiting() const
    {
        return eventually([&] {
                   return tid_ != 0 && waiting_in_poll("self/task/" + std::to_string(tid_));
               }) &&
               !returned_;
    }

    /// Waits for it to return and checks that the barrier passed.
    void check_passed()
    {
        thread_.join();
        CHECK(passed_);
        CHECK_FALSE(ec_);
    }

private:
    std::atomic<pid_t> tid_ = 0;
    std::atomic<bool> returned_ = false;
    bool passed_ = false;
    std::error_code ec_;
    std::thread thread_;
};

/// Sets an environment variable in this process for one scope and puts back
/// what was there (or its absence) afterwards.
class scoped_environment {
public:
    scoped_environment(const char* name, std::optional<std::string> value) : name_(name)
    {
        if (const char* old = std::getenv(name))
            previous_ = old;
        if (value)
            ::setenv(name, value->c_str(), 1);
        else
            ::unsetenv(name);
    }
    scoped_environment(const scoped_environment&) = delete;
    scoped_environment& operator=(const scoped_environment&) = delete;
    ~scoped_environment()
    {
        if (previous_)
            ::setenv(name_, previous_->c_str(), 1);
        else
            ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> previous_;
};

/// One datagram as a manager sees it.
struct notification {
    std::string payload;
    std::array<file_descriptor, 8> fds;
    std::size_t fd_count = 0;
    std::optional<unixdgram::credentials> sender;
    unixdgram::endpoint from;
    bool truncated = false;
};

/// What a service manager does: a socket that receives notifications with
/// credentials.
struct manager_fixture : io_fixture {
    socket_type manager{io};

    void listen_at(const unixdgram::endpoint& address)
    {
        manager.open();
        manager.bind(address);
        manager.set_option(socket_type::pass_credentials(true));
    }

    /// The next notification; REQUIREs one within `timeout`.
    notification receive_notification(std::chrono::milliseconds timeout = program_timeout)
    {
        REQUIRE(readable_within(manager.native_handle(), timeout));
        notification received;
        std::array<char, 4096> storage{};
        const unixdgram::receive_result result =
            manager.receive_from_with_fds(asio::buffer(storage), received.from, received.fds);
        received.payload.assign(storage.data(), result.bytes);
        received.fd_count = result.fds.size();
        received.sender = result.sender_credentials;
        received.truncated = result.truncated || result.control_truncated;
        return received;
    }

    /// Receives the next notification, a barrier (sd_notify_barrier's
    /// "BARRIER=1" with a pipe's write end), checks that `waiting` (when
    /// given) is blocked on it, then closes the pipe, letting it go on.
    notification pass_barrier(const program* waiting)
    {
        notification barrier = receive_notification();
        CHECK(barrier.payload == "BARRIER=1");
        REQUIRE(barrier.fd_count == 1);
        CHECK((::fcntl(barrier.fds[0].get(), F_GETFL) & O_ACCMODE) == O_WRONLY);
        if (waiting != nullptr) {
            CHECK(eventually([&] { return waiting_in_poll(std::to_string(waiting->pid())); }));
            CHECK_FALSE(waiting->has_exited());
        }
        barrier.fds[0].reset();
        return barrier;
    }
};

} // namespace

// ---------------------------------------------------------------------------
// The `@name` text form
// ---------------------------------------------------------------------------

TEST_CASE("parse_address reads @name as an abstract name with a leading NUL and an exact length")
{
    const unixdgram::endpoint address = systemd::parse_address("@org/example/notify");
    CHECK(address.path() == std::string("\0org/example/notify", 19));
    CHECK(address.size() == offsetof(sockaddr_un, sun_path) + 19);

    // The longest abstract name sun_path holds without a trailing NUL.
    const std::string longest = "@" + std::string(sizeof(sockaddr_un::sun_path) - 2, 'n');
    CHECK(systemd::parse_address(longest).path().size() == longest.size());
}

TEST_CASE("parse_address keeps every other text as a path, relative ones and later @s included")
{
    CHECK(systemd::parse_address("/run/example/notify").path() == "/run/example/notify");
    CHECK(systemd::parse_address("relative@name").path() == "relative@name");
    CHECK(systemd::parse_address("./@name").path() == "./@name");
}

TEST_CASE("parse_address refuses an empty text, a bare @, a NUL in a path and overlong names")
{
    std::error_code ec;
    for (std::string_view bad :
         {std::string_view(""), std::string_view("@"), std::string_view("/tmp/a\0b", 8)}) {
        CAPTURE(std::string(bad));
        CHECK(systemd::parse_address(bad, ec).path().empty());
        CHECK(ec == errno_is{EINVAL});
    }
    const std::string overlong_path = "/" + std::string(sizeof(sockaddr_un::sun_path), 'p');
    const std::string overlong_name = "@" + std::string(sizeof(sockaddr_un::sun_path), 'n');
    for (const std::string& bad : {overlong_path, overlong_name}) {
        CHECK(systemd::parse_address(bad, ec).path().empty());
        CHECK(ec == errno_is{ENAMETOOLONG});
    }

    try {
        systemd::parse_address("@");
        FAIL("parse_address(\"@\") did not throw");
    } catch (const std::system_error& failure) {
        CHECK(failure.code() == errno_is{EINVAL});
        CHECK(std::string_view(failure.what()).find("systemd::parse_address") !=
              std::string_view::npos);
    }
}

TEST_CASE("format_address writes @name for an abstract name, the path for a path, nothing else")
{
    CHECK(systemd::format_address(unixdgram::make_endpoint(std::string_view("\0abc", 4))) ==
          "@abc");
    CHECK(systemd::format_address(unixdgram::make_endpoint("/tmp/x.sock")) == "/tmp/x.sock");
    CHECK(systemd::format_address(unixdgram::endpoint()).empty());
    // NULs inside an abstract name are bytes of the name, kept.
    CHECK(systemd::format_address(unixdgram::make_endpoint(std::string_view("\0a\0b", 4))) ==
          std::string("@a\0b", 4));
    for (std::string_view text : {"@round/trip", "/round/trip", "round@trip"})
        CHECK(systemd::format_address(systemd::parse_address(text)) == text);
}

TEST_CASE_FIXTURE(io_fixture, "a path starting with @ stays a path everywhere but parse_address")
{
    const unixdgram::endpoint endpoint = unixdgram::make_endpoint("@not-abstract");
    CHECK(endpoint.path() == "@not-abstract");

    // Bound as it is, it names a file in the working directory's sense, and
    // parse_address is what makes it abstract.
    temp_dir dir;
    socket_type bound(io);
    bound.open();
    bound.bind(unixdgram::make_endpoint((dir.path / "@file").string()));
    CHECK(std::filesystem::is_socket(dir.path / "@file"));
    CHECK(systemd::format_address(bound.local_endpoint()) == (dir.path / "@file").string());
}

// ---------------------------------------------------------------------------
// notify and notify_barrier in this process
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(manager_fixture, "notify without NOTIFY_SOCKET does nothing and says so")
{
    scoped_environment unset("NOTIFY_SOCKET", std::nullopt);
    std::error_code ec = asio::error::timed_out;
    CHECK_FALSE(systemd::notify("READY=1", ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(systemd::notify("READY=1"));
    CHECK_FALSE(systemd::notify_barrier());
}

TEST_CASE_FIXTURE(manager_fixture,
                  "notify sends the state to an abstract NOTIFY_SOCKET with the sender's pid")
{
    const std::string name = unique_at_name("notify");
    listen_at(systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);

    CHECK(systemd::notify("READY=1\nSTATUS=up and running"));
    const notification received = receive_notification();
    CHECK(received.payload == "READY=1\nSTATUS=up and running");
    CHECK(received.fd_count == 0);
    REQUIRE(received.sender);
    CHECK(received.sender->pid == ::getpid());
    CHECK(received.sender->uid == ::getuid());
    CHECK(received.sender->gid == ::getgid());
    // Sent, like libsystemd's, from an unnamed socket.
    CHECK(received.from.path().empty());
    CHECK(std::getenv("NOTIFY_SOCKET") != nullptr);
}

TEST_CASE_FIXTURE(
    manager_fixture,
    "notify sends FDSTORE descriptors to a path NOTIFY_SOCKET, the caller keeping them")
{
    temp_dir dir;
    const std::string path = (dir.path / "notify").string();
    listen_at(unixdgram::make_endpoint(path));
    scoped_environment socket("NOTIFY_SOCKET", path);

    file_descriptor stored = file_with_content("stored state");
    pipe_ends pipe = make_pipe();
    const std::array<int, 2> fds{stored.get(), pipe.write_end.get()};
    CHECK(systemd::notify("FDSTORE=1\nFDNAME=state", fds));
    CHECK(is_open_fd(stored.get()));
    notification received = receive_notification();
    CHECK(received.payload == "FDSTORE=1\nFDNAME=state");
    REQUIRE(received.fd_count == 2);
    CHECK(same_file(received.fds[0].get(), stored.get()));
    CHECK(same_file(received.fds[1].get(), pipe.write_end.get()));
    CHECK(is_cloexec(received.fds[0].get()));
}

TEST_CASE_FIXTURE(
    manager_fixture,
    "notify refuses a NOTIFY_SOCKET that is neither absolute nor @name, as libsystemd")
{
    for (const char* bad : {"", "@", "/", "relative/notify", "vsock:2:1234"}) {
        CAPTURE(bad);
        scoped_environment socket("NOTIFY_SOCKET", std::string(bad));
        std::error_code ec;
        CHECK_FALSE(systemd::notify("READY=1", ec));
        CHECK(ec == errno_is{EINVAL});
    }
    scoped_environment socket("NOTIFY_SOCKET", std::string("relative"));
    try {
        systemd::notify("READY=1");
        FAIL("notify did not throw");
    } catch (const std::system_error& failure) {
        CHECK(failure.code() == errno_is{EINVAL});
        CHECK(std::string_view(failure.what()).find("systemd::notify") != std::string_view::npos);
    }
}

TEST_CASE_FIXTURE(manager_fixture, "notify reports a NOTIFY_SOCKET nobody listens on")
{
    temp_dir dir;
    std::error_code ec;
    {
        scoped_environment socket("NOTIFY_SOCKET", unique_at_name("nobody"));
        CHECK_FALSE(systemd::notify("READY=1", ec));
        CHECK(ec == errno_is{ECONNREFUSED});
    }
    {
        scoped_environment socket("NOTIFY_SOCKET", (dir.path / "missing").string());
        CHECK_FALSE(systemd::notify("READY=1", ec));
        CHECK(ec == errno_is{ENOENT});
    }
    {
        const std::string name = unique_at_name("fds");
        listen_at(systemd::parse_address(name));
        scoped_environment socket("NOTIFY_SOCKET", name);
        std::vector<int> too_many(unixdgram::max_fds_per_datagram + 1, STDIN_FILENO);
        CHECK_FALSE(systemd::notify("FDSTORE=1", too_many, {}, ec));
        CHECK(ec == unixdgram::error::too_many_fds);
    }
}

TEST_CASE_FIXTURE(manager_fixture, "notify unsets NOTIFY_SOCKET when asked, after errors too")
{
    const std::string name = unique_at_name("unset");
    listen_at(systemd::parse_address(name));
    {
        scoped_environment socket("NOTIFY_SOCKET", name);
        CHECK(systemd::notify("READY=1", {}, {.unset_environment = true}));
        CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
        CHECK(receive_notification().payload == "READY=1");
        // Now unset: nothing more is sent.
        CHECK_FALSE(systemd::notify("STATUS=after"));
    }
    {
        scoped_environment socket("NOTIFY_SOCKET", std::string("relative"));
        std::error_code ec;
        CHECK_FALSE(systemd::notify("READY=1", {}, {.unset_environment = true}, ec));
        CHECK(ec == errno_is{EINVAL});
        CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
    }
}

TEST_CASE_FIXTURE(manager_fixture,
                  "notify waits for room in a full manager queue and gives up at its timeout")
{
    const std::string name = unique_at_name("full");
    listen_at(systemd::parse_address(name));
    socket_type filler(io);
    filler.open();
    fill_queue(filler, systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);

    std::error_code ec;
    const auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(systemd::notify("STATUS=late", {}, {.timeout = 50ms}, ec));
    CHECK(ec == asio::error::timed_out);
    CHECK(std::chrono::steady_clock::now() - started >= 50ms);

    // With room made while it waits, it is sent.
    bool sent = false;
    std::error_code thread_ec;
    std::thread sender([&] {
        sent = systemd::notify("STATUS=made it", {}, {.timeout = program_timeout}, thread_ec);
    });
    std::array<char, 16> storage{};
    manager.receive(asio::buffer(storage));
    sender.join();
    CHECK(sent);
    CHECK_FALSE(thread_ec);
    // Behind the filler's datagrams, the last in the queue.
    manager.non_blocking(true);
    std::string last;
    for (;;) {
        const std::size_t length = manager.receive(asio::buffer(storage), 0, ec);
        if (ec)
            break;
        last.assign(storage.data(), length);
    }
    CHECK(ec == errno_is{EAGAIN});
    CHECK(last == "STATUS=made it");
}

TEST_CASE_FIXTURE(manager_fixture, "notify_barrier returns only after the manager closes the pipe")
{
    const std::string name = unique_at_name("barrier");
    listen_at(systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);

    barrier_in_thread waiter;
    notification barrier = receive_notification();
    CHECK(barrier.payload == "BARRIER=1");
    REQUIRE(barrier.fd_count == 1);
    struct stat status {};
    REQUIRE(::fstat(barrier.fds[0].get(), &status) == 0);
    CHECK(S_ISFIFO(status.st_mode));
    CHECK((::fcntl(barrier.fds[0].get(), F_GETFL) & O_ACCMODE) == O_WRONLY);
    // The notifier closed its own write end, ours is the last, and it waits.
    CHECK(waiter.is_waiting());
    barrier.fds[0].reset();
    waiter.check_passed();
}

TEST_CASE_FIXTURE(manager_fixture,
                  "notify and notify_barrier take a timeout as long as milliseconds::max()")
{
    const std::string name = unique_at_name("endless");
    listen_at(systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);
    constexpr systemd::notify_options endless{.timeout = std::chrono::milliseconds::max()};

    CHECK(systemd::notify("STATUS=no hurry", {}, endless));
    CHECK(receive_notification().payload == "STATUS=no hurry");
    bool passed = false;
    std::thread waiter([&] { passed = systemd::notify_barrier(endless); });
    receive_notification().fds[0].reset();
    waiter.join();
    CHECK(passed);
}

TEST_CASE_FIXTURE(manager_fixture, "notify_barrier times out while the manager keeps the pipe")
{
    const std::string name = unique_at_name("barrier-kept");
    listen_at(systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);

    std::error_code ec;
    CHECK_FALSE(systemd::notify_barrier({.timeout = 100ms}, ec));
    CHECK(ec == asio::error::timed_out);
    const notification kept = receive_notification();
    CHECK(kept.payload == "BARRIER=1");
    REQUIRE(kept.fd_count == 1);

    // Data the manager writes into the pipe does not end the wait either:
    // only the pipe's closing does.
    std::error_code thrown;
    std::thread waiter(
        [&] { thrown = thrown_by([] { systemd::notify_barrier({.timeout = 1s}); }); });
    const notification written_to = receive_notification();
    REQUIRE(written_to.fd_count == 1);
    // Were the barrier over, the write would fail with EPIPE, not kill the test.
    struct sigaction ignore {};
    struct sigaction previous {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &previous);
    CHECK(::write(written_to.fds[0].get(), "x", 1) == 1);
    ::sigaction(SIGPIPE, &previous, nullptr);
    waiter.join();
    CHECK(thrown == asio::error::timed_out);
}

namespace {

void ignore_signal(int) {}

/// Runs `call` on a thread of its own, interrupting it with SIGUSR1 (a
/// handler without SA_RESTART, so that poll fails with EINTR) every
/// millisecond until it returns; returns how long it took.
template <typename Call>
std::chrono::steady_clock::duration interrupted_often(Call&& call)
{
    struct sigaction interrupt {};
    struct sigaction previous {};
    interrupt.sa_handler = ignore_signal;
    ::sigemptyset(&interrupt.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &interrupt, &previous) == 0);
    std::atomic<bool> returned = false;
    const auto started = std::chrono::steady_clock::now();
    std::thread waiter([&] {
        call();
        returned = true;
    });
    const auto give_up = started + safety_timeout;
    while (!returned && std::chrono::steady_clock::now() < give_up) {
        ::pthread_kill(waiter.native_handle(), SIGUSR1);
        std::this_thread::sleep_for(1ms);
    }
    const bool in_time = returned.load();
    if (!in_time) {
        std::cerr << "a wait with a deadline did not end under signals; the thread cannot be "
                     "joined\n";
        std::abort();
    }
    waiter.join();
    const auto taken = std::chrono::steady_clock::now() - started;
    ::sigaction(SIGUSR1, &previous, nullptr);
    return taken;
}

} // namespace

TEST_CASE_FIXTURE(manager_fixture,
                  "notify and notify_barrier keep their timeout however often a signal interrupts "
                  "the wait")
{
    const std::string name = unique_at_name("interrupted");
    listen_at(systemd::parse_address(name));
    scoped_environment socket("NOTIFY_SOCKET", name);
    {
        INFO("notify, waiting for room in a full queue");
        socket_type filler(io);
        filler.open();
        fill_queue(filler, systemd::parse_address(name));
        std::error_code ec;
        bool sent = true;
        const auto taken = interrupted_often(
            [&] { sent = systemd::notify("STATUS=interrupted", {}, {.timeout = 100ms}, ec); });
        CHECK_FALSE(sent);
        CHECK(ec == asio::error::timed_out);
        CHECK(taken >= 100ms);
        manager.non_blocking(true);
        std::array<char, 32> storage{};
        std::error_code drained;
        while (!drained)
            manager.receive(asio::buffer(storage), 0, drained);
        manager.non_blocking(false);
    }
    {
        INFO("notify_barrier, waiting for the manager to close the pipe");
        std::error_code ec;
        bool passed = true;
        const auto taken =
            interrupted_often([&] { passed = systemd::notify_barrier({.timeout = 100ms}, ec); });
        CHECK_FALSE(passed);
        CHECK(ec == asio::error::timed_out);
        CHECK(taken >= 100ms);
        CHECK(receive_notification().payload == "BARRIER=1");
    }
}

// ---------------------------------------------------------------------------
// listen_fds, in a child process that has descriptors at 3 and on
// ---------------------------------------------------------------------------

namespace {

using variables = std::vector<std::pair<std::string, std::string>>;

/// Forks, arranges the descriptors and environment in the child, calls
/// listen_fds there and returns what it saw, one line: "error <errno>" or
/// "ok <count>" then " <fd>:<name>:<cloexec>:<same file as given>" per
/// descriptor, then " env=<which of LISTEN_PID LISTEN_FDS LISTEN_FDNAMES are
/// still set>" and " left=<of the given descriptors, which are open>".
///
/// `fds` go to 3, 4, ... in the child, not close-on-exec; a "$PID" value in
/// `environment` becomes the child's pid; the `closed` numbers are closed
/// in the child before the call.
std::string listen_fds_in_child(const std::vector<int>& fds, const variables& environment = {},
                                bool unset_environment = false, const std::vector<int>& closed = {})
{
    pipe_ends report = make_pipe();
    // Above the numbers the child rearranges.
    file_descriptor report_end(::fcntl(report.write_end.get(), F_DUPFD_CLOEXEC, 100));
    REQUIRE(report_end);
    report.write_end.reset();

    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::vector<int> high;
        for (int fd : fds)
            high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 200));
        for (std::size_t index = 0; index < high.size(); ++index)
            ::dup2(high[index], systemd::listen_fds_start + static_cast<int>(index));
        for (int fd : closed)
            ::close(fd);
        ::unsetenv("LISTEN_PID");
        ::unsetenv("LISTEN_FDS");
        ::unsetenv("LISTEN_FDNAMES");
        for (const auto& [name, value] : environment)
            ::setenv(name.c_str(),
                     value == "$PID" ? std::to_string(::getpid()).c_str() : value.c_str(), 1);
        std::error_code ec;
        std::vector<systemd::listened_fd> taken =
            systemd::listen_fds({.unset_environment = unset_environment}, ec);
        std::ostringstream out;
        if (ec)
            out << "error " << ec.value();
        else
            out << "ok " << taken.size();
        for (std::size_t index = 0; index < taken.size(); ++index) {
            const int fd = taken[index].fd.get();
            out << ' ' << fd << ':' << taken[index].name << ':' << is_cloexec(fd) << ':'
                << (index < high.size() && same_file(fd, high[index]));
        }
        out << " env=";
        for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"})
            if (std::getenv(name) != nullptr)
                out << name << ',';
        // Dropped by the caller, the taken ones are closed: they were owned.
        taken.clear();
        out << " left=";
        for (std::size_t index = 0; index < high.size(); ++index) {
            const int fd = systemd::listen_fds_start + static_cast<int>(index);
            if (::fcntl(fd, F_GETFD) >= 0)
                out << fd << (is_cloexec(fd) ? "c" : "") << ',';
        }
        const std::string text = out.str();
        [[maybe_unused]] ssize_t written = ::write(report_end.get(), text.data(), text.size());
        ::_exit(0);
    }
    report_end.reset();
    std::string text;
    for (;;) {
        REQUIRE(readable_within(report.read_end.get(), program_timeout));
        const std::string more = read_some(report.read_end.get());
        if (more.empty())
            break;
        text += more;
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    return text;
}

} // namespace

TEST_CASE_FIXTURE(fd_count_fixture,
                  "listen_fds takes the descriptors from 3 on with their names, close-on-exec")
{
    file_descriptor first = open_dev_null();
    pipe_ends second = make_pipe();
    CHECK(listen_fds_in_child(
              {first.get(), second.read_end.get()},
              {{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "2"}, {"LISTEN_FDNAMES", "requests:"}}) ==
          "ok 2 3:requests:1:1 4::1:1 env=LISTEN_PID,LISTEN_FDS,LISTEN_FDNAMES, left=");
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "listen_fds names each descriptor unknown without LISTEN_FDNAMES")
{
    file_descriptor first = open_dev_null();
    CHECK(listen_fds_in_child({first.get()}, {{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "1"}}, true) ==
          "ok 1 3:unknown:1:1 env= left=");
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "listen_fds takes nothing when the variables are unset or meant for another pid")
{
    file_descriptor first = open_dev_null();
    CHECK(listen_fds_in_child({first.get()}) == "ok 0 env= left=3,");
    CHECK(listen_fds_in_child({first.get()}, {{"LISTEN_FDS", "1"}}) ==
          "ok 0 env=LISTEN_FDS, left=3,");
    CHECK(listen_fds_in_child({first.get()}, {{"LISTEN_PID", "1"}, {"LISTEN_FDS", "1"}}) ==
          "ok 0 env=LISTEN_PID,LISTEN_FDS, left=3,");
    CHECK(listen_fds_in_child({first.get()}, {{"LISTEN_PID", "$PID"}}) ==
          "ok 0 env=LISTEN_PID, left=3,");
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "listen_fds refuses malformed variables with EINVAL and takes no descriptor")
{
    file_descriptor first = open_dev_null();
    const std::string einval = "error " + std::to_string(EINVAL);
    for (const variables& environment : {
             variables{{"LISTEN_PID", ""}, {"LISTEN_FDS", "1"}},
             variables{{"LISTEN_PID", "12x"}, {"LISTEN_FDS", "1"}},
             variables{{"LISTEN_PID", "-5"}, {"LISTEN_FDS", "1"}},
             variables{{"LISTEN_PID", "99999999999999999999"}, {"LISTEN_FDS", "1"}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "0"}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "-1"}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "1 "}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "2147483647"}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "1"}, {"LISTEN_FDNAMES", ""}},
             variables{{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "1"}, {"LISTEN_FDNAMES", "a:b"}},
         }) {
        const std::string seen = listen_fds_in_child({first.get()}, environment);
        CAPTURE(environment.back().second);
        CHECK(seen.starts_with(einval + " env="));
        CHECK(seen.ends_with(" left=3,"));
    }
    // With the unset option the variables go even so.
    CHECK(listen_fds_in_child(
              {first.get()}, {{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "x"}, {"LISTEN_FDNAMES", "a"}},
              true) == einval + " env= left=3,");
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "listen_fds refuses a count that includes a closed descriptor, taking none")
{
    file_descriptor first = open_dev_null();
    file_descriptor second = open_dev_null();
    CHECK(listen_fds_in_child({first.get(), second.get()},
                              {{"LISTEN_PID", "$PID"}, {"LISTEN_FDS", "3"}}, false, {5}) ==
          "error " + std::to_string(EBADF) + " env=LISTEN_PID,LISTEN_FDS, left=3,4,");
}

// ---------------------------------------------------------------------------
// systemd-notify (systemd 252)
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(manager_fixture,
                  "systemd-notify --ready --status reaches an @abstract NOTIFY_SOCKET and waits at "
                  "a barrier until the manager closes the pipe")
{
    const std::string name = unique_at_name("systemd-notify");
    listen_at(systemd::parse_address(name));
    program notifier({"systemd-notify", "--ready", "--status=serving from the test"},
                     {"NOTIFY_SOCKET=" + name});

    const notification status = receive_notification();
    CHECK(status.payload == "READY=1\nSTATUS=serving from the test");
    CHECK(status.fd_count == 0);
    REQUIRE(status.sender);
    // systemd-notify speaks for its parent (sd_pid_notify(getppid())): as
    // root its SCM_CREDENTIALS carry that pid, here this test's. Without the
    // privilege the kernel refuses them and libsystemd sends its own.
    CHECK(status.sender->pid == (::geteuid() == 0 ? ::getpid() : notifier.pid()));
    CHECK(status.sender->uid == ::getuid());

    // Then sd_notify_barrier, with its own pid.
    const notification barrier = pass_barrier(&notifier);
    REQUIRE(barrier.sender);
    CHECK(barrier.sender->pid == notifier.pid());
    CHECK(notifier.wait() == 0);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "systemd-notify run from a shell reports the shell's pid to a path NOTIFY_SOCKET")
{
    temp_dir dir;
    const std::string path = (dir.path / "notify").string();
    listen_at(unixdgram::make_endpoint(path));
    // The shell forks systemd-notify, as a command follows it.
    program shell({"sh", "-c", "systemd-notify --status=\"from $$\" STATE=x; exit $?"},
                  {"NOTIFY_SOCKET=" + path});

    const notification status = receive_notification();
    CHECK(status.payload == "STATUS=from " + std::to_string(shell.pid()) + "\nSTATE=x");
    REQUIRE(status.sender);
    if (::geteuid() == 0)
        CHECK(status.sender->pid == shell.pid());
    // The shell waits for systemd-notify, which waits at the barrier.
    const notification barrier = pass_barrier(nullptr);
    REQUIRE(barrier.sender);
    CHECK(barrier.sender->pid != shell.pid());
    CHECK(shell.wait() == 0);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "systemd-notify --no-block sends no barrier, and fails as notify does nothing "
                  "without NOTIFY_SOCKET")
{
    const std::string name = unique_at_name("no-block");
    listen_at(systemd::parse_address(name));
    program quick({"systemd-notify", "--no-block", "STATUS=quick"}, {"NOTIFY_SOCKET=" + name});
    CHECK(quick.wait() == 0);
    CHECK(receive_notification().payload == "STATUS=quick");
    CHECK_FALSE(readable_within(manager.native_handle(), 0ms));

    // systemd-notify calls that an error (exit 1); notify calls it nothing
    // to do, sd_notify's 0.
    program unset({"systemd-notify", "--ready"});
    CHECK(unset.wait() == 1);
    scoped_environment none("NOTIFY_SOCKET", std::nullopt);
    std::error_code ec;
    CHECK_FALSE(systemd::notify("READY=1", ec));
    CHECK_FALSE(ec);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "notify and notify_barrier send what systemd-notify sends for the same state")
{
    const std::string name = unique_at_name("same-as-systemd-notify");
    listen_at(systemd::parse_address(name));
    program notifier({"systemd-notify", "--ready", "--status=same", "EXTRA=1"},
                     {"NOTIFY_SOCKET=" + name});
    const notification theirs = receive_notification();
    notification their_barrier = receive_notification();
    their_barrier.fds[0].reset();
    CHECK(notifier.wait() == 0);

    scoped_environment socket("NOTIFY_SOCKET", name);
    REQUIRE(systemd::notify(theirs.payload));
    const notification ours = receive_notification();
    std::thread barrier_thread([] { systemd::notify_barrier({.timeout = program_timeout}); });
    notification our_barrier = receive_notification();
    our_barrier.fds[0].reset();
    barrier_thread.join();

    CHECK(theirs.payload == "READY=1\nSTATUS=same\nEXTRA=1");
    CHECK(ours.payload == theirs.payload);
    for (const notification* barrier : {&our_barrier, &their_barrier}) {
        CHECK(barrier->payload == "BARRIER=1");
        CHECK(barrier->fd_count == 1);
        CHECK(barrier->from.path().empty());
        CHECK_FALSE(barrier->truncated);
    }
    // Both from unnamed sockets, with credentials the kernel attached.
    CHECK(ours.from.path() == theirs.from.path());
    CHECK(ours.sender.has_value() == theirs.sender.has_value());
}

// ---------------------------------------------------------------------------
// systemd-socket-activate (systemd 252) starting example/activated_service
// ---------------------------------------------------------------------------

namespace {

/// Whether an abstract name ("@...") is bound, as /proc/net/unix lists it.
bool abstract_name_bound(const std::string& at_name)
{
    std::ifstream table("/proc/net/unix");
    std::string line;
    while (std::getline(table, line))
        if (line.ends_with(" " + at_name))
            return true;
    return false;
}

} // namespace

TEST_CASE_FIXTURE(manager_fixture,
                  "systemd-socket-activate --datagram starts our service, which takes its socket "
                  "with listen_fds, notifies, stores a descriptor and answers")
{
    temp_dir dir;
    const std::string service_path = (dir.path / "service").string();
    const std::string manager_name = unique_at_name("activate");
    listen_at(systemd::parse_address(manager_name));
    // Two sockets, named: the service serves the first and names both.
    program activator({"systemd-socket-activate", "--datagram", "-l", service_path, "-l",
                       (dir.path / "spare").string(), "--fdname=requests:spare", "-E",
                       "NOTIFY_SOCKET=" + manager_name, activated_service()});
    REQUIRE(eventually([&] { return std::filesystem::is_socket(service_path); }));

    socket_type client(io);
    client.open();
    client.bind(unixdgram::make_endpoint((dir.path / "client").string()));
    // The first datagram makes systemd-socket-activate exec the service,
    // which finds it queued on the socket it inherits.
    client.send_to(asio::buffer(std::string_view("hello")), unixdgram::make_endpoint(service_path));

    const notification ready = receive_notification();
    CHECK(ready.payload == "READY=1\nSTATUS=waiting for requests on 'requests'; also passed "
                           "'spare'");
    REQUIRE(ready.sender);
    // systemd-socket-activate execs the service in its own process, whose
    // pid LISTEN_PID names.
    CHECK(ready.sender->pid == activator.pid());

    notification stored = receive_notification();
    CHECK(stored.payload == "FDSTORE=1\nFDNAME=service-state");
    REQUIRE(stored.fd_count == 1);
    std::array<char, 64> content{};
    CHECK(std::string_view(content.data(), static_cast<std::size_t>(::pread(
                                               stored.fds[0].get(), content.data(), content.size(),
                                               0))) == "state kept by activated_service\n");

    REQUIRE(readable_within(client.native_handle(), program_timeout));
    std::array<char, 256> reply{};
    unixdgram::endpoint replier;
    const std::size_t length = client.receive_from(asio::buffer(reply), replier);
    CHECK(std::string_view(reply.data(), length) == "echo: hello");
    CHECK(replier.path() == service_path);
    CHECK(receive_notification().payload ==
          "STATUS=served 1 request(s), the last from " + (dir.path / "client").string());

    // It stops on quit, waiting at a barrier for this manager.
    client.send_to(asio::buffer(std::string_view("quit")), unixdgram::make_endpoint(service_path));
    CHECK(receive_notification().payload == "STOPPING=1\nSTATUS=asked to quit");
    pass_barrier(&activator);
    CHECK(activator.wait() == 0);
}

TEST_CASE_FIXTURE(manager_fixture,
                  "systemd-socket-activate -l @name passes an abstract socket that format_address "
                  "names the same way")
{
    const std::string service_name = unique_at_name("activate-abstract");
    const std::string manager_name = unique_at_name("activate-manager");
    listen_at(systemd::parse_address(manager_name));
    program activator({"systemd-socket-activate", "--datagram", "-l", service_name, "-E",
                       "NOTIFY_SOCKET=" + manager_name, activated_service()});
    REQUIRE(eventually([&] { return abstract_name_bound(service_name); }));

    const std::string client_name = unique_at_name("activate-client");
    socket_type client(io);
    client.open();
    client.bind(systemd::parse_address(client_name));
    client.send_to(asio::buffer(std::string_view("ping")), systemd::parse_address(service_name));

    // No --fdname: sd_listen_fds_with_names calls it "unknown".
    CHECK(receive_notification().payload == "READY=1\nSTATUS=waiting for requests on 'unknown'");
    CHECK(receive_notification().fd_count == 1);
    REQUIRE(readable_within(client.native_handle(), program_timeout));
    std::array<char, 256> reply{};
    unixdgram::endpoint replier;
    const std::size_t length = client.receive_from(asio::buffer(reply), replier);
    CHECK(std::string_view(reply.data(), length) == "echo: ping");
    CHECK(systemd::format_address(replier) == service_name);
    CHECK(receive_notification().payload ==
          "STATUS=served 1 request(s), the last from " + client_name);

    client.send_to(asio::buffer(std::string_view("quit")), systemd::parse_address(service_name));
    CHECK(receive_notification().payload == "STOPPING=1\nSTATUS=asked to quit");
    pass_barrier(&activator);
    CHECK(activator.wait() == 0);
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "the activated service started without systemd-socket-activate says so and fails")
{
    program service({activated_service()});
    CHECK(service.wait() == 2);
}

// ---------------------------------------------------------------------------
// socat 1.7.4
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(manager_fixture,
                  "socat UNIX-SENDTO and ABSTRACT-SENDTO reach our socket, with their address "
                  "and pid")
{
    temp_dir dir;
    const std::string path = (dir.path / "receiver").string();
    listen_at(unixdgram::make_endpoint(path));
    {
        program sender(
            {"socat", "-u", "-", "UNIX-SENDTO:" + path + ",bind=" + (dir.path / "socat").string()},
            {}, true);
        sender.write_line("by path");
        const notification received = receive_notification();
        CHECK(received.payload == "by path\n");
        CHECK(received.from.path() == (dir.path / "socat").string());
        REQUIRE(received.sender);
        CHECK(received.sender->pid == sender.pid());
    }

    const std::string name = unique_at_name("socat-sendto");
    socket_type abstract_receiver(io);
    abstract_receiver.open();
    abstract_receiver.bind(systemd::parse_address(name));
    const std::string socat_name = unique_at_name("socat-from");
    program sender(
        {"socat", "-u", "-", "ABSTRACT-SENDTO:" + name.substr(1) + ",bind=" + socat_name.substr(1)},
        {}, true);
    sender.write_line("by name");
    REQUIRE(readable_within(abstract_receiver.native_handle()));
    std::array<char, 64> storage{};
    unixdgram::endpoint from;
    const std::size_t length = abstract_receiver.receive_from(asio::buffer(storage), from);
    CHECK(std::string_view(storage.data(), length) == "by name\n");
    CHECK(systemd::format_address(from) == socat_name);
}

TEST_CASE_FIXTURE(io_fixture, "socat UNIX-RECV and ABSTRACT-RECV print what we send them")
{
    temp_dir dir;
    const std::string path = (dir.path / "socat").string();
    const std::string name = unique_at_name("socat-recv");
    program by_path({"socat", "-u", "UNIX-RECV:" + path, "-"}, {}, true);
    program by_name({"socat", "-u", "ABSTRACT-RECV:" + name.substr(1), "-"}, {}, true);
    REQUIRE(eventually([&] { return std::filesystem::is_socket(path); }));
    REQUIRE(eventually([&] { return abstract_name_bound(name); }));

    socket_type sender(io);
    sender.open();
    sender.send_to(asio::buffer(std::string_view("to a path\n")), unixdgram::make_endpoint(path));
    sender.send_to(asio::buffer(std::string_view("to a name\n")), systemd::parse_address(name));
    CHECK(by_path.read_line() == "to a path");
    CHECK(by_name.read_line() == "to a name");
}

TEST_CASE_FIXTURE(io_fixture,
                  "socat UNIX-RECVFROM and ABSTRACT-RECVFROM answer at the address we send from")
{
    temp_dir dir;
    const std::string path = (dir.path / "echo").string();
    const std::string name = unique_at_name("socat-echo");
    program by_path({"socat", "UNIX-RECVFROM:" + path, "PIPE"});
    program by_name({"socat", "ABSTRACT-RECVFROM:" + name.substr(1), "PIPE"});
    REQUIRE(eventually([&] { return std::filesystem::is_socket(path); }));
    REQUIRE(eventually([&] { return abstract_name_bound(name); }));

    struct exchange {
        unixdgram::endpoint ours;
        unixdgram::endpoint theirs;
        std::string text;
    };
    for (const exchange& round : {exchange{unixdgram::make_endpoint((dir.path / "me").string()),
                                           unixdgram::make_endpoint(path), "ping by path"},
                                  exchange{systemd::parse_address(unique_at_name("socat-me")),
                                           systemd::parse_address(name), "ping by name"}}) {
        socket_type client(io);
        client.open();
        client.bind(round.ours);
        client.send_to(asio::buffer(round.text), round.theirs);
        REQUIRE(readable_within(client.native_handle(), program_timeout));
        std::array<char, 64> storage{};
        unixdgram::endpoint from;
        const std::size_t length = client.receive_from(asio::buffer(storage), from);
        CHECK(std::string_view(storage.data(), length) == round.text);
        CHECK(systemd::format_address(from) == systemd::format_address(round.theirs));
    }
}

// ---------------------------------------------------------------------------
// CPython (socket.send_fds, socket.recv_fds)
// ---------------------------------------------------------------------------

namespace {

std::vector<std::string> python(std::vector<std::string> arguments)
{
    arguments.insert(arguments.begin(),
                     {environment_or("PYTHON3", "python3"), interop_file("notify_peer.py")});
    return arguments;
}

} // namespace

TEST_CASE_FIXTURE(manager_fixture,
                  "a python service's send_fds FDSTORE datagram arrives with its descriptor")
{
    const std::string name = unique_at_name("python-fdstore");
    listen_at(systemd::parse_address(name));
    program peer(python({"send-fdstore", name, "python-state"}));
    const pid_t peer_pid = peer.pid();
    notification stored = receive_notification();
    CHECK(peer.wait() == 0);
    CHECK(stored.payload == "FDSTORE=1\nFDNAME=python-state");
    CHECK_FALSE(stored.truncated);
    REQUIRE(stored.fd_count == 1);
    CHECK(is_cloexec(stored.fds[0].get()));
    CHECK(read_some(stored.fds[0].get()) == "kept by python\n");
    REQUIRE(stored.sender);
    CHECK(stored.sender->pid == peer_pid);
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "our notify and notify_barrier reach a python manager on recv_fds")
{
    temp_dir dir;
    const std::string path = (dir.path / "python-manager").string();
    program peer(python({"receive", path, "2"}), {}, true);
    REQUIRE(peer.read_line() == "bound");
    scoped_environment socket("NOTIFY_SOCKET", path);

    file_descriptor state = file_with_content("state from C++");
    const std::array<int, 1> fds{state.get()};
    CHECK(systemd::notify("FDSTORE=1\nFDNAME=cpp-state", fds));
    // CPython's recv_fds passes no MSG_CMSG_CLOEXEC: what it gets is
    // inheritable.
    CHECK(peer.read_line() == R"({"payload": "FDSTORE=1\nFDNAME=cpp-state", "truncated": false, )"
                              R"("fds": [{"cloexec": false, "kind": "file", )"
                              R"("content": "state from C++"}]})");

    barrier_in_thread waiter;
    CHECK(peer.read_line() == R"({"payload": "BARRIER=1", "truncated": false, )"
                              R"("fds": [{"cloexec": false, "kind": "pipe", "end": "write"}]})");
    CHECK(waiter.is_waiting());
    peer.write_line("close it");
    waiter.check_passed();
    CHECK(peer.wait() == 0);
}
