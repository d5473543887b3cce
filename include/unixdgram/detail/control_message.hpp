//
// unixdgram/detail/control_message.hpp — building and reading ancillary data
// (SCM_RIGHTS, SCM_CREDENTIALS, SCM_PIDFD) without losing a descriptor.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP
#define UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP

#include <unixdgram/credentials.hpp>
#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/message.hpp>
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

// Linux 6.5's SCM_PIDFD, for headers that predate it: what SO_PASSPIDFD
// attaches to every datagram.
#ifdef SCM_PIDFD
inline constexpr int scm_pidfd = SCM_PIDFD;
#else
inline constexpr int scm_pidfd = 0x04;
#endif

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

// The control data of a send: descriptors, then credentials, each only when
// there are some.
struct send_control_buffer {
    alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(int) * max_fds_in_control) +
                                         CMSG_SPACE(sizeof(ucred))];

    // Writes the messages `control` asks for; returns their length, which
    // the caller has checked fits (at most max_fds_in_control descriptors).
    std::size_t pack(const send_control& control) noexcept
    {
        const std::size_t rights_space =
            control.fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * control.fds.size());
        const std::size_t credentials_space =
            control.sender_credentials ? CMSG_SPACE(sizeof(ucred)) : 0;
        std::memset(bytes, 0, rights_space + credentials_space);
        unsigned char* at = bytes;
        if (rights_space) {
            auto* header = reinterpret_cast<cmsghdr*>(at);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int) * control.fds.size());
            std::memcpy(CMSG_DATA(header), control.fds.data(), sizeof(int) * control.fds.size());
            at += rights_space;
        }
        if (credentials_space) {
            const credentials& sender = *control.sender_credentials;
            const ucred as_sent{sender.pid, sender.uid, sender.gid};
            auto* header = reinterpret_cast<cmsghdr*>(at);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_CREDENTIALS;
            header->cmsg_len = CMSG_LEN(sizeof(ucred));
            std::memcpy(CMSG_DATA(header), &as_sent, sizeof(as_sent));
        }
        return rights_space + credentials_space;
    }
};

// Room for what SO_PASSCRED and SO_PASSPIDFD attach to every datagram.
inline constexpr std::size_t identity_control_room =
    CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int));

struct receive_control_buffer {
    alignas(cmsghdr) unsigned char bytes[identity_control_room +
                                         CMSG_SPACE(sizeof(int) * max_fds_in_control)];

    // Room for credentials, `wanted_fds` descriptors and a pidfd (which the
    // kernel writes last, so a datagram with more descriptors than wanted
    // fills the pidfd's room with them and loses the pidfd, reported as
    // control_truncated). CMSG_SPACE rounds up, and the identity room is
    // there whether or not the options are on, so the kernel may install
    // more descriptors than wanted: take_control closes them.
    static std::size_t room_for(std::size_t wanted_fds) noexcept
    {
        wanted_fds = std::min(wanted_fds, max_fds_in_control);
        return identity_control_room + (wanted_fds ? CMSG_SPACE(sizeof(int) * wanted_fds) : 0);
    }
};

// A receive_many entry's control data: credentials and a pidfd, no
// descriptors.
struct identity_control_buffer {
    alignas(cmsghdr) unsigned char bytes[identity_control_room];
};

// Hands the descriptors in `message`'s control data to the leading entries of
// `fds` (emptying the others) and closes the rest; records credentials and
// the sender's pidfd. Every descriptor in the buffer ends up either owned by
// the caller or closed, whatever the buffer holds. Returns how many went to
// `fds`.
inline std::size_t take_control(const msghdr& message, std::span<file_descriptor> fds,
                                bool& control_truncated,
                                std::optional<credentials>& sender_credentials,
                                file_descriptor& sender_pidfd) noexcept
{
    std::size_t handed_over = 0;
    sender_credentials.reset();
    sender_pidfd.reset();
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(const_cast<msghdr*>(&message), header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_len < CMSG_LEN(0))
            continue;
        const unsigned char* data = CMSG_DATA(header);
        // The kernel never lets a message run past msg_controllen, but a
        // length that claims to would have us read outside the buffer.
        const auto* control_end =
            static_cast<const unsigned char*>(message.msg_control) + message.msg_controllen;
        std::size_t data_length = std::min<std::size_t>(
            header->cmsg_len - CMSG_LEN(0), static_cast<std::size_t>(control_end - data));
        if (header->cmsg_type == SCM_RIGHTS || header->cmsg_type == scm_pidfd) {
            const bool rights = header->cmsg_type == SCM_RIGHTS;
            for (std::size_t offset = 0; offset + sizeof(int) <= data_length;
                 offset += sizeof(int)) {
                int fd;
                std::memcpy(&fd, data + offset, sizeof(int));
                // The kernel installs only valid descriptors (SCM_PIDFD
                // carries a negative errno when it could make no pidfd); a
                // negative number is nothing to hand over.
                if (fd < 0)
                    continue;
                if (!rights) {
                    // One pidfd per datagram; a second would replace (and
                    // close) the first rather than leak.
                    sender_pidfd.reset(fd);
                } else if (handed_over < fds.size()) {
                    fds[handed_over++].reset(fd);
                } else {
                    ::close(fd);
                    control_truncated = true;
                }
            }
        } else if (header->cmsg_type == SCM_CREDENTIALS && data_length >= sizeof(ucred)) {
            ucred sender;
            std::memcpy(&sender, data, sizeof(sender));
            sender_credentials = sender_credentials_from(sender);
        }
    }
    // Entries left over from an earlier receive must not pass for new ones.
    for (std::size_t unused = handed_over; unused < fds.size(); ++unused)
        fds[unused].reset();
    return handed_over;
}

inline void take_control(const msghdr& message, std::span<file_descriptor> fds,
                         receive_result& result) noexcept
{
    std::size_t handed_over = take_control(message, fds, result.control_truncated,
                                           result.sender_credentials, result.sender_pidfd);
    result.fds = fds.first(handed_over);
}

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_CONTROL_MESSAGE_HPP
