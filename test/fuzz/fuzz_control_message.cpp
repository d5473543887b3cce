//
// fuzz_control_message.cpp — libFuzzer harness for detail::take_control, the
// code that turns a recvmsg control buffer into owned descriptors.
//
// An input is a 4-byte header and the control buffer:
//
//   byte 0      room: how many file_descriptor slots the caller offers (0..255)
//   byte 1      how many of those slots already own a descriptor, modulo room + 1
//               (left over from an earlier receive; take_control must close them)
//   bytes 2-3   msg_controllen, little-endian, cut to the bytes that follow
//   bytes 4-    the control buffer
//
// The buffer is copied into a heap block of exactly msg_controllen bytes, so
// AddressSanitizer catches any read past the end. Every int slot of every
// SOL_SOCKET SCM_RIGHTS (or SCM_PIDFD) message is then overwritten with a
// fresh, distinct, real descriptor (a dup of /dev/null), so whatever the
// fuzzer's bytes said, each descriptor take_control sees is real, appears once
// and has a fate to check:
//
//   - the first min(room, count) SCM_RIGHTS descriptors, in order, are owned by
//     the returned file_descriptors, the last SCM_PIDFD descriptor by
//     sender_pidfd, and nothing else is;
//   - every other delivered descriptor, and every one the slots held before,
//     is closed (fcntl(F_GETFD) fails with EBADF) — never left open unowned;
//   - control_truncated is set exactly when SCM_RIGHTS descriptors exceeded room;
//   - credentials are those of the last complete SCM_CREDENTIALS message, absent
//     when it says pid 0 with the overflow ids (the kernel's "no credentials").
//
// The harness is linked with -Wl,--wrap=close, so every close(2) made while
// take_control runs is seen first: closing a number it was not given, or one
// twice, stops the run before any harm is done.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram/detail/control_message.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// Large enough for 1020 descriptors, small enough that an input stays cheap.
constexpr std::size_t max_control_length = 4096;
constexpr std::size_t header_length = 4;

int null_device = -1;

// What the close(2) wrapper enforces while take_control runs: only numbers in
// `closable` may be closed, each at most once.
struct close_watch {
    bool active = false;
    std::vector<int> closable;
    std::vector<int> closed;
};
close_watch watch;

[[noreturn]] void fail(const char* what, int fd = -1)
{
    std::fprintf(stderr, "fuzz_control_message: %s (fd %d)\n", what, fd);
    std::abort();
}

bool is_closed(int fd)
{
    return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int fresh_descriptor()
{
    int fd = ::fcntl(null_device, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        fail("cannot dup /dev/null", errno);
    return fd;
}

bool contains(const std::vector<int>& fds, int fd)
{
    return std::find(fds.begin(), fds.end(), fd) != fds.end();
}

// The control data as the kernel lays it out: messages found with
// CMSG_FIRSTHDR/CMSG_NXTHDR, each with cmsg_len - CMSG_LEN(0) data bytes,
// never past msg_controllen. Writes a fresh descriptor into every int slot of
// an SCM_RIGHTS or SCM_PIDFD message; returns false when there are more slots
// than the budget allows.
struct delivery {
    std::vector<int> rights;
    std::vector<int> pidfds;
    std::optional<unixdgram::credentials> credentials;

    bool place(msghdr& message, std::size_t budget)
    {
        auto* control_end =
            static_cast<unsigned char*>(message.msg_control) + message.msg_controllen;
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
             header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET || header->cmsg_len < CMSG_LEN(0))
                continue;
            unsigned char* data = CMSG_DATA(header);
            std::size_t data_length =
                std::min<std::size_t>(header->cmsg_len - CMSG_LEN(0), control_end - data);
            if (header->cmsg_type == SCM_RIGHTS ||
                header->cmsg_type == unixdgram::detail::scm_pidfd) {
                auto& slots = header->cmsg_type == SCM_RIGHTS ? rights : pidfds;
                for (std::size_t offset = 0; offset + sizeof(int) <= data_length;
                     offset += sizeof(int)) {
                    if (rights.size() + pidfds.size() == budget)
                        return false;
                    int fd = fresh_descriptor();
                    std::memcpy(data + offset, &fd, sizeof(fd));
                    slots.push_back(fd);
                }
            } else if (header->cmsg_type == SCM_CREDENTIALS && data_length >= sizeof(ucred)) {
                ucred sender;
                std::memcpy(&sender, data, sizeof(sender));
                // pid 0 with the overflow ids is the kernel's "no credentials".
                if (sender.pid == 0 && sender.uid == 65534 && sender.gid == 65534)
                    credentials.reset();
                else
                    credentials = unixdgram::credentials{sender.pid, sender.uid, sender.gid};
            }
        }
        return true;
    }

    void close_all()
    {
        for (int fd : rights)
            ::close(fd);
        for (int fd : pidfds)
            ::close(fd);
    }
};

} // namespace

extern "C" int __real_close(int fd);

extern "C" int __wrap_close(int fd)
{
    if (watch.active) {
        if (!contains(watch.closable, fd))
            fail("take_control closed a descriptor it did not own", fd);
        if (contains(watch.closed, fd))
            fail("take_control closed a descriptor twice", fd);
        watch.closed.push_back(fd);
    }
    return __real_close(fd);
}

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    null_device = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_device < 0)
        fail("cannot open /dev/null", errno);
    // A full buffer holds about a thousand descriptors besides the slots'.
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 8192) {
        limit.rlim_cur = std::min<rlim_t>(8192, limit.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size)
{
    if (size < header_length)
        return -1;
    const std::size_t room = input[0];
    const std::size_t prefilled = input[1] % (room + 1);
    const std::size_t control_length = std::min({static_cast<std::size_t>(input[2] | input[3] << 8),
                                                 size - header_length, max_control_length});

    // new[] aligns for any fundamental type, so cmsghdr reads are aligned;
    // exactly control_length bytes, so a read past the end is caught.
    auto control = std::make_unique<unsigned char[]>(control_length);
    std::memcpy(control.get(), input + header_length, control_length);
    msghdr message{};
    message.msg_control = control.get();
    message.msg_controllen = control_length;

    delivery delivered;
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const std::size_t budget = std::min<std::size_t>(limit.rlim_cur / 2, 2 * max_control_length);
    if (!delivered.place(message, budget)) {
        delivered.close_all();
        return -1;
    }

    std::vector<unixdgram::file_descriptor> slots(room);
    std::vector<int> previous;
    for (std::size_t i = 0; i < prefilled; ++i) {
        slots[i].reset(fresh_descriptor());
        previous.push_back(slots[i].get());
    }

    const std::size_t expected_handed = std::min(room, delivered.rights.size());
    watch.closable = previous;
    watch.closable.insert(watch.closable.end(), delivered.rights.begin() + expected_handed,
                          delivered.rights.end());
    // The last pidfd becomes the result's sender_pidfd; earlier ones are closed.
    const int expected_pidfd = delivered.pidfds.empty() ? -1 : delivered.pidfds.back();
    if (!delivered.pidfds.empty())
        watch.closable.insert(watch.closable.end(), delivered.pidfds.begin(),
                              delivered.pidfds.end() - 1);
    watch.closed.clear();

    unixdgram::receive_result result;
    watch.active = true;
    unixdgram::detail::take_control(message, slots, result);
    watch.active = false;

    if (result.fds.data() != slots.data() || result.fds.size() != expected_handed)
        fail("the returned span is not the leading handed-over slots",
             static_cast<int>(result.fds.size()));
    if (result.fds.size() > room)
        fail("more descriptors returned than there was room for",
             static_cast<int>(result.fds.size()));
    for (std::size_t i = 0; i < room; ++i) {
        int expected = i < expected_handed ? delivered.rights[i] : -1;
        if (slots[i].get() != expected)
            fail("a slot holds the wrong descriptor", slots[i].get());
        if (expected >= 0 && is_closed(expected))
            fail("a handed-over descriptor was closed", expected);
    }
    for (int fd : watch.closable) {
        if (!is_closed(fd))
            fail("a descriptor was left open and unowned", fd);
    }
    if (result.sender_pidfd.get() != expected_pidfd)
        fail("sender_pidfd is not the last pidfd delivered", result.sender_pidfd.get());
    if (expected_pidfd >= 0 && is_closed(expected_pidfd))
        fail("the kept pidfd was closed", expected_pidfd);
    if (watch.closed.size() != watch.closable.size())
        fail("closed descriptors do not match the unowned ones",
             static_cast<int>(watch.closed.size()));
    if (result.control_truncated != (delivered.rights.size() > room))
        fail("control_truncated does not say whether descriptors were dropped");
    if (result.sender_credentials != delivered.credentials)
        fail("credentials differ from the last SCM_CREDENTIALS message");

    slots.clear();
    for (int fd : delivered.rights) {
        if (!is_closed(fd))
            fail("a handed-over descriptor outlived its file_descriptor", fd);
    }
    return 0;
}
