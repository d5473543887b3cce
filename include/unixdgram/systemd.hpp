//
// unixdgram/systemd.hpp — systemd's service protocols without libsystemd:
// readiness and status notification (sd_notify), the fd store, barriers,
// socket activation (sd_listen_fds) and the `@name` text form of abstract
// socket addresses.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_SYSTEMD_HPP
#define UNIXDGRAM_SYSTEMD_HPP

#include <unixdgram/datagram_socket.hpp>
#include <unixdgram/file_descriptor.hpp>

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace unixdgram::systemd {

/// @name The `@name` text form of addresses
/// systemd, `ss` and socat write an abstract socket name as `@` followed by
/// the name. These helpers convert that form only when asked: everywhere else
/// in the library a path starting with `@` is a path.
/// @{

/// Reads an address in systemd's text form: `@name` is the abstract name
/// `name` (the endpoint's leading NUL replaces the `@`, and its length is
/// exact, with no trailing NUL); anything else is a path, kept as it is.
/// @throws std::system_error with EINVAL for "" and a bare "@", and with
/// ENAMETOOLONG when the address does not fit in sun_path.
endpoint parse_address(std::string_view text);

/// @copydoc parse_address(std::string_view)
/// @param ec Set on failure; the result is then an empty endpoint.
endpoint parse_address(std::string_view text, std::error_code& ec) noexcept;

/// Writes an address in systemd's text form: `@name` for an abstract name,
/// the path for a path, "" for an unnamed endpoint. Bytes are copied as they
/// are, NULs inside an abstract name included.
std::string format_address(const endpoint& address);
/// @}

/// @name Notifications to the service manager (sd_notify)
/// NOTIFY_SOCKET is read as systemd reads it: an absolute path, or `@name`
/// for an abstract name. Reading and unsetting the environment is not
/// thread-safe (getenv/unsetenv): call these while no other thread changes
/// the environment.
/// @{

struct notify_options {
    /// Unset NOTIFY_SOCKET afterwards, whatever the outcome, so that
    /// children do not inherit it.
    bool unset_environment = false;

    /// How long to wait for room in the manager's queue (a send blocks
    /// while it is full) and, for `notify_barrier`, for the manager to close
    /// the barrier pipe. Past it: `asio::error::timed_out`.
    std::chrono::milliseconds timeout = std::chrono::seconds(5);
};

/// Sends `state` ("READY=1\nSTATUS=...", newline-separated assignments) to
/// the manager at NOTIFY_SOCKET, with copies of `fds` (SCM_RIGHTS; at most
/// `max_fds_per_datagram`). The caller keeps `fds`. Give descriptors with
/// "FDSTORE=1" (and "FDNAME=name") for the manager to keep them.
///
/// The datagram carries no explicit credentials: the kernel attaches the
/// sender's own when the manager asks for them, as systemd does.
///
/// @returns true when the state was sent, false when NOTIFY_SOCKET is unset
/// (nothing to do: as sd_notify's 0 against its > 0).
/// @throws std::system_error on failure: EINVAL when NOTIFY_SOCKET is
/// neither an absolute path nor `@name`, what connect(2) or sendmsg(2)
/// said (ECONNREFUSED, ENOENT...), `error::too_many_fds`, or
/// `asio::error::timed_out`.
bool notify(std::string_view state, std::span<const int> fds = {},
            const notify_options& options = {});

/// @copydoc notify(std::string_view, std::span<const int>, const notify_options&)
/// @param ec Set on failure, else cleared; the result is then false.
bool notify(std::string_view state, std::span<const int> fds, const notify_options& options,
            std::error_code& ec) noexcept;

/// `notify(state, {}, {}, ec)`.
bool notify(std::string_view state, std::error_code& ec) noexcept;

/// Waits until the manager has processed every notification sent before
/// (sd_notify_barrier): sends "BARRIER=1" with the write end of a new pipe,
/// closes that end here, and waits, up to `options.timeout`, until the
/// manager has closed its copy.
/// @returns true after the barrier, false when NOTIFY_SOCKET is unset.
/// @throws std::system_error as `notify` does; `asio::error::timed_out`
/// when the manager kept the pipe open too long.
bool notify_barrier(const notify_options& options = {});

/// @copydoc notify_barrier(const notify_options&)
/// @param ec Set on failure, else cleared; the result is then false.
bool notify_barrier(const notify_options& options, std::error_code& ec) noexcept;
/// @}

/// @name Socket activation (sd_listen_fds)
/// @{

/// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
inline constexpr int listen_fds_start = 3;

/// One descriptor passed by the service manager, and its name.
struct listened_fd {
    /// Owned by the caller now; close-on-exec.
    file_descriptor fd;

    /// Its name from LISTEN_FDNAMES ("unknown" when that is unset, as in
    /// sd_listen_fds_with_names).
    std::string name;
};

struct listen_options {
    /// Unset LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES afterwards, whatever
    /// the outcome, so that children do not take them for theirs.
    bool unset_environment = false;
};

/// Takes the descriptors a service manager passed: LISTEN_FDS of them from
/// `listen_fds_start` on, when LISTEN_PID is this process. Each is checked
/// to be open and made close-on-exec.
///
/// Not thread-safe, as it reads the environment (see notify).
///
/// @returns The descriptors in order with their names; none when LISTEN_PID
/// or LISTEN_FDS is unset or LISTEN_PID names another process.
/// @throws std::system_error with EINVAL when a variable is not a number
/// (LISTEN_FDS must be at least 1) or LISTEN_FDNAMES does not name every
/// descriptor, with EBADF when one of them is not open; no descriptor is
/// taken then.
std::vector<listened_fd> listen_fds(const listen_options& options = {});

/// @copydoc listen_fds(const listen_options&)
/// @param ec Set on failure (also ENOMEM), else cleared; the result is then
/// empty.
std::vector<listened_fd> listen_fds(const listen_options& options, std::error_code& ec) noexcept;
/// @}

} // namespace unixdgram::systemd

#include <unixdgram/impl/systemd.hpp>

#endif // UNIXDGRAM_SYSTEMD_HPP
