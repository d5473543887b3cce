//
// syscall_counting.hpp — the send and receive system calls of a test
// executable, counted per descriptor.
//
// syscall_counting.cpp, linked into the executable, defines sendto, sendmsg,
// sendmmsg, recvfrom, recvmsg and recvmmsg itself: each counts the call,
// whatever it returns (EAGAIN included), and makes it with syscall(2). The
// library is header-only and compiled into the executable, so its calls bind
// to these; the reactor's own (epoll_wait, epoll_ctl) and poll are not among
// them and are not counted. A send that waits for room at a destination
// waits on a probe socket connected there (detail/destination_wait.hpp),
// which only connects and is polled, never sends: the counts are those of
// the operation's own descriptor, and sends_on_any() shows that no other
// descriptor sent meanwhile.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_SYSCALL_COUNTING_HPP
#define UNIXDGRAM_TEST_SYSCALL_COUNTING_HPP

#include <unixdgram/credentials.hpp>

#include <optional>

namespace unixdgram_test {

/// Descriptors below this number have their calls counted.
inline constexpr int counted_fds = 4096;

struct call_counts {
    unsigned sendto = 0;
    unsigned sendmsg = 0;
    unsigned sendmmsg = 0;
    unsigned recvfrom = 0;
    unsigned recvmsg = 0;
    unsigned recvmmsg = 0;

    unsigned sends() const { return sendto + sendmsg + sendmmsg; }
    unsigned receives() const { return recvfrom + recvmsg + recvmmsg; }
    unsigned total() const { return sends() + receives(); }
};

/// The calls made on descriptor `fd` (0 <= fd < counted_fds) so far.
call_counts calls_on(int fd);

/// The sends made on any descriptor at all so far.
unsigned sends_on_any_fd();

/// The SCM_CREDENTIALS of the last sendmsg that carried them, since
/// forget_credentials_sent().
std::optional<unixdgram::credentials> credentials_last_sent();
void forget_credentials_sent();

/// The calls made on one descriptor since the counter was made, and the
/// sends made on any descriptor since then. Throws std::out_of_range for a
/// descriptor outside the counted range.
class call_counter {
public:
    explicit call_counter(int fd);

    call_counts since() const;
    unsigned sends_on_any() const;

private:
    int fd_;
    call_counts start_;
    unsigned any_start_;
};

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_SYSCALL_COUNTING_HPP
