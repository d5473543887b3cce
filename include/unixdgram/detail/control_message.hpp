//
// unixdgram/detail/control_message.hpp — building and reading ancillary data
// (SCM_RIGHTS, SCM_CREDENTIALS) without losing a descriptor.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP
#define UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP

#include <unixdgram/credentials.hpp>
#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/receive_result.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>

#include <sys/socket.h>
#include <unistd.h>

namespace unixdgram::detail {

inline constexpr std::size_t max_fds_in_control = max_fds_per_datagram;

// Linux 6.5 added SCM_PIDFD; a peer cannot make us receive one without
// SO_PASSPIDFD, but if one ever arrives its descriptor must still be closed.
inline constexpr int scm_pidfd = 0x04;

// The ids the kernel reports for "nobody it can name": what a uid or gid with
// no mapping in this user namespace reads as. Linux 65534 unless changed.
inline unsigned kernel_overflow_id(const char* setting) noexcept
{
    unsigned id = 65534;
    if (std::FILE* file = std::fopen(setting, "re")) {
        if (std::fscanf(file, "%u", &id) != 1)
            id = 65534;
        std::fclose(file);
    }
    return id;
}

// What SCM_CREDENTIALS says of a datagram queued while neither end passed
// credentials (SO_PASSCRED turned on after it was sent): pid 0 and the
// overflow ids. That is no sender, and must not pass for one (uid 65534 is
// "nobody", a real user).
inline std::optional<credentials> sender_credentials_from(const ucred& sender) noexcept
{
    static const unsigned overflow_uid = kernel_overflow_id("/proc/sys/kernel/overflowuid");
    static const unsigned overflow_gid = kernel_overflow_id("/proc/sys/kernel/overflowgid");
    if (sender.pid == 0 && sender.uid == overflow_uid && sender.gid == overflow_gid)
        return std::nullopt;
    return credentials{sender.pid, sender.uid, sender.gid};
}

struct rights_control_buffer {
    alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(int) * max_fds_in_control)];

    // Writes one SCM_RIGHTS message carrying `fds`; returns its length.
    std::size_t pack(std::span<const int> fds) noexcept
    {
        std::memset(bytes, 0, CMSG_SPACE(sizeof(int) * fds.size()));
        auto* header = reinterpret_cast<cmsghdr*>(bytes);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
        return CMSG_SPACE(sizeof(int) * fds.size());
    }
};

struct receive_control_buffer {
    alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(ucred)) +
                                         CMSG_SPACE(sizeof(int) * max_fds_in_control)];

    // Room for credentials and `wanted_fds` descriptors. CMSG_SPACE rounds up,
    // so the kernel may install one more descriptor than wanted:
    // take_control closes it.
    static std::size_t room_for(std::size_t wanted_fds) noexcept
    {
        wanted_fds = std::min(wanted_fds, max_fds_in_control);
        return CMSG_SPACE(sizeof(ucred)) + (wanted_fds ? CMSG_SPACE(sizeof(int) * wanted_fds) : 0);
    }
};

// Hands the descriptors in `message`'s control data to the leading entries of
// `fds` (emptying the others) and closes the rest; records credentials. Every descriptor in the
// buffer ends up either in `fds` or closed, whatever the buffer holds.
inline void take_control(const msghdr& message, std::span<file_descriptor> fds,
                         receive_result& result) noexcept
{
    std::size_t handed_over = 0;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(const_cast<msghdr*>(&message), header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_len < CMSG_LEN(0))
            continue;
        const unsigned char* data = CMSG_DATA(header);
        // The kernel never lets a message run past msg_controllen, but a
        // length that claims to would have us read outside the buffer.
        const auto* control_end =
            static_cast<const unsigned char*>(message.msg_control) + message.msg_controllen;
        std::size_t data_length =
            std::min<std::size_t>(header->cmsg_len - CMSG_LEN(0),
                                  static_cast<std::size_t>(control_end - data));
        if (header->cmsg_type == SCM_RIGHTS || header->cmsg_type == scm_pidfd) {
            bool wanted = header->cmsg_type == SCM_RIGHTS;
            for (std::size_t offset = 0; offset + sizeof(int) <= data_length;
                 offset += sizeof(int)) {
                int fd;
                std::memcpy(&fd, data + offset, sizeof(int));
                // The kernel installs only valid descriptors; a negative
                // number in a hostile buffer is nothing to hand over.
                if (fd < 0)
                    continue;
                if (wanted && handed_over < fds.size()) {
                    fds[handed_over++].reset(fd);
                } else {
                    ::close(fd);
                    if (wanted)
                        result.control_truncated = true;
                }
            }
        } else if (header->cmsg_type == SCM_CREDENTIALS && data_length >= sizeof(ucred)) {
            ucred sender;
            std::memcpy(&sender, data, sizeof(sender));
            result.sender_credentials = sender_credentials_from(sender);
        }
    }
    // Entries left over from an earlier receive must not pass for new ones.
    for (std::size_t unused = handed_over; unused < fds.size(); ++unused)
        fds[unused].reset();
    result.fds = fds.first(handed_over);
}

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP
