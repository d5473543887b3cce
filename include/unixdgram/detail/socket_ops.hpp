//
// unixdgram/detail/socket_ops.hpp — the system calls, one attempt each.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_SOCKET_OPS_HPP
#define UNIXDGRAM_DETAIL_SOCKET_OPS_HPP

#include <unixdgram/detail/control_message.hpp>
#include <unixdgram/error.hpp>
#include <unixdgram/file_descriptor.hpp>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/local/datagram_protocol.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <system_error>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

namespace unixdgram::detail {

using endpoint = asio::local::datagram_protocol::endpoint;

// errno values travel in Asio's system category, so they compare equal to the
// asio::error constants and to what Asio's own operations report.
inline std::error_code errno_code(int value) noexcept
{
    return {value, asio::error::get_system_category()};
}

inline std::error_code last_error() noexcept
{
    return errno_code(errno);
}

// SO_PEERPIDFD's "no peer recorded" (ENODATA) is what SO_PEERCRED's pid 0
// says, reported as peer_credentials reports it: ENOTCONN. Kernels before
// 6.5 fail with ENOPROTOOPT, which stays.
inline std::error_code peer_pidfd_error(int error) noexcept
{
    return errno_code(error == ENODATA ? ENOTCONN : error);
}

// Makes a system call again while a signal interrupts it: the library never
// reports EINTR. Returns the call's result; errno is set when it is negative.
template <typename SystemCall>
auto retry_on_eintr(SystemCall call) noexcept
{
    decltype(call()) result;
    do
        result = call();
    while (result < 0 && errno == EINTR);
    return result;
}

// Whether `category` carries errno values.
[[gnu::noinline]] inline bool is_errno_category(const std::error_category& category) noexcept
{
    return category == asio::error::get_system_category() || category == std::system_category() ||
           category == std::generic_category();
}

// Every attempt asks this, so it compares numbers first, inline: matching
// std::errc goes through error_category::equivalent, virtual calls that cost
// more than the rest of a ready attempt. EAGAIN counts in any category that
// carries errno values; EWOULDBLOCK is the same number on Linux.
[[gnu::always_inline]] inline bool is_would_block(const std::error_code& ec) noexcept
{
    return ec.value() == EAGAIN && is_errno_category(ec.category());
}

// Asio keeps at most 64 buffers per operation too; more is refused, not
// silently cut short.
inline constexpr std::size_t max_iovecs = 64;

struct iovec_array {
    iovec entries[max_iovecs];
    std::size_t count = 0;
    bool overflow = false;

    template <typename BufferSequence>
    explicit iovec_array(const BufferSequence& buffers) noexcept
    {
        auto end = asio::buffer_sequence_end(buffers);
        for (auto it = asio::buffer_sequence_begin(buffers); it != end; ++it) {
            if (count == max_iovecs) {
                overflow = true;
                return;
            }
            auto buffer = *it;
            entries[count].iov_base = const_cast<void*>(static_cast<const void*>(buffer.data()));
            entries[count].iov_len = buffer.size();
            ++count;
        }
    }
};

// Where the kernel writes a sender's address. For a path that fills all of
// sun_path Linux reports the length the address has with its NUL, 111 bytes,
// one more than a sockaddr_un holds (it copies no more than the room it is
// given). With room for that length, the reported length never exceeds the
// buffer, so that nothing that trusts it (AddressSanitizer's recvmsg
// interceptor does) reaches past the end.
union sender_address_buffer {
    sockaddr_un address;
    sockaddr_storage storage;
};

// The endpoint naming the `length` bytes at `name` exactly: a path, or with
// a leading NUL an abstract name, up to all of sun_path. Asio's endpoint holds
// a whole sockaddr_un, but its constructor refuses 108 bytes and its resize()
// drops a trailing NUL, so the bytes go in through data() and resize() asks
// for one more, the zero that follows them, whenever there is room for it.
// A 108-byte abstract name ending in NUL is the one name it cannot hold
// (resize would cut that NUL): ENAMETOOLONG, as for anything longer. A
// 108-byte path ending in NUL is the 107-byte path it names.
inline endpoint endpoint_from_name(const char* name, std::size_t length,
                                   std::error_code& ec) noexcept
{
    constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    constexpr std::size_t room = sizeof(sockaddr_un::sun_path);
    endpoint result;
    if (length > room || (length == room && name[0] == '\0' && name[room - 1] == '\0')) {
        ec = errno_code(ENAMETOOLONG);
        return result;
    }
    if (length > 0)
        std::memcpy(reinterpret_cast<sockaddr_un*>(result.data())->sun_path, name, length);
    // Neither size exceeds sizeof(sockaddr_un), the one thing resize throws for.
    result.resize(path_offset + std::min(length + 1, room));
    ec.clear();
    return result;
}

// The endpoint a sockaddr_un of `length` bytes, as the kernel filled it,
// names: abstract names keep every byte; a path ends at its first NUL.
// ENAMETOOLONG (and an empty endpoint) for the one address no endpoint holds.
inline endpoint endpoint_from_sockaddr(const sockaddr_un& address, socklen_t length,
                                       std::error_code& ec) noexcept
{
    constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    if (length <= path_offset) {
        ec.clear();
        return endpoint();
    }
    std::size_t path_length = std::min<std::size_t>(length - path_offset, sizeof(address.sun_path));
    if (address.sun_path[0] != '\0')
        path_length = ::strnlen(address.sun_path, path_length);
    return endpoint_from_name(address.sun_path, path_length, ec);
}

// The socket's own name or its peer's: `query` is getsockname or getpeername.
inline endpoint socket_name(int (*query)(int, sockaddr*, socklen_t*), int fd,
                            std::error_code& ec) noexcept
{
    sockaddr_un address{};
    socklen_t length = sizeof(address);
    if (query(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ec = last_error();
        return endpoint();
    }
    return endpoint_from_sockaddr(address, length, ec);
}

inline std::size_t send_message(int fd, const iovec_array& iov, const endpoint* destination,
                                const send_control& control, int flags,
                                std::error_code& ec) noexcept
{
    if (iov.overflow) {
        ec = errno_code(EINVAL);
        return 0;
    }
    if (control.fds.size() > max_fds_in_control) {
        ec = error::too_many_fds;
        return 0;
    }
    if (control.fds.empty() && !control.sender_credentials && iov.count <= 1) {
        // sendto(2) takes one buffer and an address as they are: no msghdr
        // or iovec for the kernel to copy in, which costs more than the rest.
        ssize_t sent = retry_on_eintr([&] {
            return ::sendto(fd, iov.count ? iov.entries[0].iov_base : nullptr,
                            iov.count ? iov.entries[0].iov_len : 0,
                            flags | MSG_NOSIGNAL | MSG_DONTWAIT,
                            destination ? destination->data() : nullptr,
                            destination ? static_cast<socklen_t>(destination->size()) : 0);
        });
        if (sent < 0) {
            ec = last_error();
            return 0;
        }
        ec.clear();
        return static_cast<std::size_t>(sent);
    }
    msghdr message{};
    if (destination) {
        message.msg_name = const_cast<sockaddr*>(destination->data());
        message.msg_namelen = static_cast<socklen_t>(destination->size());
    }
    message.msg_iov = const_cast<iovec*>(iov.entries);
    message.msg_iovlen = iov.count;
    send_control_buffer control_data;
    message.msg_controllen = control_data.pack(control);
    if (message.msg_controllen)
        message.msg_control = control_data.bytes;
    ssize_t sent = retry_on_eintr(
        [&] { return ::sendmsg(fd, &message, flags | MSG_NOSIGNAL | MSG_DONTWAIT); });
    if (sent < 0) {
        ec = last_error();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(sent);
}

// One recvmsg. Descriptors go to `fds` (surplus closed); `result` says what
// the kernel said. `fds` empty means "none wanted": the kernel then discards
// any that came, and no control buffer is passed.
inline void receive_message(int fd, const iovec_array& iov, endpoint* sender,
                            std::span<file_descriptor> fds, bool want_control, int flags,
                            receive_result& result, std::error_code& ec) noexcept
{
    result = receive_result();
    if (iov.overflow) {
        ec = errno_code(EINVAL);
        return;
    }
    sender_address_buffer sender_address;
    if (!want_control && iov.count <= 1) {
        // recvfrom(2), like sendto, spares the kernel copying a msghdr in.
        // It reports no flags, so MSG_TRUNC asks for the datagram's real
        // length instead (Linux 3.4): longer than the buffer means truncated.
        // Descriptors that came along are closed by the kernel, as they are
        // by recvmsg without a control buffer.
        const std::size_t room = iov.count ? iov.entries[0].iov_len : 0;
        socklen_t address_length = sizeof(sender_address);
        ssize_t length = retry_on_eintr([&] {
            return ::recvfrom(fd, iov.count ? iov.entries[0].iov_base : nullptr, room,
                              flags | MSG_TRUNC | MSG_DONTWAIT,
                              sender ? reinterpret_cast<sockaddr*>(&sender_address) : nullptr,
                              sender ? &address_length : nullptr);
        });
        if (length < 0) {
            ec = last_error();
            return;
        }
        ec.clear();
        result.bytes = std::min(static_cast<std::size_t>(length), room);
        result.truncated = static_cast<std::size_t>(length) > room;
        if (sender)
            *sender = endpoint_from_sockaddr(sender_address.address, address_length, ec);
        return;
    }
    msghdr message{};
    if (sender) {
        message.msg_name = &sender_address;
        message.msg_namelen = sizeof(sender_address);
    }
    message.msg_iov = const_cast<iovec*>(iov.entries);
    message.msg_iovlen = iov.count;
    receive_control_buffer control;
    if (want_control) {
        message.msg_control = control.bytes;
        message.msg_controllen = control.room_for(fds.size());
    }
    ssize_t received = retry_on_eintr(
        [&] { return ::recvmsg(fd, &message, flags | MSG_CMSG_CLOEXEC | MSG_DONTWAIT); });
    if (received < 0) {
        ec = last_error();
        return;
    }
    ec.clear();
    result.bytes = static_cast<std::size_t>(received);
    result.truncated = (message.msg_flags & MSG_TRUNC) != 0;
    result.control_truncated = (message.msg_flags & MSG_CTRUNC) != 0;
    if (want_control)
        take_control(message, fds, result);
    // Last, so that the datagram and its descriptors are reported whatever
    // the sender's address.
    if (sender)
        *sender = endpoint_from_sockaddr(sender_address.address, message.msg_namelen, ec);
}

// Whether `events` are on `fd` now, without waiting.
inline bool ready_now(int fd, short events, std::error_code& ec) noexcept
{
    pollfd entry{fd, events, 0};
    int ready = retry_on_eintr([&] { return ::poll(&entry, 1, 0); });
    if (ready < 0) {
        ec = last_error();
        return false;
    }
    ec.clear();
    return ready > 0;
}

// The clock of every deadline; no_deadline waits for ever.
using deadline_clock = std::chrono::steady_clock;
inline constexpr deadline_clock::time_point no_deadline = deadline_clock::time_point::max();

// Waits for `events` on `fd` until `deadline`, however often a signal
// interrupts the wait (each time for the time left): true once they come;
// false with `asio::error::timed_out` once the deadline has passed (before
// any poll, when it has already), or with poll's error. Errors and hang-ups
// always end the wait, so `events` may be 0 to wait for those alone: for a
// pipe's read end, for the last writer to go. A negative `fd` waits for the
// deadline alone. The one wait of every blocking operation.
inline bool poll_until(int fd, short events, deadline_clock::time_point deadline,
                       std::error_code& ec) noexcept
{
    for (;;) {
        int timeout_ms = -1;
        if (deadline != no_deadline) {
            const auto left = deadline - deadline_clock::now();
            if (left <= deadline_clock::duration::zero()) {
                ec = asio::error::timed_out;
                return false;
            }
            const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
            timeout_ms = static_cast<int>(std::min<decltype(left_ms)>(left_ms, INT_MAX));
        }
        pollfd entry{fd, events, 0};
        const int ready = ::poll(&entry, 1, timeout_ms);
        if (ready > 0) {
            ec.clear();
            return true;
        }
        if (ready < 0 && errno != EINTR) {
            ec = last_error();
            return false;
        }
    }
}

// Whether `fd` is an AF_UNIX SOCK_DGRAM socket; EBADF for a closed number.
inline void check_unix_datagram_socket(int fd, std::error_code& ec) noexcept
{
    sockaddr_storage address{};
    socklen_t address_length = sizeof(address);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) {
        ec = errno == ENOTSOCK ? std::error_code(error::not_a_unix_datagram_socket) : last_error();
        return;
    }
    int type = 0;
    socklen_t type_length = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0) {
        ec = last_error();
        return;
    }
    if (address.ss_family != AF_UNIX || type != SOCK_DGRAM) {
        ec = error::not_a_unix_datagram_socket;
        return;
    }
    ec.clear();
}

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_SOCKET_OPS_HPP
