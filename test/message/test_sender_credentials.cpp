//
// test_sender_credentials.cpp — explicit credentials
// (send_control::sender_credentials) in every form: this process's own,
// another process's as root, a pid no process has, and the EPERM of an
// unprivileged process.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

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
    REQUIRE_FALSE(
        send_message_in<Form>(f, f.a, asio::buffer(std::string_view("fine")), nullptr, {}).ec);
    const receive_outcome got =
        receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, {});
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
    const send_outcome sent =
        send_message_in<Form>(f, f.a, asio::buffer(std::string_view("mine")), nullptr,
                              {.sender_credentials = own_credentials()});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == 4);
    // The kernel would attach these credentials anyway: what tells that they
    // were sent is the SCM_CREDENTIALS message sendmsg carried.
    CHECK(credentials_last_sent() == std::optional(own_credentials()));
    const receive_outcome got =
        receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, {});
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "mine");
    REQUIRE(got.value.sender_credentials.has_value());
    CHECK(*got.value.sender_credentials == own_credentials());
}
TEST_CASE_TEMPLATE_APPLY(own_credentials_arrive, completion_forms_and_try);

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
        sent = send_message_in<Form>(f, f.client, asio::buffer(std::string_view("claimed")),
                                     &f.server_endpoint,
                                     {.fds = fds_to_send, .sender_credentials = claimed});
        REQUIRE_FALSE(sent.ec);
        got = receive_message_in<Form>(f, f.server, asio::buffer(storage), nullptr, fds);
    } else {
        sent = send_message_in<Form>(f, f.a, asio::buffer(std::string_view("claimed")), nullptr,
                                     {.fds = fds_to_send, .sender_credentials = claimed});
        REQUIRE_FALSE(sent.ec);
        got = receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, fds);
    }
    CHECK(sent.value == 7);
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "claimed");
    REQUIRE(got.value.sender_credentials.has_value());
    CHECK(*got.value.sender_credentials == claimed);
    REQUIRE(got.value.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "with credentials");
}
TEST_CASE_TEMPLATE_APPLY(root_credentials_arrive, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE(
    "as root, send_message naming a pid no process has fails with ESRCH and sends nothing" *
        doctest::skip(!running_as_root()),
    Form, root_dead_pid)
{
    message_fixture f;
    f.b.set_option(unixdgram::pass_credentials(true));
    const pid_t nobody = reaped_pid();
    const send_outcome refused =
        send_message_in<Form>(f, f.a, asio::buffer(std::string_view("refused")), nullptr,
                              {.sender_credentials = credentials{nobody, ::getuid(), ::getgid()}});
    check_refused<Form>(f, refused, ESRCH);
}
TEST_CASE_TEMPLATE_APPLY(root_dead_pid, completion_forms_and_try);

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
    const send_outcome refused =
        send_message_in<Form>(f, f.a, asio::buffer(std::string_view("refused")), nullptr,
                              {.sender_credentials = claimed});
    check_refused<Form>(f, refused, EPERM);
}
TEST_CASE_TEMPLATE_APPLY(unprivileged_eperm, completion_forms_and_try);

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
