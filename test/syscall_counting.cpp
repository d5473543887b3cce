//
// syscall_counting.cpp — the interposed send and receive calls; see
// syscall_counting.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "syscall_counting.hpp"

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

using unixdgram_test::counted_fds;

enum call_kind : int {
    sendto_call,
    sendmsg_call,
    sendmmsg_call,
    recvfrom_call,
    recvmsg_call,
    recvmmsg_call,
    call_kinds
};

std::atomic<unsigned> calls_per_fd[counted_fds][call_kinds];
std::atomic<unsigned> sends_on_any_fd_count;

std::mutex sent_credentials_mutex;
std::optional<ucred> last_sent_credentials;

void count_call(int fd, call_kind kind) noexcept
{
    if (fd >= 0 && fd < counted_fds)
        calls_per_fd[fd][kind].fetch_add(1, std::memory_order_relaxed);
    if (kind <= sendmmsg_call)
        sends_on_any_fd_count.fetch_add(1, std::memory_order_relaxed);
}

void record_sent_credentials(const msghdr* message) noexcept
{
    if (message == nullptr || message->msg_control == nullptr)
        return;
    auto* examined = const_cast<msghdr*>(message);
    for (cmsghdr* header = CMSG_FIRSTHDR(examined); header != nullptr;
         header = CMSG_NXTHDR(examined, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS &&
            header->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            ucred sent;
            std::memcpy(&sent, CMSG_DATA(header), sizeof(sent));
            const std::lock_guard lock(sent_credentials_mutex);
            last_sent_credentials = sent;
        }
    }
}

} // namespace

extern "C" {

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* address,
               socklen_t address_length)
{
    count_call(fd, sendto_call);
    return ::syscall(SYS_sendto, fd, buffer, length, flags, address, address_length);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags)
{
    count_call(fd, sendmsg_call);
    record_sent_credentials(message);
    return ::syscall(SYS_sendmsg, fd, message, flags);
}

int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags)
{
    count_call(fd, sendmmsg_call);
    return static_cast<int>(::syscall(SYS_sendmmsg, fd, messages, count, flags));
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* address,
                 socklen_t* address_length)
{
    count_call(fd, recvfrom_call);
    return ::syscall(SYS_recvfrom, fd, buffer, length, flags, address, address_length);
}

ssize_t recvmsg(int fd, msghdr* message, int flags)
{
    count_call(fd, recvmsg_call);
    return ::syscall(SYS_recvmsg, fd, message, flags);
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout)
{
    count_call(fd, recvmmsg_call);
    return static_cast<int>(::syscall(SYS_recvmmsg, fd, messages, count, flags, timeout));
}

} // extern "C"

namespace unixdgram_test {

call_counts calls_on(int fd)
{
    if (fd < 0 || fd >= counted_fds)
        throw std::out_of_range("calls_on: descriptor outside the counted range");
    const auto& calls = calls_per_fd[fd];
    return {calls[sendto_call].load(),   calls[sendmsg_call].load(), calls[sendmmsg_call].load(),
            calls[recvfrom_call].load(), calls[recvmsg_call].load(), calls[recvmmsg_call].load()};
}

unsigned sends_on_any_fd()
{
    return sends_on_any_fd_count.load();
}

std::optional<unixdgram::credentials> credentials_last_sent()
{
    const std::lock_guard lock(sent_credentials_mutex);
    if (!last_sent_credentials)
        return std::nullopt;
    return unixdgram::credentials{last_sent_credentials->pid, last_sent_credentials->uid,
                                  last_sent_credentials->gid};
}

void forget_credentials_sent()
{
    const std::lock_guard lock(sent_credentials_mutex);
    last_sent_credentials.reset();
}

call_counter::call_counter(int fd) : fd_(fd), start_(calls_on(fd)), any_start_(sends_on_any_fd()) {}

call_counts call_counter::since() const
{
    const call_counts now = calls_on(fd_);
    return {now.sendto - start_.sendto,     now.sendmsg - start_.sendmsg,
            now.sendmmsg - start_.sendmmsg, now.recvfrom - start_.recvfrom,
            now.recvmsg - start_.recvmsg,   now.recvmmsg - start_.recvmmsg};
}

unsigned call_counter::sends_on_any() const
{
    return sends_on_any_fd() - any_start_;
}

} // namespace unixdgram_test
