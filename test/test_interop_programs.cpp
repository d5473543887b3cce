//
// test_interop_programs.cpp — credentials, pidfds and descriptors as real
// programs from Debian send them to our sockets: logger (bsdutils 2.38) in
// RFC 3164 and RFC 5424 formats, received with receive_many; systemd-notify
// (systemd 252) with pidfds; CPython sending SCM_CREDENTIALS by hand
// (test/interop/credentials_peer.py); python3-systemd's notify and journal
// calls (test/interop/libsystemd_peer.py), the journal's in a private mount
// namespace (unshare, test/interop/journal_namespace.sh).
//
// meson sets UNIXDGRAM_SYSTEM_PYTHON3 (Debian's /usr/bin/python3, the one
// python3-systemd is installed for) and UNIXDGRAM_INTEROP_DIR. A program
// that scripts/test installs and is missing fails its test, naming it. What
// the machine may lack says so and the test stops there, passing: pidfds
// (SO_PASSPIDFD, Linux 6.5), an unprivileged user (setpriv and nobody), and
// mount namespaces (unshare). Privilege changes what the kernel lets a sender
// claim; the tests expect what their user gets, root or not.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "interop_program.hpp"
#include "unixdgram_test.hpp"

#include <unixdgram/batch.hpp>
#include <unixdgram/datagram_socket.hpp>
#include <unixdgram/systemd.hpp>

#include <asio/buffer.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;
namespace systemd = unixdgram::systemd;

namespace {

using socket_type = unixdgram::datagram_socket<>;

std::string system_python()
{
    return environment_or("UNIXDGRAM_SYSTEM_PYTHON3", "/usr/bin/python3");
}

/// Whether `name` is an executable file in a directory of PATH.
bool on_path(std::string_view name)
{
    std::istringstream directories(environment_or("PATH", "/usr/bin:/bin"));
    std::string directory;
    while (std::getline(directories, directory, ':'))
        if (!directory.empty() &&
            ::access((directory + "/" + std::string(name)).c_str(), X_OK) == 0)
            return true;
    return false;
}

/// The command that runs what follows it as nobody:nogroup without
/// supplementary groups when this test is root (setpriv), nothing when it
/// is not; empty, with a message saying why, when that cannot be done.
std::optional<std::vector<std::string>> unprivileged_prefix()
{
    if (::geteuid() != 0)
        return std::vector<std::string>{};
    if (!on_path("setpriv") || ::getpwnam("nobody") == nullptr ||
        ::getgrnam("nogroup") == nullptr) {
        MESSAGE("skipped: running as root, and setpriv or the user nobody or the group nogroup "
                "is missing, so there is no unprivileged sender");
        return std::nullopt;
    }
    return std::vector<std::string>{"setpriv", "--reuid=nobody", "--regid=nogroup",
                                    "--clear-groups", "--"};
}

/// The uid and gid an unprivileged_prefix() command runs with; only after
/// unprivileged_prefix() gave one.
unixdgram::credentials unprivileged_identity()
{
    if (::geteuid() != 0)
        return {0, ::getuid(), ::getgid()};
    return {0, ::getpwnam("nobody")->pw_uid, ::getgrnam("nogroup")->gr_gid};
}

std::vector<std::string> joined(std::vector<std::string> first,
                                const std::vector<std::string>& then)
{
    first.insert(first.end(), then.begin(), then.end());
    return first;
}

/// This machine's name, as gethostname(2) gives it.
std::string host_name()
{
    std::array<char, 256> name{};
    REQUIRE(::gethostname(name.data(), name.size() - 1) == 0);
    return name.data();
}

/// Whether a pidfd can still signal its process: a live pidfd of a live
/// process (pidfd_send_signal with signal 0).
bool pidfd_reaches_process(int pidfd)
{
    return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0;
}

/// Whether process `pid` is blocked in read(2) on descriptor `fd` right now,
/// as /proc/<pid>/syscall says (the number, then the arguments in hex; or
/// "running"); nothing when the file cannot be read (Yama's ptrace_scope,
/// an old kernel).
std::optional<bool> blocked_reading(pid_t pid, int fd)
{
    std::ifstream syscall_file("/proc/" + std::to_string(pid) + "/syscall");
    std::string number;
    std::string first_argument;
    if (!(syscall_file >> number))
        return std::nullopt;
    if (number == "running")
        return false;
    syscall_file >> first_argument;
    std::ostringstream expected;
    expected << "0x" << std::hex << fd;
    return number == std::to_string(SYS_read) && first_argument == expected.str();
}

/// One datagram as the tests see it, with everything the kernel attached.
struct arrival {
    std::string payload;
    std::array<file_descriptor, 4> fds;
    std::size_t fd_count = 0;
    std::optional<unixdgram::credentials> sender;
    file_descriptor pidfd;
    unixdgram::endpoint from;
    bool truncated = false;
    bool control_truncated = false;
};

/// A socket that receives with credentials, and with pidfds where the kernel
/// has them.
struct receiver_fixture : io_fixture {
    socket_type receiver{io};
    bool pidfds = false;

    void listen_at(const unixdgram::endpoint& address)
    {
        receiver.open();
        receiver.bind(address);
        receiver.set_option(socket_type::pass_credentials(true));
        std::error_code ec;
        receiver.set_option(socket_type::pass_pidfd(true), ec);
        if (ec == errno_is{ENOPROTOOPT}) {
            MESSAGE("SO_PASSPIDFD: " << describe(ec)
                                     << "; this kernel gives no pidfds, which are not checked");
            return;
        }
        REQUIRE_FALSE(ec);
        pidfds = true;
    }

    /// The next datagram, with up to 4 descriptors; REQUIREs one within
    /// `timeout`.
    arrival receive_one(std::size_t buffer_size = 65536,
                        std::chrono::milliseconds timeout = program_timeout)
    {
        REQUIRE(readable_within(receiver.native_handle(), timeout));
        arrival received;
        std::string storage(buffer_size, '\0');
        unixdgram::receive_result result =
            receiver.receive_from_with_fds(asio::buffer(storage), received.from, received.fds);
        received.payload = storage.substr(0, result.bytes);
        received.fd_count = result.fds.size();
        received.sender = result.sender_credentials;
        received.pidfd = std::move(result.sender_pidfd);
        received.truncated = result.truncated;
        received.control_truncated = result.control_truncated;
        return received;
    }

    /// Checks that `received` names `pid` in its credentials and, with
    /// pidfds, in its pidfd.
    void check_sender_pid(const arrival& received, pid_t pid) const
    {
        REQUIRE(received.sender);
        CHECK(received.sender->pid == pid);
        if (!pidfds)
            return;
        REQUIRE(received.pidfd);
        CHECK(is_cloexec(received.pidfd.get()));
        CHECK(pidfd_pid(received.pidfd.get()) == pid);
    }
};

// ---------------------------------------------------------------------------
// logger
// ---------------------------------------------------------------------------

/// A line logger was given, with the priority its --prio-prefix sets.
struct logged_line {
    int priority;
    std::string text;
};

// user.notice (logger's default), user.err, local4.notice.
const std::vector<logged_line> logger_lines{
    {13, "first message from logger"},
    {11, "second message, at user.err"},
    {165, "third message, at local4.notice"},
};

/// What arrived from one logger run, its pid and the payloads in order.
struct logger_run {
    pid_t pid = 0;
    std::vector<std::string> payloads;
};

struct logger_fixture : receiver_fixture {
    temp_dir dir;

    /// Runs `logger -u <socket> -d` with the format options, writes
    /// logger_lines to its stdin (each line is one message), and receives
    /// the datagrams with receive_many while logger is still running, so
    /// that the pidfds name a live process. Checks, for every entry, what
    /// any format gives: the credentials and pidfd name logger, an unnamed
    /// sender, no truncation; and that the pidfds say so no more once logger
    /// is reaped.
    logger_run run_logger(const std::vector<std::string>& format)
    {
        const std::string path = (dir.path / "log").string();
        listen_at(unixdgram::make_endpoint(path));
        program logger(joined({"logger", "--socket-errors=on", "-u", path, "-d", "-i", "-t",
                               "unixdgram-test", "--prio-prefix"},
                              format),
                       {}, true);
        logger_run run{logger.pid(), {}};
        for (const logged_line& line : logger_lines)
            logger.write_line(
                (line.priority == 13 ? "" : "<" + std::to_string(line.priority) + ">") + line.text);
        // Once it has read every line and waits for more, it has sent them
        // all (it reads again only when its buffer is empty): they are
        // queued together, and one receive_many should take them.
        bool all_queued = true;
        REQUIRE(eventually([&] {
            const std::optional<bool> waiting = blocked_reading(logger.pid(), STDIN_FILENO);
            all_queued = waiting.has_value();
            return logger.stdin_unread() == 0 && waiting.value_or(true);
        }));
        if (!all_queued)
            MESSAGE("cannot read /proc/" << logger.pid()
                                         << "/syscall; not checking that one call takes all");

        std::vector<file_descriptor> logger_pidfds;
        int calls = 0;
        while (run.payloads.size() < logger_lines.size()) {
            INFO("received " << run.payloads.size() << " of " << logger_lines.size());
            REQUIRE(readable_within(receiver.native_handle(), program_timeout));
            std::array<std::array<char, 1024>, 8> storage{};
            std::array<unixdgram::endpoint, 8> senders;
            std::array<unixdgram::receive_entry, 8> entries;
            for (std::size_t index = 0; index < entries.size(); ++index) {
                entries[index].buffer = asio::buffer(storage[index]);
                entries[index].sender = &senders[index];
            }
            const std::size_t count = receiver.receive_many(entries);
            ++calls;
            REQUIRE(count >= 1);
            for (std::size_t index = 0; index < count; ++index) {
                unixdgram::receive_entry& entry = entries[index];
                CAPTURE(index);
                run.payloads.emplace_back(storage[index].data(), entry.bytes);
                CHECK_FALSE(entry.truncated);
                CHECK_FALSE(entry.control_truncated);
                CHECK_FALSE(entry.sender_too_long);
                CHECK(senders[index].path().empty());
                REQUIRE(entry.sender_credentials);
                CHECK(entry.sender_credentials->pid == logger.pid());
                CHECK(entry.sender_credentials->uid == ::getuid());
                CHECK(entry.sender_credentials->gid == ::getgid());
                if (pidfds) {
                    REQUIRE(entry.sender_pidfd);
                    CHECK(is_cloexec(entry.sender_pidfd.get()));
                    CHECK(pidfd_pid(entry.sender_pidfd.get()) == logger.pid());
                    CHECK(pidfd_reaches_process(entry.sender_pidfd.get()));
                    logger_pidfds.push_back(std::move(entry.sender_pidfd));
                } else {
                    CHECK_FALSE(entry.sender_pidfd);
                }
            }
        }
        for (const std::string& payload : run.payloads)
            MESSAGE("logger sent: " << payload);
        CHECK(run.payloads.size() == logger_lines.size());
        if (all_queued)
            CHECK(calls == 1);
        logger.close_stdin();
        CHECK(logger.wait() == 0);
        CHECK_FALSE(readable_within(receiver.native_handle(), 0ms));
        // Reaped, logger is gone from every pidfd that named it.
        for (const file_descriptor& pidfd : logger_pidfds)
            CHECK(pidfd_pid(pidfd.get()) == -1);
        return run;
    }

    /// Checks that each payload of `run` matches `format`, whose groups are
    /// the priority, the host, the pid and the text, and that they are
    /// logger_lines' in order, from `host` and logger.
    static void check_format(const logger_run& run, const std::regex& format,
                             const std::string& host)
    {
        REQUIRE(run.payloads.size() == logger_lines.size());
        for (std::size_t index = 0; index < logger_lines.size(); ++index) {
            const std::string& payload = run.payloads[index];
            CAPTURE(payload);
            std::smatch fields;
            REQUIRE(std::regex_match(payload, fields, format));
            CHECK(std::stoi(fields[1]) == logger_lines[index].priority);
            CHECK(fields[2] == host);
            CHECK(std::stol(fields[3]) == run.pid);
            CHECK(fields[4] == logger_lines[index].text);
        }
    }
};

} // namespace

TEST_CASE_FIXTURE(logger_fixture,
                  "logger --rfc3164 -u sends one datagram per line; receive_many takes them "
                  "with logger's credentials and pidfd, all in one call")
{
    // <PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG, the host up to its first dot.
    check_format(run_logger({"--rfc3164"}),
                 std::regex(R"(<([1-9]\d{0,2})>[A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2} (\S+) )"
                            R"(unixdgram-test\[(\d+)\]: (.*))"),
                 host_name().substr(0, host_name().find('.')));
}

TEST_CASE_FIXTURE(logger_fixture,
                  "logger --rfc5424 -u sends one datagram per line; receive_many takes them "
                  "with logger's credentials and pidfd, all in one call")
{
    // <PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA MSG
    check_format(
        run_logger({"--rfc5424", "--msgid=batch"}),
        std::regex(R"(<([1-9]\d{0,2})>1 \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}[+-]\d{2}:\d{2} )"
                   R"((\S+) unixdgram-test (\d+) batch )"
                   R"(\[timeQuality tzKnown="[01]" isSynced="[01]"[^\]]*\] (.*))"),
        host_name());
}

// ---------------------------------------------------------------------------
// systemd-notify (systemd 252) with pidfds
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(receiver_fixture,
                  "systemd-notify's datagrams carry pidfds naming the pid their credentials "
                  "claim: its parent's for the state, its own for the barrier")
{
    const std::string name = unique_at_name("notify-pidfd");
    listen_at(systemd::parse_address(name));
    if (!pidfds) {
        MESSAGE("skipped: the kernel has no SO_PASSPIDFD (Linux 6.5), which this test is about");
        return;
    }
    program notifier({"systemd-notify", "--ready", "--status=pidfd check"},
                     {"NOTIFY_SOCKET=" + name});
    // systemd-notify speaks for its parent, this test, with SCM_CREDENTIALS
    // the kernel lets root send; SCM_PIDFD then names the pid they claim.
    // Without the privilege libsystemd sends its own.
    const pid_t claimed = ::geteuid() == 0 ? ::getpid() : notifier.pid();
    const arrival state = receive_one();
    CHECK(state.payload == "READY=1\nSTATUS=pidfd check");
    CHECK(state.fd_count == 0);
    CHECK_FALSE(state.control_truncated);
    check_sender_pid(state, claimed);
    REQUIRE(state.sender);
    CHECK(state.sender->uid == ::getuid());
    CHECK(state.sender->gid == ::getgid());
    CHECK(pidfd_reaches_process(state.pidfd.get()));

    // The barrier, a pipe's write end and systemd-notify's own pidfd in one
    // datagram, with room for both.
    arrival barrier = receive_one();
    CHECK(barrier.payload == "BARRIER=1");
    CHECK_FALSE(barrier.control_truncated);
    REQUIRE(barrier.fd_count == 1);
    struct stat status {};
    REQUIRE(::fstat(barrier.fds[0].get(), &status) == 0);
    CHECK(S_ISFIFO(status.st_mode));
    check_sender_pid(barrier, notifier.pid());
    MESSAGE("systemd-notify " << notifier.pid() << " sent " << state.payload.size()
                              << " bytes claiming pid " << state.sender->pid
                              << " (this test: " << ::getpid() << "), then BARRIER=1 as itself");
    barrier.fds[0].reset();
    CHECK(notifier.wait() == 0);
    // Reaped, systemd-notify is gone from its pidfds; the parent is not.
    CHECK(pidfd_pid(barrier.pidfd.get()) == -1);
    CHECK(pidfd_pid(state.pidfd.get()) == (claimed == notifier.pid() ? -1 : claimed));
}

TEST_CASE_FIXTURE(receiver_fixture,
                  "systemd-notify --pid names another process as MAINPID, and as root its "
                  "credentials and pidfd name that process")
{
    temp_dir dir;
    const std::string path = (dir.path / "notify").string();
    listen_at(unixdgram::make_endpoint(path));
    program main_process({"sleep", "60"});
    program notifier({"systemd-notify", "--pid=" + std::to_string(main_process.pid()),
                      "--status=main elsewhere"},
                     {"NOTIFY_SOCKET=" + path});
    const arrival state = receive_one();
    CHECK(state.payload == "STATUS=main elsewhere\nMAINPID=" + std::to_string(main_process.pid()));
    check_sender_pid(state, ::geteuid() == 0 ? main_process.pid() : notifier.pid());
    arrival barrier = receive_one();
    CHECK(barrier.payload == "BARRIER=1");
    REQUIRE(barrier.fd_count == 1);
    check_sender_pid(barrier, notifier.pid());
    barrier.fds[0].reset();
    CHECK(notifier.wait() == 0);
    // The pidfd follows the main process, not systemd-notify.
    if (pidfds && ::geteuid() == 0) {
        CHECK(pidfd_pid(state.pidfd.get()) == main_process.pid());
        ::kill(main_process.pid(), SIGTERM);
        CHECK(main_process.wait() == -1);
        CHECK(pidfd_pid(state.pidfd.get()) == -1);
    }
}

// ---------------------------------------------------------------------------
// CPython sending SCM_CREDENTIALS by hand (socket.sendmsg)
// ---------------------------------------------------------------------------

namespace {

/// `credentials_peer.py send ADDRESS PID UID GID TEXT`, after `prefix`.
std::vector<std::string> credentials_peer(const std::vector<std::string>& prefix,
                                          const std::string& address,
                                          std::vector<std::string> claimed, std::string text)
{
    std::vector<std::string> arguments =
        joined(prefix, {system_python(), interop_file("credentials_peer.py"), "send", address});
    arguments.insert(arguments.end(), claimed.begin(), claimed.end());
    arguments.push_back(std::move(text));
    return arguments;
}

std::string numbers(const unixdgram::credentials& credentials)
{
    return std::to_string(credentials.pid) + " " + std::to_string(credentials.uid) + " " +
           std::to_string(credentials.gid);
}

} // namespace

TEST_CASE_FIXTURE(receiver_fixture,
                  "a python peer running as root sends credentials naming another process and "
                  "user, and our receiver sees exactly those")
{
    if (::geteuid() != 0) {
        MESSAGE("skipped: not root, so the kernel lets no sender claim another pid");
        return;
    }
    const std::string name = unique_at_name("python-credentials");
    listen_at(systemd::parse_address(name));
    // The python peer's parent is this test; ids that no account needs to
    // have, as the kernel checks privilege, not existence.
    const unixdgram::credentials claimed{::getpid(), 4242, 4343};
    program peer(credentials_peer(
                     {}, name, {"parent", std::to_string(claimed.uid), std::to_string(claimed.gid)},
                     "on behalf of my parent"),
                 {}, true);
    CHECK(peer.read_line() == "sent " + numbers(claimed));
    const arrival received = receive_one();
    CHECK(received.payload == "on behalf of my parent");
    REQUIRE(received.sender);
    CHECK(*received.sender == claimed);
    CHECK(received.sender->pid != peer.pid());
    check_sender_pid(received, ::getpid());
    CHECK_FALSE(received.control_truncated);
    CHECK(peer.wait() == 0);
}

TEST_CASE_FIXTURE(receiver_fixture,
                  "a python peer without privilege is refused EPERM for another pid or uid, and "
                  "its own credentials arrive")
{
    const std::optional<std::vector<std::string>> prefix = unprivileged_prefix();
    if (!prefix)
        return;
    const std::string name = unique_at_name("python-unprivileged");
    listen_at(systemd::parse_address(name));
    const unixdgram::credentials identity = unprivileged_identity();
    const std::string uid = std::to_string(identity.uid);
    const std::string gid = std::to_string(identity.gid);
    {
        program peer(credentials_peer(*prefix, name, {"parent", "self", "self"}, "not mine"), {},
                     true);
        CHECK(peer.read_line() ==
              "refused EPERM " + std::to_string(::getpid()) + " " + uid + " " + gid);
        CHECK(peer.wait() == 0);
    }
    if (identity.uid != 0) {
        program peer(credentials_peer(*prefix, name, {"self", "0", "self"}, "root's"), {}, true);
        CHECK(peer.read_line() == "refused EPERM " + std::to_string(peer.pid()) + " 0 " + gid);
        CHECK(peer.wait() == 0);
    }
    // Refused, nothing was sent; what follows is the first datagram.
    CHECK_FALSE(readable_within(receiver.native_handle(), 0ms));
    program peer(credentials_peer(*prefix, name, {"self", "self", "self"}, "my own"), {}, true);
    const unixdgram::credentials own{peer.pid(), identity.uid, identity.gid};
    CHECK(peer.read_line() == "sent " + numbers(own));
    const arrival received = receive_one();
    CHECK(received.payload == "my own");
    REQUIRE(received.sender);
    CHECK(*received.sender == own);
    check_sender_pid(received, peer.pid());
    CHECK(peer.wait() == 0);
}

// ---------------------------------------------------------------------------
// python3-systemd: systemd.daemon.notify (sd_pid_notify_with_fds)
// ---------------------------------------------------------------------------

namespace {

/// `libsystemd_peer.py ARGUMENTS...` on Debian's python, after `prefix`.
std::vector<std::string> libsystemd_peer(const std::vector<std::string>& prefix,
                                         const std::vector<std::string>& arguments)
{
    return joined(joined(prefix, {system_python(), interop_file("libsystemd_peer.py")}), arguments);
}

} // namespace

TEST_CASE_FIXTURE(receiver_fixture,
                  "python3-systemd's notify with a pid and descriptors reaches a path and an "
                  "@abstract NOTIFY_SOCKET with them and credentials naming that pid")
{
    temp_dir dir;
    for (const std::string& address :
         {(dir.path / "notify").string(), unique_at_name("python-systemd")}) {
        CAPTURE(address);
        listen_at(systemd::parse_address(address));
        const std::string state = "READY=1\nSTATUS=python-systemd at " + address;
        program peer(libsystemd_peer({}, {"notify", state, "parent", "first file", "second file"}),
                     {"NOTIFY_SOCKET=" + address}, true);
        // sd_pid_notify_with_fds for its parent, this test: as root the
        // kernel takes the claim, else libsystemd sends its own credentials.
        const pid_t claimed = ::geteuid() == 0 ? ::getpid() : peer.pid();
        CHECK(peer.read_line() == "notify " + std::to_string(::getpid()) + " True");
        const arrival received = receive_one();
        CHECK(received.payload == state);
        CHECK_FALSE(received.truncated);
        CHECK_FALSE(received.control_truncated);
        // Sent from an unnamed socket.
        CHECK(received.from.path().empty());
        REQUIRE(received.fd_count == 2);
        CHECK(is_cloexec(received.fds[0].get()));
        std::array<char, 64> content{};
        CHECK(std::string_view(content.data(), static_cast<std::size_t>(
                                                   ::pread(received.fds[0].get(), content.data(),
                                                           content.size(), 0))) == "first file");
        CHECK(std::string_view(content.data(), static_cast<std::size_t>(
                                                   ::pread(received.fds[1].get(), content.data(),
                                                           content.size(), 0))) == "second file");
        check_sender_pid(received, claimed);
        REQUIRE(received.sender);
        CHECK(received.sender->uid == ::getuid());
        CHECK(received.sender->gid == ::getgid());
        CHECK(peer.wait() == 0);
        receiver.close();
    }
}

TEST_CASE_FIXTURE(receiver_fixture,
                  "python3-systemd's notify for another pid without privilege falls back to the "
                  "sender's own credentials")
{
    const std::optional<std::vector<std::string>> prefix = unprivileged_prefix();
    if (!prefix)
        return;
    const std::string name = unique_at_name("python-systemd-unprivileged");
    listen_at(systemd::parse_address(name));
    program peer(libsystemd_peer(*prefix, {"notify", "STATUS=on behalf of my parent", "parent"}),
                 {"NOTIFY_SOCKET=" + name}, true);
    CHECK(peer.read_line() == "notify " + std::to_string(::getpid()) + " True");
    const arrival received = receive_one();
    CHECK(received.payload == "STATUS=on behalf of my parent");
    CHECK(received.fd_count == 0);
    const unixdgram::credentials identity = unprivileged_identity();
    REQUIRE(received.sender);
    CHECK(*received.sender == unixdgram::credentials{peer.pid(), identity.uid, identity.gid});
    check_sender_pid(received, peer.pid());
    CHECK(peer.wait() == 0);
    // One datagram: the refused try sent nothing.
    CHECK_FALSE(readable_within(receiver.native_handle(), 0ms));
}

// ---------------------------------------------------------------------------
// python3-systemd: systemd.journal.send (sd_journal_sendv), in a private
// mount namespace where /run/systemd/journal/socket leads to our receiver
// ---------------------------------------------------------------------------

namespace {

using journal_entry = std::vector<std::pair<std::string, std::string>>;

/// The fields of an entry in journald's native protocol: "NAME=value\n",
/// or, for a value that may hold newlines, "NAME\n", the value's length as
/// a 64-bit little-endian number, the value and "\n". Nothing when `text`
/// is not in that form.
std::optional<journal_entry> journal_fields(std::string_view text)
{
    journal_entry fields;
    while (!text.empty()) {
        const std::size_t end_of_name = text.find_first_of("=\n");
        if (end_of_name == std::string_view::npos || end_of_name == 0)
            return std::nullopt;
        std::string name(text.substr(0, end_of_name));
        const bool binary = text[end_of_name] == '\n';
        text.remove_prefix(end_of_name + 1);
        if (!binary) {
            const std::size_t end_of_value = text.find('\n');
            if (end_of_value == std::string_view::npos)
                return std::nullopt;
            fields.emplace_back(std::move(name), std::string(text.substr(0, end_of_value)));
            text.remove_prefix(end_of_value + 1);
            continue;
        }
        if (text.size() < 8)
            return std::nullopt;
        std::uint64_t length = 0;
        for (int byte = 7; byte >= 0; --byte)
            length =
                (length << 8) | static_cast<unsigned char>(text[static_cast<std::size_t>(byte)]);
        text.remove_prefix(8);
        if (text.size() < length + 1 || text[length] != '\n')
            return std::nullopt;
        fields.emplace_back(std::move(name), std::string(text.substr(0, length)));
        text.remove_prefix(length + 1);
    }
    return fields;
}

/// The value of the first field called `name`, if there is one.
std::optional<std::string> field(const journal_entry& fields, std::string_view name)
{
    for (const auto& [field_name, value] : fields)
        if (field_name == name)
            return value;
    return std::nullopt;
}

/// `text` on one line: newlines as \n, other control bytes as \xNN.
std::string printable(std::string_view text)
{
    std::ostringstream out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n')
            out << "\\n";
        else if (byte < 0x20 || byte == 0x7f)
            out << "\\x" << std::hex << (byte >> 4) << (byte & 0xf) << std::dec;
        else
            out << c;
    }
    return out.str();
}

/// Everything in the file, read from offset 0 whatever the file's offset.
std::string read_from_start(int fd)
{
    struct stat status {};
    REQUIRE(::fstat(fd, &status) == 0);
    std::string content(static_cast<std::size_t>(status.st_size), '\0');
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t length =
            ::pread(fd, content.data() + done, content.size() - done, static_cast<off_t>(done));
        REQUIRE(length > 0);
        done += static_cast<std::size_t>(length);
    }
    return content;
}

/// Whether `unshare --mount` works here; says why not when it does not.
bool private_mount_namespaces()
{
    if (!on_path("unshare")) {
        MESSAGE("skipped: unshare (util-linux) is not on the PATH, so there is no private mount "
                "namespace for journald's fixed socket path");
        return false;
    }
    program probe({"unshare", "--mount", "true"});
    if (probe.wait() != 0) {
        MESSAGE("skipped: unshare --mount fails here (no CAP_SYS_ADMIN, or namespaces are "
                "disabled), so there is no private mount namespace for journald's fixed path");
        return false;
    }
    return true;
}

bool host_has(const std::filesystem::path& path)
{
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

} // namespace

TEST_CASE_FIXTURE(receiver_fixture,
                  "python3-systemd's journal.send reaches our receiver at journald's socket in the "
                  "native format, a large entry as a sealed memfd read from offset 0")
{
    if (!private_mount_namespaces())
        return;
    const std::filesystem::path fixed_socket = "/run/systemd/journal/socket";
    const bool host_had_socket = host_has(fixed_socket);
    temp_dir dir;
    const std::string path = (dir.path / "journal").string();
    listen_at(unixdgram::make_endpoint(path));
    // Beyond the largest datagram libsystemd's socket ever sends: it asks
    // for an 8 MiB SO_SNDBUF, which the kernel doubles, forced as root.
    constexpr std::size_t large = 17 * 1024 * 1024;
    program journal({"unshare", "--mount", "--propagation", "private", "--", "sh",
                     interop_file("journal_namespace.sh"),
                     std::filesystem::read_symlink("/proc/self/ns/mnt").string(), path,
                     system_python(), interop_file("libsystemd_peer.py"), "journal",
                     std::to_string(large)},
                    {}, true);
    const std::string pid_line = journal.read_line();
    REQUIRE(pid_line.starts_with("pid "));
    const pid_t python_pid = std::stoi(pid_line.substr(4));

    const arrival small = receive_one();
    CHECK_FALSE(small.truncated);
    CHECK_FALSE(small.control_truncated);
    CHECK(small.fd_count == 0);
    check_sender_pid(small, python_pid);
    MESSAGE("journal.send sent " << small.payload.size() << " bytes: " << printable(small.payload));
    const std::optional<journal_entry> fields = journal_fields(small.payload);
    REQUIRE(fields);
    CHECK(field(*fields, "MESSAGE") == "hello from python-systemd");
    CHECK(field(*fields, "FOO") == "bar");
    CHECK(field(*fields, "MULTI") == "two\nlines");
    CHECK(small.payload.find(std::string("\nMULTI\n\x09\0\0\0\0\0\0\0two\nlines\n", 25)) !=
          std::string::npos);
    CHECK(field(*fields, "CODE_FILE") == "libsystemd_peer.py");
    CHECK(field(*fields, "CODE_LINE") == "1");
    CHECK(field(*fields, "CODE_FUNC") == "main");
    CHECK(field(*fields, "SYSLOG_IDENTIFIER") == "unixdgram-test");

    // Too large for a datagram: an empty one carrying a memfd, sealed so
    // that the sender can change it no more.
    const arrival big = receive_one();
    CHECK(big.payload.empty());
    CHECK_FALSE(big.truncated);
    CHECK_FALSE(big.control_truncated);
    check_sender_pid(big, python_pid);
    REQUIRE(big.fd_count == 1);
    const int memfd = big.fds[0].get();
    CHECK(is_cloexec(memfd));
    CHECK(::fcntl(memfd, F_GET_SEALS) ==
          (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE));
    struct stat status {};
    REQUIRE(::fstat(memfd, &status) == 0);
    CHECK(S_ISREG(status.st_mode));
    // libsystemd leaves the offset where its writes ended, at the end.
    CHECK(::lseek(memfd, 0, SEEK_CUR) == status.st_size);
    const std::string content = read_from_start(memfd);
    MESSAGE("journal.send sent a memfd of " << content.size() << " bytes, seals "
                                            << ::fcntl(memfd, F_GET_SEALS));
    const std::optional<journal_entry> big_fields = journal_fields(content);
    REQUIRE(big_fields);
    const std::optional<std::string> message = field(*big_fields, "MESSAGE");
    REQUIRE(message);
    CHECK(message->size() == large);
    CHECK(std::all_of(message->begin(), message->end(), [](char c) { return c == 'x'; }));
    CHECK(field(*big_fields, "BIG") == "yes");
    CHECK(field(*big_fields, "SYSLOG_IDENTIFIER") == "unixdgram-test");

    CHECK(journal.read_line() == "sent");
    CHECK(journal.wait() == 0);
    CHECK_FALSE(readable_within(receiver.native_handle(), 0ms));
    // The host saw nothing of it.
    CHECK(host_has(fixed_socket) == host_had_socket);
}
