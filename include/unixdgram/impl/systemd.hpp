//
// unixdgram/impl/systemd.hpp
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_IMPL_SYSTEMD_HPP
#define UNIXDGRAM_IMPL_SYSTEMD_HPP

#include <unixdgram/detail/socket_ops.hpp>
#include <unixdgram/detail/systemd_ops.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

namespace unixdgram::systemd {

// Addresses ------------------------------------------------------------------

inline endpoint parse_address(std::string_view text)
{
    return detail::or_throw("systemd::parse_address",
                            [&](std::error_code& ec) { return parse_address(text, ec); });
}

inline endpoint parse_address(std::string_view text, std::error_code& ec) noexcept
{
    if (text.empty() || text == "@") {
        ec = detail::errno_code(EINVAL);
        return endpoint();
    }
    if (text.front() != '@') {
        // The kernel would end the path at a NUL: refuse rather than name
        // another file.
        if (text.find('\0') != std::string_view::npos) {
            ec = detail::errno_code(EINVAL);
            return endpoint();
        }
        return make_endpoint(text, ec);
    }
    std::array<char, sizeof(sockaddr_un::sun_path) + 1> abstract_name;
    if (text.size() > abstract_name.size()) {
        ec = detail::errno_code(ENAMETOOLONG);
        return endpoint();
    }
    abstract_name[0] = '\0';
    std::memcpy(abstract_name.data() + 1, text.data() + 1, text.size() - 1);
    return make_endpoint(std::string_view(abstract_name.data(), text.size()), ec);
}

inline std::string format_address(const endpoint& address)
{
    std::string text = address.path();
    if (!text.empty() && text.front() == '\0')
        text.front() = '@';
    return text;
}

} // namespace unixdgram::systemd

// Notifications ----------------------------------------------------------------

namespace unixdgram::detail {

// Sends `state` to NOTIFY_SOCKET; false when it is unset.
inline bool notify_before(std::string_view state, std::span<const int> fds, bool unset_environment,
                          detail::deadline_clock::time_point deadline, std::error_code& ec) noexcept
{
    const detail::environment_unsetter unset(unset_environment, std::array{"NOTIFY_SOCKET"});
    const char* variable = std::getenv("NOTIFY_SOCKET");
    if (variable == nullptr) {
        ec.clear();
        return false;
    }
    // As libsystemd: an absolute path or an abstract name, nothing relative.
    const std::string_view text(variable);
    if (text.size() < 2 || (text.front() != '/' && text.front() != '@')) {
        ec = detail::errno_code(EINVAL);
        return false;
    }
    const endpoint manager = systemd::parse_address(text, ec);
    if (ec)
        return false;
    detail::send_before(manager, state, fds, deadline, ec);
    return !ec;
}

} // namespace unixdgram::detail

namespace unixdgram::systemd {

inline bool notify(std::string_view state, std::span<const int> fds, const notify_options& options)
{
    return detail::or_throw("systemd::notify",
                            [&](std::error_code& ec) { return notify(state, fds, options, ec); });
}

inline bool notify(std::string_view state, std::span<const int> fds, const notify_options& options,
                   std::error_code& ec) noexcept
{
    return detail::notify_before(state, fds, options.unset_environment,
                                 detail::deadline_after(options.timeout), ec);
}

inline bool notify(std::string_view state, std::error_code& ec) noexcept
{
    return notify(state, {}, notify_options(), ec);
}

inline bool notify_barrier(const notify_options& options)
{
    return detail::or_throw("systemd::notify_barrier",
                            [&](std::error_code& ec) { return notify_barrier(options, ec); });
}

inline bool notify_barrier(const notify_options& options, std::error_code& ec) noexcept
{
    // One deadline for the send and the wait, so the whole barrier keeps to
    // the timeout.
    const auto deadline = detail::deadline_after(options.timeout);
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        ec = detail::last_error();
        if (options.unset_environment)
            ::unsetenv("NOTIFY_SOCKET");
        return false;
    }
    file_descriptor read_end(ends[0]);
    file_descriptor write_end(ends[1]);
    const int passed_fds[1] = {write_end.get()};
    const bool sent =
        detail::notify_before("BARRIER=1", passed_fds, options.unset_environment, deadline, ec);
    // From now on the manager's copy is the only write end.
    write_end.reset();
    if (!sent)
        return false;
    // Waits for the manager to close its copy: a hang-up, no event.
    return detail::poll_until(read_end.get(), 0, deadline, ec);
}

// Socket activation --------------------------------------------------------

inline std::vector<listened_fd> listen_fds(const listen_options& options)
{
    return detail::or_throw("systemd::listen_fds",
                            [&](std::error_code& ec) { return listen_fds(options, ec); });
}

inline std::vector<listened_fd> listen_fds(const listen_options& options,
                                           std::error_code& ec) noexcept
{
    using detail::errno_code;
    const detail::environment_unsetter unset(
        options.unset_environment, std::array{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"});
    ec.clear();

    const char* pid_text = std::getenv("LISTEN_PID");
    if (pid_text == nullptr)
        return {};
    pid_t pid = 0;
    if (!detail::parse_decimal(pid_text, pid) || pid <= 0) {
        ec = errno_code(EINVAL);
        return {};
    }
    // Meant for another process: the one that exec'd us without unsetting.
    if (pid != ::getpid())
        return {};

    const char* count_text = std::getenv("LISTEN_FDS");
    if (count_text == nullptr)
        return {};
    int count = 0;
    if (!detail::parse_decimal(count_text, count) || count <= 0 ||
        count > INT_MAX - listen_fds_start) {
        ec = errno_code(EINVAL);
        return {};
    }

    const char* names_text = std::getenv("LISTEN_FDNAMES");
    if (names_text != nullptr &&
        detail::count_fd_names(names_text) != static_cast<std::size_t>(count)) {
        ec = errno_code(EINVAL);
        return {};
    }

    // Every descriptor is checked before any is taken, and before anything
    // is allocated for them, so a LISTEN_FDS that lies costs little and
    // leaves every descriptor as it was.
    for (int fd = listen_fds_start; fd < listen_fds_start + count; ++fd)
        if (::fcntl(fd, F_GETFD) < 0) {
            ec = detail::last_error();
            return {};
        }

    std::vector<listened_fd> taken;
    try {
        taken.resize(static_cast<std::size_t>(count));
        std::string_view names = names_text != nullptr ? names_text : "";
        for (listened_fd& entry : taken) {
            if (names_text == nullptr) {
                entry.name = "unknown";
                continue;
            }
            const std::size_t colon = names.find(':');
            entry.name = names.substr(0, colon);
            names = colon == std::string_view::npos ? std::string_view() : names.substr(colon + 1);
        }
    } catch (const std::bad_alloc&) {
        ec = errno_code(ENOMEM);
        return {};
    }
    for (int index = 0; index < count; ++index) {
        taken[static_cast<std::size_t>(index)].fd =
            file_descriptor::adopt(listen_fds_start + index, ec);
        if (ec) {
            // Gone since the check (another thread closed it): give back
            // what was taken, untouched but for close-on-exec.
            for (listened_fd& entry : taken)
                entry.fd.release();
            return {};
        }
    }
    return taken;
}

} // namespace unixdgram::systemd

#endif // UNIXDGRAM_IMPL_SYSTEMD_HPP
