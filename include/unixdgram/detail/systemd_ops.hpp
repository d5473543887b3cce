//
// unixdgram/detail/systemd_ops.hpp — the machinery under systemd.hpp:
// reading the environment the way libsystemd does, and sending with a
// deadline through the core's blocking loop.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_SYSTEMD_OPS_HPP
#define UNIXDGRAM_DETAIL_SYSTEMD_OPS_HPP

#include <unixdgram/detail/message_ops.hpp>
#include <unixdgram/detail/run_blocking.hpp>
#include <unixdgram/detail/socket_ops.hpp>
#include <unixdgram/file_descriptor.hpp>

#include <asio/error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <string_view>
#include <system_error>

#include <sys/socket.h>

namespace unixdgram::detail {

// `timeout` from now; a timeout too long for the clock (milliseconds::max(),
// say) waits until the clock's end rather than overflowing into the past.
inline deadline_clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept
{
    const auto now = deadline_clock::now();
    if (timeout <= std::chrono::milliseconds(0))
        return now;
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_clock::time_point::max() - now);
    if (timeout >= room)
        return deadline_clock::time_point::max();
    return now + timeout;
}

// Sends one datagram to `destination` from a fresh socket, waiting for room
// in its queue until `deadline`, in the core's blocking loop. The socket is
// connected first, so that the loop waits on it: Linux polls an unconnected
// datagram socket writable even while the destination's queue is full, but a
// connected one exactly when that queue has room.
inline void send_before(const endpoint& destination, std::string_view payload,
                        std::span<const int> fds, deadline_clock::time_point deadline,
                        std::error_code& ec) noexcept
{
    file_descriptor sender(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!sender) {
        ec = last_error();
        return;
    }
    if (retry_on_eintr([&] {
            return ::connect(sender.get(), destination.data(),
                             static_cast<socklen_t>(destination.size()));
        }) != 0) {
        ec = last_error();
        return;
    }
    send_operation<asio::const_buffer, const endpoint*> operation(asio::buffer(payload), nullptr,
                                                                  send_control{fds, {}}, 0);
    run_blocking(sender.get(), operation, no_destination_wait, {.deadline = deadline}, ec);
}

// Unsets the variables when it goes, if asked: libsystemd unsets them
// whatever the outcome, errors included.
template <std::size_t Count>
class environment_unsetter {
public:
    environment_unsetter(bool active, const std::array<const char*, Count>& names) noexcept
        : active_(active), names_(names)
    {
    }
    environment_unsetter(const environment_unsetter&) = delete;
    environment_unsetter& operator=(const environment_unsetter&) = delete;
    ~environment_unsetter()
    {
        if (active_)
            for (const char* name : names_)
                ::unsetenv(name);
    }

private:
    bool active_;
    std::array<const char*, Count> names_;
};

// A whole decimal number, as libsystemd's safe_atoi takes it (no trailing
// text); false when `text` is not one or it does not fit.
template <typename Integer>
bool parse_decimal(std::string_view text, Integer& value) noexcept
{
    const char* end = text.data() + text.size();
    auto [stop, problem] = std::from_chars(text.data(), end, value);
    return problem == std::errc() && stop == end && !text.empty();
}

// How many names LISTEN_FDNAMES holds: colon-separated, empty names kept
// ("a::b" is three), and none at all in "".
inline std::size_t count_fd_names(std::string_view names) noexcept
{
    return names.empty()
               ? 0
               : static_cast<std::size_t>(std::count(names.begin(), names.end(), ':')) + 1;
}

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_SYSTEMD_OPS_HPP
