//
// test_credentials.cpp — SO_PASSCRED (pass_credentials, sender_credentials),
// SO_PEERCRED (peer_credentials), SO_PASSPIDFD (pass_pidfd, sender_pidfd) and
// SO_PEERPIDFD (peer_pidfd).
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "credentials_test.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using pair_fixture = socket_pair_fixture<socket_type>;

/// A child that sends `text` on `sending_end` and stays alive (so that a
/// pidfd of it still names it) until `release` is called.
struct lingering_sender {
    pid_t pid = -1;
    pipe_ends hold = make_pipe();

    lingering_sender(int sending_end, std::string_view text)
    {
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // Only async-signal-safe calls here.
            hold.write_end.reset();
            const bool sent = ::send(sending_end, text.data(), text.size(), MSG_NOSIGNAL) ==
                              static_cast<ssize_t>(text.size());
            char byte;
            while (::read(hold.read_end.get(), &byte, 1) < 0 && errno == EINTR) {
            }
            ::_exit(sent ? 0 : 1);
        }
        hold.read_end.reset();
    }

    int release()
    {
        hold.write_end.reset();
        int status = 0;
        if (pid > 0 && ::waitpid(pid, &status, 0) == pid) {
            pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        return -1;
    }

    ~lingering_sender() { static_cast<void>(release()); }
};

bool pidfds_available(socket_type& socket)
{
    std::error_code ec;
    socket.set_option(unixdgram::pass_pidfd(false), ec);
    if (ec)
        MESSAGE("SO_PASSPIDFD: " << describe(ec) << "; pidfds are not checked on this kernel");
    return !ec;
}

} // namespace

TEST_CASE_FIXTURE(pair_fixture, "pass_credentials is off by default and can be set and read back")
{
    socket_type::pass_credentials option(true);
    b.get_option(option);
    CHECK_FALSE(option.value());

    SUBCASE("throwing form")
    {
        b.set_option(socket_type::pass_credentials(true));
        b.get_option(option);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        b.set_option(unixdgram::pass_credentials(true), ec);
        CHECK_FALSE(ec);
        ec = std::make_error_code(std::errc::io_error);
        b.get_option(option, ec);
        CHECK_FALSE(ec);
    }
    CHECK(option.value());
    CHECK(static_cast<bool>(option));
    int raw = 0;
    socklen_t length = sizeof(raw);
    REQUIRE(::getsockopt(b.native_handle(), SOL_SOCKET, SO_PASSCRED, &raw, &length) == 0);
    CHECK(raw == 1);

    b.set_option(unixdgram::pass_credentials(false));
    b.get_option(option);
    CHECK_FALSE(option.value());
}

TEST_CASE_FIXTURE(pair_fixture, "with pass_credentials on, receive_with_fds reports the sender's "
                                "credentials alongside the descriptors")
{
    b.set_option(unixdgram::pass_credentials(true));
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("who am i")), fds_to_send);

    std::array<char, 16> storage{};
    // Room for exactly the one descriptor: the credentials need room of their
    // own beside it.
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result;
    SUBCASE("synchronous")
    {
        result = b.receive_with_fds(asio::buffer(storage), fds);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        result = b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
        CHECK_FALSE(ec);
    }
    SUBCASE("asynchronous")
    {
        int calls = 0;
        b.async_receive_with_fds(asio::buffer(storage), fds,
                                 [&](std::error_code ec, unixdgram::receive_result received) {
                                     ++calls;
                                     CHECK_FALSE(ec);
                                     result = std::move(received);
                                 });
        CHECK(calls == 0);
        run();
        CHECK(calls == 1);
    }
    SUBCASE("receive_from_with_fds")
    {
        unixdgram::endpoint sender;
        result = b.receive_from_with_fds(asio::buffer(storage), sender, fds);
    }
    CHECK(result.bytes == 8);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(*result.sender_credentials == own_credentials());
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), null_file.get()));
    CHECK_FALSE(result.control_truncated);
    CHECK_FALSE(result.truncated);
}

TEST_CASE_FIXTURE(pair_fixture, "credentials come with a datagram that carries no descriptors")
{
    b.set_option(unixdgram::pass_credentials(true));
    a.send(asio::buffer(std::string_view("bare")));
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 4);
    CHECK(result.fds.empty());
    CHECK_FALSE(result.control_truncated);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(*result.sender_credentials == own_credentials());
}

TEST_CASE_FIXTURE(pair_fixture, "credentials survive when descriptors beyond the room are closed")
{
    b.set_option(unixdgram::pass_credentials(true));
    file_descriptor null_file = open_dev_null();
    const std::array<int, 3> fds_to_send{null_file.get(), null_file.get(), null_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("three")), fds_to_send);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.fds.size() == 1);
    CHECK(result.control_truncated);
    CHECK(count_open_fds() == fds_before + 1);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(*result.sender_credentials == own_credentials());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "without pass_credentials on the receiver, sender_credentials is empty")
{
    SUBCASE("off everywhere") {}
    SUBCASE("on at the sender only")
    {
        a.set_option(unixdgram::pass_credentials(true));
    }
    SUBCASE("turned on, then off again")
    {
        b.set_option(unixdgram::pass_credentials(true));
        b.set_option(unixdgram::pass_credentials(false));
    }
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("anonymous")), fds_to_send);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 9);
    CHECK(result.fds.size() == 1);
    CHECK_FALSE(result.sender_credentials.has_value());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a datagram queued before pass_credentials was on reports no credentials, not "
                  "the kernel's overflow ids")
{
    // Linux fills SCM_CREDENTIALS of such a datagram with pid 0 and the
    // overflow uid and gid (65534, "nobody"): no sender, which must not pass
    // for one.
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("early")), fds_to_send);
    a.send(asio::buffer(std::string_view("plain")));
    b.set_option(unixdgram::pass_credentials(true));

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 5);
    CHECK(result.fds.size() == 1);
    if (result.sender_credentials)
        MESSAGE("reported as sender: pid " << result.sender_credentials->pid << ", uid "
                                           << result.sender_credentials->uid << ", gid "
                                           << result.sender_credentials->gid);
    CHECK_FALSE(result.sender_credentials.has_value());
    result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 5);
    CHECK_FALSE(result.sender_credentials.has_value());

    // A datagram sent after it was turned on carries real credentials.
    a.send(asio::buffer(std::string_view("late")));
    result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(result.sender_credentials->pid == ::getpid());
    CHECK(result.sender_credentials->uid == ::getuid());
}

TEST_CASE_FIXTURE(pair_fixture, "sender_credentials name the process that sent the datagram")
{
    b.set_option(unixdgram::pass_credentials(true));
    const int sending_end = a.native_handle();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Only async-signal-safe calls here.
        const bool sent = ::send(sending_end, "child", 5, MSG_NOSIGNAL) == 5;
        ::_exit(sent ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 5);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(result.sender_credentials->pid == child);
    CHECK(result.sender_credentials->uid == ::getuid());
    CHECK(result.sender_credentials->gid == ::getgid());
}

TEST_CASE_FIXTURE(pair_fixture, "peer_credentials of a socket pair are the process's own")
{
    SUBCASE("throwing form")
    {
        CHECK(a.peer_credentials() == own_credentials());
        CHECK(b.peer_credentials() == own_credentials());
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        CHECK(a.peer_credentials(ec) == own_credentials());
        CHECK_FALSE(ec);
    }
}

TEST_CASE_FIXTURE(pair_fixture, "peer_credentials of an unconnected socket fail")
{
    socket_type unconnected(io);
    unconnected.open();

    std::error_code ec;
    const unixdgram::credentials none = unconnected.peer_credentials(ec);
    CHECK(ec);
    CHECK(none == unixdgram::credentials{});

    bool threw = false;
    try {
        static_cast<void>(unconnected.peer_credentials());
    } catch (const std::system_error& failure) {
        threw = true;
        CHECK(failure.code() == ec);
    }
    CHECK(threw);
}

// ---------------------------------------------------------------------------
// pidfds (Linux 6.5)

TEST_CASE_FIXTURE(pair_fixture, "pass_pidfd is off by default and can be set and read back")
{
    if (!pidfds_available(b))
        return;
    socket_type::pass_pidfd option(true);
    b.get_option(option);
    CHECK_FALSE(option.value());
    b.set_option(unixdgram::pass_pidfd(true));
    b.get_option(option);
    CHECK(option.value());
    b.set_option(socket_type::pass_pidfd(false));
    b.get_option(option);
    CHECK_FALSE(option.value());
}

TEST_CASE_FIXTURE(pair_fixture, "with pass_pidfd on, receive_with_fds hands over a close-on-exec "
                                "pidfd naming the process that sent the datagram")
{
    if (!pidfds_available(b))
        return;
    b.set_option(unixdgram::pass_pidfd(true));
    lingering_sender child(a.native_handle(), "child");

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result;
    SUBCASE("synchronously")
    {
        result = b.receive_with_fds(asio::buffer(storage), fds);
    }
    SUBCASE("asynchronously")
    {
        completion<unixdgram::receive_result> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        result = std::move(receiving.result);
    }
    CHECK(result.bytes == 5);
    CHECK(result.fds.empty());
    CHECK_FALSE(result.control_truncated);
    CHECK_FALSE(result.sender_credentials.has_value());
    REQUIRE(result.sender_pidfd);
    CHECK(is_cloexec(result.sender_pidfd.get()));
    CHECK(pidfd_pid(result.sender_pidfd.get()) == child.pid);
    CHECK(count_open_fds() == fds_before + 1);
    result = unixdgram::receive_result();
    CHECK(count_open_fds() == fds_before);
    CHECK(child.release() == 0);
}

TEST_CASE_FIXTURE(pair_fixture, "credentials, a pidfd and 253 descriptors arrive together with no "
                                "control_truncated")
{
    if (!pidfds_available(b))
        return;
    b.set_option(unixdgram::pass_credentials(true));
    b.set_option(unixdgram::pass_pidfd(true));
    file_descriptor null_file = open_dev_null();
    std::array<int, unixdgram::max_fds_per_datagram> fds_to_send;
    fds_to_send.fill(null_file.get());
    const std::size_t fds_before = count_open_fds();
    a.send_with_fds(asio::buffer(std::string_view("full")), fds_to_send);

    std::array<char, 16> storage{};
    std::array<file_descriptor, unixdgram::max_fds_per_datagram> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 4);
    CHECK_FALSE(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK(result.fds.size() == unixdgram::max_fds_per_datagram);
    REQUIRE(result.sender_credentials.has_value());
    CHECK(*result.sender_credentials == own_credentials());
    REQUIRE(result.sender_pidfd);
    CHECK(pidfd_pid(result.sender_pidfd.get()) == ::getpid());
    CHECK(count_open_fds() == fds_before + unixdgram::max_fds_per_datagram + 1);
}

TEST_CASE_FIXTURE(pair_fixture, "a result received into again closes the pidfd it held")
{
    if (!pidfds_available(b))
        return;
    b.set_option(unixdgram::pass_pidfd(true));
    a.send(asio::buffer(std::string_view("one")));
    a.send(asio::buffer(std::string_view("two")));
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.sender_pidfd);
    result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.sender_pidfd);
    CHECK(count_open_fds() == fds_before + 1);
    // A datagram without a pidfd (the option turned off) leaves none behind.
    b.set_option(unixdgram::pass_pidfd(false));
    a.send(asio::buffer(std::string_view("three")));
    result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK_FALSE(result.sender_pidfd);
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE_FIXTURE(pair_fixture, "peer_pidfd of a socket pair names the process itself")
{
    std::error_code ec;
    file_descriptor peer = a.peer_pidfd(ec);
    if (ec == errno_is{ENOPROTOOPT}) {
        MESSAGE("SO_PEERPIDFD: " << describe(ec) << "; not checked on this kernel");
        return;
    }
    REQUIRE_FALSE(ec);
    REQUIRE(peer);
    CHECK(is_cloexec(peer.get()));
    CHECK(pidfd_pid(peer.get()) == ::getpid());
    file_descriptor other = b.peer_pidfd();
    CHECK(pidfd_pid(other.get()) == ::getpid());
}

TEST_CASE_FIXTURE(pair_fixture, "peer_pidfd of a socket with no recorded peer fails with ENOTCONN")
{
    socket_type unconnected(io);
    unconnected.open();
    std::error_code ec;
    file_descriptor none = unconnected.peer_pidfd(ec);
    CHECK_FALSE(none);
    if (ec == errno_is{ENOPROTOOPT})
        return;
    CHECK(ec == errno_is{ENOTCONN});
    CHECK(thrown_by([&] { static_cast<void>(unconnected.peer_pidfd()); }) == ec);
}

TEST_CASE("SO_PEERPIDFD's errors map to what peer_credentials reports, and a kernel without "
          "pidfds stays ENOPROTOOPT")
{
    CHECK(unixdgram::detail::peer_pidfd_error(ENODATA) == errno_is{ENOTCONN});
    CHECK(unixdgram::detail::peer_pidfd_error(ENOPROTOOPT) == errno_is{ENOPROTOOPT});
    CHECK(unixdgram::detail::peer_pidfd_error(EBADF) == errno_is{EBADF});
}
