//
// test_interop_python.cpp — descriptors and datagrams exchanged with a peer we
// did not write: test/interop/peer.py, on Python's socket module.
//
// meson sets PYTHON3 and UNIXDGRAM_INTEROP_DIR; run by hand, the test falls
// back to `python3` on the PATH and the directory beside this source file.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;

/// How long a test waits for the python peer: longer than safety_timeout,
/// as the peer first starts an interpreter.
constexpr auto peer_timeout = 20s;

std::string environment_or(const char* name, std::string fallback)
{
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

std::string python_program()
{
    return environment_or("PYTHON3", "python3");
}

std::string peer_script()
{
    const std::filesystem::path source_dir =
        std::filesystem::path(__FILE__).parent_path() / "interop";
    return (std::filesystem::path(environment_or("UNIXDGRAM_INTEROP_DIR", source_dir.string())) /
            "peer.py")
        .string();
}

/// `python3 peer.py MODE TARGET`, running; reaped (killed first, if still
/// running) at the latest when this object goes.
class python_peer {
public:
    python_peer(std::string_view mode, std::string target)
    {
        std::vector<std::string> arguments{python_program(), peer_script(), std::string(mode),
                                           std::move(target)};
        std::vector<char*> argv;
        for (std::string& argument : arguments)
            argv.push_back(argument.data());
        argv.push_back(nullptr);
        const int status = ::posix_spawnp(&pid_, argv[0], nullptr, nullptr, argv.data(), environ);
        INFO("spawning " << arguments[0] << " " << arguments[1]);
        REQUIRE(status == 0);
    }
    python_peer(const python_peer&) = delete;
    python_peer& operator=(const python_peer&) = delete;
    ~python_peer()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    /// Waits for the peer to exit and returns its exit status; -1 when it
    /// was killed by a signal or had to be killed after peer_timeout.
    int wait()
    {
        file_descriptor exited(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
        REQUIRE(exited);
        pollfd readiness{exited.get(), POLLIN, 0};
        const int timeout_ms = static_cast<int>(std::chrono::milliseconds(peer_timeout).count());
        if (::poll(&readiness, 1, timeout_ms) != 1) {
            MESSAGE("the python peer did not exit in time; killing it");
            ::kill(pid_, SIGKILL);
        }
        int status = 0;
        REQUIRE(::waitpid(pid_, &status, 0) == pid_);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
};

/// A socket pair: `ours` stays here, `theirs` is handed to the python peer.
struct handover_fixture : fd_count_fixture {
    asio::io_context io;
    socket_type ours{io};
    socket_type theirs{io};

    handover_fixture() { unixdgram::connect_pair(ours, theirs); }

    /// Starts the peer with `theirs`, which this process then no longer holds.
    python_peer start_peer(std::string_view mode)
    {
        // Released and made inheritable for the child; closed here once the
        // child has its own copy.
        file_descriptor handed(theirs.release());
        REQUIRE(::fcntl(handed.get(), F_SETFD, 0) == 0);
        return python_peer(mode, std::to_string(handed.get()));
    }

    void run()
    {
        io.restart();
        io.run_for(peer_timeout);
    }
};

} // namespace

TEST_CASE_FIXTURE(handover_fixture,
                  "a python peer's datagram with two descriptors arrives through receive_with_fds")
{
    std::array<char, 64> storage{};
    std::array<file_descriptor, 4> fds;
    int calls = 0;
    std::error_code receive_ec;
    unixdgram::receive_result result;
    ours.async_receive_with_fds(asio::buffer(storage), fds,
                                [&](std::error_code ec, unixdgram::receive_result received) {
                                    ++calls;
                                    receive_ec = ec;
                                    result = std::move(received);
                                });

    python_peer peer = start_peer("send-fds");
    run();
    CHECK(peer.wait() == 0);
    REQUIRE(calls == 1);
    REQUIRE_FALSE(receive_ec);
    CHECK(std::string_view(storage.data(), result.bytes) == "two fds from python");
    REQUIRE(result.fds.size() == 2);
    CHECK_FALSE(result.control_truncated);
    CHECK_FALSE(result.truncated);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(is_cloexec(fds[1].get()));

    CHECK(read_some(fds[0].get()) == "file written by python\n");
    CHECK(read_some(fds[1].get()) == "pipe written by python");
    // Python closed its write end: the pipe is at end of file.
    CHECK(read_some(fds[1].get()).empty());
}

TEST_CASE_FIXTURE(handover_fixture, "a descriptor sent with send_with_fds is read by a python peer")
{
    python_peer peer = start_peer("receive-fd");
    file_descriptor file = file_with_content("written by the C++ test\n");
    const std::array<int, 1> fds_to_send{file.get()};
    CHECK(ours.send_with_fds(asio::buffer(std::string_view("take this file")), fds_to_send) == 14);

    std::array<char, 256> storage{};
    int calls = 0;
    std::error_code receive_ec;
    std::size_t received = 0;
    ours.async_receive(asio::buffer(storage), [&](std::error_code ec, std::size_t bytes) {
        ++calls;
        receive_ec = ec;
        received = bytes;
    });
    run();
    CHECK(peer.wait() == 0);
    REQUIRE(calls == 1);
    REQUIRE_FALSE(receive_ec);
    CHECK(std::string_view(storage.data(), received) ==
          "python got 'take this file' and read 'written by the C++ test\n' with 1 fd");
}

TEST_CASE_FIXTURE(
    fd_count_fixture,
    "a python peer at an autobound address exchanges descriptors with a socket bound to a path")
{
    temp_dir directory;
    asio::io_context io;
    const std::string path = (directory.path / "cpp.sock").string();
    socket_type server(io);
    server.open();
    server.bind(unixdgram::make_endpoint(path));

    python_peer peer("exchange", path);

    std::array<char, 256> storage{};
    std::array<file_descriptor, 2> fds;
    unixdgram::endpoint python_endpoint;
    int calls = 0;
    std::error_code receive_ec;
    unixdgram::receive_result result;
    server.async_receive_from_with_fds(asio::buffer(storage), python_endpoint, fds,
                                       [&](std::error_code ec, unixdgram::receive_result received) {
                                           ++calls;
                                           receive_ec = ec;
                                           result = std::move(received);
                                       });
    io.run_for(peer_timeout);
    REQUIRE(calls == 1);
    REQUIRE_FALSE(receive_ec);
    CHECK(std::string_view(storage.data(), result.bytes) == "hello from python");
    REQUIRE(result.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "exchanged by python\n");
    const std::string python_name = python_endpoint.path();
    REQUIRE(python_name.size() == 6);
    CHECK(python_name[0] == '\0');

    file_descriptor file = file_with_content("from the C++ side\n");
    const std::array<int, 1> fds_to_send{file.get()};
    CHECK(server.send_to_with_fds(asio::buffer(std::string_view("your turn")), python_endpoint,
                                  fds_to_send) == 9);

    unixdgram::endpoint reporter;
    int report_calls = 0;
    std::size_t report_length = 0;
    server.async_receive_from(asio::buffer(storage), reporter,
                              [&](std::error_code ec, std::size_t bytes) {
                                  ++report_calls;
                                  receive_ec = ec;
                                  report_length = bytes;
                              });
    io.restart();
    io.run_for(peer_timeout);
    CHECK(peer.wait() == 0);
    REQUIRE(report_calls == 1);
    REQUIRE_FALSE(receive_ec);
    CHECK(std::string_view(storage.data(), report_length) ==
          "python got 'your turn' and read 'from the C++ side\n' with 1 fd");
    CHECK(reporter.path() == python_name);
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "a python peer bound to an abstract name of all 108 bytes is named exactly and "
                  "reached by a reply")
{
    temp_dir directory;
    asio::io_context io;
    const std::string path = (directory.path / "cpp.sock").string();
    socket_type server(io);
    server.open();
    server.bind(unixdgram::make_endpoint(path));

    python_peer peer("full-name", path);

    std::array<char, 256> storage{};
    unixdgram::endpoint python_endpoint;
    int calls = 0;
    std::error_code receive_ec;
    std::size_t length = 0;
    server.async_receive_from(asio::buffer(storage), python_endpoint,
                              [&](std::error_code ec, std::size_t bytes) {
                                  ++calls;
                                  receive_ec = ec;
                                  length = bytes;
                              });
    io.run_for(peer_timeout);
    REQUIRE(calls == 1);
    REQUIRE_FALSE(receive_ec);
    // The peer sent the name it bound.
    const std::string bound_name(storage.data(), length);
    REQUIRE(bound_name.size() == 108);
    CHECK(python_endpoint.path() == bound_name);
    CHECK(python_endpoint.size() == sizeof(sockaddr_un));

    const std::string reply = "reply to " + bound_name;
    CHECK(server.send_to(asio::buffer(reply), python_endpoint) == reply.size());
    CHECK(peer.wait() == 0);
}
