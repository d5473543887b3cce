//
// syscall_counting.hpp — the send and receive system calls a test
// executable makes, counted per descriptor.
//
// syscall_counting.cpp, linked into the executable, defines sendto, sendmsg,
// sendmmsg, recvfrom, recvmsg and recvmmsg itself: each counts the call,
// whatever it returns (EAGAIN included), and makes it with syscall(2). The
// library is header-only and compiled into the executable, so its calls bind
// to these; the reactor's own (epoll_wait, epoll_ctl) and poll are not
// among them and are not counted.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_SYSCALL_COUNTING_HPP
#define UNIXDGRAM_TEST_SYSCALL_COUNTING_HPP

namespace unixdgram_test {

struct call_counts {
    unsigned sends = 0;
    unsigned receives = 0;
};

/// The send and receive calls made on `fd` since the counter was made, and
/// the sends made on any descriptor (to see that nothing else sent).
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
