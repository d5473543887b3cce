//
// interop_program.hpp — what the tests against real programs share: starting
// a program (test/interop's scripts, or one from Debian) with pipes to its
// stdin and stdout and a pidfd to see it exit, waiting for a descriptor or a
// condition with a safety net, finding test/interop's files, and naming
// sockets in systemd's "@name" text form.
//
// The tests that include it set PYTHON3, UNIXDGRAM_INTEROP_DIR and the like
// in meson; environment_or reads them.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_INTEROP_PROGRAM_HPP
#define UNIXDGRAM_INTEROP_PROGRAM_HPP

#include "unixdgram_test.hpp"

#include <unixdgram/file_descriptor.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace unixdgram_test {

using namespace std::chrono_literals;

/// How long a test waits for a program it started; longer than
/// safety_timeout, as an interpreter may have to start first.
inline constexpr auto program_timeout = 20s;

inline std::string environment_or(const char* name, std::string fallback)
{
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

inline std::string interop_file(std::string_view name)
{
    const std::filesystem::path source_dir =
        std::filesystem::path(__FILE__).parent_path() / "interop";
    return (std::filesystem::path(environment_or("UNIXDGRAM_INTEROP_DIR", source_dir.string())) /
            name)
        .string();
}

/// Whether `fd` becomes readable within `timeout`.
inline bool readable_within(int fd, std::chrono::milliseconds timeout = safety_timeout)
{
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(timeout.count())) == 1;
}

/// An abstract name in systemd's text form ("@..."), unique to this process.
inline std::string unique_at_name(std::string_view purpose)
{
    std::string name = unique_abstract_name(purpose);
    name.front() = '@';
    return name;
}

/// Waits until `ready()` holds, checking every few milliseconds; a wait for
/// a condition with a safety net, never a delay.
template <typename Condition>
bool eventually(Condition ready)
{
    const auto deadline = std::chrono::steady_clock::now() + program_timeout;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// A program the test started, with its stdin and stdout on pipes when
/// asked. Its environment is this process's without NOTIFY_SOCKET and
/// LISTEN_*, plus `environment`. Killed, if still running, and reaped when
/// this object goes.
class program {
public:
    program(std::vector<std::string> arguments, std::vector<std::string> environment = {},
            bool with_pipes = false)
        : arguments_(std::move(arguments))
    {
        for (char** variable = environ; *variable != nullptr; ++variable) {
            const std::string_view text(*variable);
            if (!text.starts_with("NOTIFY_SOCKET=") && !text.starts_with("LISTEN_"))
                environment_.emplace_back(text);
        }
        for (std::string& added : environment)
            environment_.push_back(std::move(added));

        std::vector<char*> argv;
        for (std::string& argument : arguments_)
            argv.push_back(argument.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (std::string& variable : environment_)
            envp.push_back(variable.data());
        envp.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        REQUIRE(::posix_spawn_file_actions_init(&actions) == 0);
        pipe_ends input;
        pipe_ends output;
        if (with_pipes) {
            input = make_pipe();
            output = make_pipe();
            ::posix_spawn_file_actions_adddup2(&actions, input.read_end.get(), STDIN_FILENO);
            ::posix_spawn_file_actions_adddup2(&actions, output.write_end.get(), STDOUT_FILENO);
        } else {
            // This process's stdout is the TAP stream.
            ::posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
        }
        const int status =
            ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
        ::posix_spawn_file_actions_destroy(&actions);
        INFO("spawning " << arguments_[0]);
        reaped_ = status != 0;
        REQUIRE(status == 0);
        stdin_ = std::move(input.write_end);
        stdout_ = std::move(output.read_end);
        exited_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
        REQUIRE(exited_);
    }
    program(const program&) = delete;
    program& operator=(const program&) = delete;
    ~program()
    {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    pid_t pid() const { return pid_; }

    void write_line(std::string_view line) { write_all(stdin_.get(), std::string(line) + "\n"); }

    /// Closes its stdin: it reads end of file.
    void close_stdin() { stdin_.reset(); }

    /// Bytes written to its stdin that it has not read yet (FIONREAD, which
    /// a pipe answers at either end).
    std::size_t stdin_unread() const
    {
        int unread = 0;
        REQUIRE(::ioctl(stdin_.get(), FIONREAD, &unread) == 0);
        return static_cast<std::size_t>(unread);
    }

    /// The next line it writes to stdout, without the newline; REQUIREs one
    /// within program_timeout.
    std::string read_line()
    {
        for (;;) {
            const std::size_t newline = buffered_.find('\n');
            if (newline != std::string::npos) {
                std::string line = buffered_.substr(0, newline);
                buffered_.erase(0, newline + 1);
                return line;
            }
            INFO(arguments_[0] << " wrote no line in time; so far: " << buffered_);
            REQUIRE(readable_within(stdout_.get(), program_timeout));
            const std::string more = read_some(stdout_.get());
            REQUIRE_FALSE(more.empty());
            buffered_ += more;
        }
    }

    /// Whether it has exited, now, without waiting.
    bool has_exited() const { return readable_within(exited_.get(), 0ms); }

    /// Waits, once, for it to exit and returns its exit status; -1 when a signal
    /// ended it or it had to be killed after program_timeout.
    int wait()
    {
        if (!readable_within(exited_.get(), program_timeout)) {
            MESSAGE(arguments_[0] << " did not exit in time; killing it");
            ::kill(pid_, SIGKILL);
        }
        int status = 0;
        REQUIRE(::waitpid(pid_, &status, 0) == pid_);
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    std::vector<std::string> arguments_;
    std::vector<std::string> environment_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    unixdgram::file_descriptor stdin_;
    unixdgram::file_descriptor stdout_;
    unixdgram::file_descriptor exited_;
    std::string buffered_;
};
} // namespace unixdgram_test

#endif // UNIXDGRAM_INTEROP_PROGRAM_HPP
