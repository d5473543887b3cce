//
// system_call_counter.hpp — the system calls of the test_message
// executable, counted per descriptor.
//
// The system calls are counted by interposition: system_call_counter.cpp
// defines sendto, sendmsg, recvfrom and recvmsg in this executable, counting
// each call per descriptor and forwarding it to the kernel with syscall(2).
// The library is header-only and compiled into this executable, so its calls
// bind to these definitions; the reactor's own calls (epoll_wait, epoll_ctl,
// poll) are not among them and are not counted. A send that waits for room
// at a destination waits on a probe socket connected there
// (detail/destination_wait.hpp), which only connects and is polled, never
// sends: the counts are those of the operation's own descriptor, and the
// waiting tests also check that no other descriptor sent meanwhile.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_SYSTEM_CALL_COUNTER_HPP
#define UNIXDGRAM_TEST_SYSTEM_CALL_COUNTER_HPP

#include "credentials_test.hpp"
#include "unixdgram_test.hpp"

#include <optional>

namespace unixdgram_test {

// ---------------------------------------------------------------------------
// Counting system calls
// ---------------------------------------------------------------------------

/// Descriptors below this number have their calls counted.
inline constexpr int counted_fds = 1024;

struct call_counts {
    unsigned sendto = 0;
    unsigned sendmsg = 0;
    unsigned recvfrom = 0;
    unsigned recvmsg = 0;

    unsigned sends() const { return sendto + sendmsg; }
    unsigned receives() const { return recvfrom + recvmsg; }
    unsigned total() const { return sends() + receives(); }
};

/// The calls made on descriptor `fd` (0 <= fd < counted_fds) so far.
call_counts calls_on(int fd);

/// The sends made on any descriptor at all so far (to see that nothing but
/// the sending socket sends while a send waits).
unsigned sends_on_any_fd();

/// The SCM_CREDENTIALS of the last sendmsg that carried them, since
/// forget_credentials_sent().
std::optional<unixdgram::credentials> credentials_last_sent();
void forget_credentials_sent();

/// The calls made on one descriptor since the counter was made.
class call_counter {
public:
    explicit call_counter(int fd) : fd_(fd)
    {
        REQUIRE(fd >= 0);
        REQUIRE(fd < counted_fds);
        start_ = calls_on(fd);
        any_start_ = sends_on_any_fd();
    }

    call_counts since() const
    {
        const call_counts now = calls_on(fd_);
        return {now.sendto - start_.sendto, now.sendmsg - start_.sendmsg,
                now.recvfrom - start_.recvfrom, now.recvmsg - start_.recvmsg};
    }

    /// Sends on every descriptor since the counter was made.
    unsigned sends_on_any() const { return sends_on_any_fd() - any_start_; }

private:
    int fd_;
    call_counts start_;
    unsigned any_start_ = 0;
};

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_SYSTEM_CALL_COUNTER_HPP
