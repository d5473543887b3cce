//
// syscall_counting.cpp — see syscall_counting.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "syscall_counting.hpp"

#include <atomic>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

constexpr int counted_fds = 4096;

std::atomic<unsigned> sends_per_fd[counted_fds];
std::atomic<unsigned> receives_per_fd[counted_fds];
std::atomic<unsigned> sends_on_any_fd;

void count_send(int fd) noexcept
{
    if (fd >= 0 && fd < counted_fds)
        sends_per_fd[fd].fetch_add(1, std::memory_order_relaxed);
    sends_on_any_fd.fetch_add(1, std::memory_order_relaxed);
}

void count_receive(int fd) noexcept
{
    if (fd >= 0 && fd < counted_fds)
        receives_per_fd[fd].fetch_add(1, std::memory_order_relaxed);
}

unixdgram_test::call_counts read(int fd)
{
    return {sends_per_fd[fd].load(), receives_per_fd[fd].load()};
}

} // namespace

extern "C" {

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* address,
               socklen_t address_length)
{
    count_send(fd);
    return ::syscall(SYS_sendto, fd, buffer, length, flags, address, address_length);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags)
{
    count_send(fd);
    return ::syscall(SYS_sendmsg, fd, message, flags);
}

int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags)
{
    count_send(fd);
    return static_cast<int>(::syscall(SYS_sendmmsg, fd, messages, count, flags));
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* address,
                 socklen_t* address_length)
{
    count_receive(fd);
    return ::syscall(SYS_recvfrom, fd, buffer, length, flags, address, address_length);
}

ssize_t recvmsg(int fd, msghdr* message, int flags)
{
    count_receive(fd);
    return ::syscall(SYS_recvmsg, fd, message, flags);
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout)
{
    count_receive(fd);
    return static_cast<int>(::syscall(SYS_recvmmsg, fd, messages, count, flags, timeout));
}

} // extern "C"

namespace unixdgram_test {

call_counter::call_counter(int fd) : fd_(fd), any_start_(sends_on_any_fd.load())
{
    if (fd < 0 || fd >= counted_fds)
        throw std::out_of_range("call_counter: descriptor outside the counted range");
    start_ = read(fd);
}

call_counts call_counter::since() const
{
    const call_counts now = read(fd_);
    return {now.sends - start_.sends, now.receives - start_.receives};
}

unsigned call_counter::sends_on_any() const
{
    return sends_on_any_fd.load() - any_start_;
}

} // namespace unixdgram_test
