//
// system_call_counter.cpp — the sendto, sendmsg, recvfrom and recvmsg of
// the test_message executable: each call is counted per descriptor and
// forwarded to the kernel with syscall(2) (see system_call_counter.hpp).
//
// One of the sources of the test_message executable.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "system_call_counter.hpp"

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace unixdgram_test;

namespace {

enum call_kind : int { sendto_call, sendmsg_call, recvfrom_call, recvmsg_call, call_kinds };

// Calls per descriptor number and kind, and sends on any descriptor at all
// (to see that nothing but the sending socket sends while a send waits).
std::atomic<unsigned> calls_per_fd[counted_fds][call_kinds];
std::atomic<unsigned> sends_on_any_fd_count;

// The SCM_CREDENTIALS of the last sendmsg that carried them.
std::mutex sent_credentials_mutex;
std::optional<ucred> last_sent_credentials;

void count_call(int fd, call_kind kind) noexcept
{
    if (fd >= 0 && fd < counted_fds)
        calls_per_fd[fd][kind].fetch_add(1, std::memory_order_relaxed);
    if (kind == sendto_call || kind == sendmsg_call)
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

extern "C" ssize_t sendto(int fd, const void* buffer, size_t length, int flags,
                          const struct sockaddr* address, socklen_t address_length)
{
    count_call(fd, sendto_call);
    return ::syscall(SYS_sendto, fd, buffer, length, flags, address, address_length);
}

extern "C" ssize_t sendmsg(int fd, const struct msghdr* message, int flags)
{
    count_call(fd, sendmsg_call);
    record_sent_credentials(message);
    return ::syscall(SYS_sendmsg, fd, message, flags);
}

extern "C" ssize_t recvfrom(int fd, void* buffer, size_t length, int flags,
                            struct sockaddr* address, socklen_t* address_length)
{
    count_call(fd, recvfrom_call);
    return ::syscall(SYS_recvfrom, fd, buffer, length, flags, address, address_length);
}

extern "C" ssize_t recvmsg(int fd, struct msghdr* message, int flags)
{
    count_call(fd, recvmsg_call);
    return ::syscall(SYS_recvmsg, fd, message, flags);
}

namespace unixdgram_test {

call_counts calls_on(int fd)
{
    return {calls_per_fd[fd][sendto_call].load(), calls_per_fd[fd][sendmsg_call].load(),
            calls_per_fd[fd][recvfrom_call].load(), calls_per_fd[fd][recvmsg_call].load()};
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

} // namespace unixdgram_test
