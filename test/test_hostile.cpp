//
// test_hostile.cpp — what the library does when its input or its peer is
// hostile: descriptors that are not unix datagram sockets, a flood of
// descriptors, empty and oversized datagrams, extreme names, peers that vanish,
// signals that interrupt blocking calls.
//
// Every case says (as a doctest MESSAGE) which error it got, so that the
// figures can be read from the test log.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;

struct pair_fixture : io_fixture {
    socket_type sender{io};
    socket_type receiver{io};

    pair_fixture() { unixdgram::connect_pair(sender, receiver); }
};

// The descriptor's flags, both kinds, to show that a failed adoption left
// them alone.
struct descriptor_flags {
    int status;
    int descriptor;

    static descriptor_flags of(int fd) { return {::fcntl(fd, F_GETFL), ::fcntl(fd, F_GETFD)}; }
    friend bool operator==(const descriptor_flags&, const descriptor_flags&) = default;
};

// Copies of one descriptor under distinct numbers, for a datagram to carry.
std::vector<file_descriptor> copies_of(const file_descriptor& original, std::size_t count)
{
    std::vector<file_descriptor> copies;
    for (std::size_t i = 0; i < count; ++i)
        copies.push_back(original.dup());
    return copies;
}

std::vector<int> numbers_of(const std::vector<file_descriptor>& fds)
{
    std::vector<int> numbers;
    for (const auto& fd : fds)
        numbers.push_back(fd.get());
    return numbers;
}

// A path of exactly `length` bytes inside `directory`.
std::string path_of_length(const temp_dir& directory, std::size_t length)
{
    std::string path = directory.path.string() + "/";
    REQUIRE(path.size() < length);
    path.append(length - path.size(), 'p');
    return path;
}

struct signal_counter {
    static inline std::atomic<int> delivered{0};
    static void handle(int) { delivered.fetch_add(1, std::memory_order_relaxed); }
};

// Installs a SIGUSR1 handler without SA_RESTART, so a blocking system call it
// interrupts fails with EINTR instead of restarting; restores the old one.
class sigusr1_without_restart {
public:
    sigusr1_without_restart()
    {
        struct sigaction action {};
        action.sa_handler = &signal_counter::handle;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;
        REQUIRE(::sigaction(SIGUSR1, &action, &previous_) == 0);
    }
    sigusr1_without_restart(const sigusr1_without_restart&) = delete;
    sigusr1_without_restart& operator=(const sigusr1_without_restart&) = delete;
    ~sigusr1_without_restart() { ::sigaction(SIGUSR1, &previous_, nullptr); }

private:
    struct sigaction previous_ {};
};

} // namespace

// ---------------------------------------------------------------------------
// Adopting descriptors that are not unix datagram sockets
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture, "adopting anything but an AF_UNIX datagram socket fails clearly and "
                              "leaves the descriptor untouched")
{
    struct candidate {
        std::string what;
        std::function<file_descriptor()> make;
    };
    temp_dir directory;
    const std::vector<candidate> candidates = {
        {"a regular file",
         [&] {
             return file_descriptor(::open((directory.path / "regular").c_str(),
                                           O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
         }},
        {"a directory",
         [&] { return file_descriptor(::open(directory.path.c_str(), O_RDONLY | O_DIRECTORY)); }},
        {"the read end of a pipe", [] { return std::move(make_pipe().read_end); }},
        {"/dev/null", [] { return file_descriptor(::open("/dev/null", O_RDWR)); }},
        {"a TCP socket", [] { return file_descriptor(::socket(AF_INET, SOCK_STREAM, 0)); }},
        {"a UDP socket", [] { return file_descriptor(::socket(AF_INET, SOCK_DGRAM, 0)); }},
        {"an AF_UNIX SOCK_STREAM socket",
         [] { return file_descriptor(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)); }},
        {"an AF_UNIX SOCK_SEQPACKET socket",
         [] { return file_descriptor(::socket(AF_UNIX, SOCK_SEQPACKET, 0)); }},
    };
    for (const candidate& each : candidates) {
        CAPTURE(each.what);
        file_descriptor fd = each.make();
        REQUIRE(fd);
        const descriptor_flags before = descriptor_flags::of(fd.get());

        std::error_code constructed =
            thrown_by([&] { socket_type adopted(io.get_executor(), fd.get()); });
        socket_type socket(io);
        std::error_code assigned;
        socket.assign(fd.get(), assigned);

        MESSAGE(each.what << ": constructor threw " << describe(constructed) << "; assign set "
                          << describe(assigned));
        CHECK(constructed == unixdgram::error::not_a_unix_datagram_socket);
        CHECK(assigned == unixdgram::error::not_a_unix_datagram_socket);
        CHECK_FALSE(socket.is_open());
        CHECK(is_open_fd(fd.get()));
        CHECK(descriptor_flags::of(fd.get()) == before);
    }
}

TEST_CASE_FIXTURE(io_fixture, "adopting a closed or negative descriptor number fails with EBADF")
{
    // The first socket makes Asio open its reactor's descriptors; after that
    // the closed number stays closed.
    socket_type socket(io);
    int closed_number = ::open("/dev/null", O_RDONLY);
    REQUIRE(closed_number >= 0);
    ::close(closed_number);
    for (int number : {closed_number, -1}) {
        CAPTURE(number);
        std::error_code constructed =
            thrown_by([&] { socket_type adopted(io.get_executor(), number); });
        std::error_code assigned;
        socket.assign(number, assigned);
        MESSAGE("descriptor " << number << ": constructor threw " << describe(constructed)
                              << "; assign set " << describe(assigned));
        CHECK(constructed == errno_is{EBADF});
        CHECK(assigned == errno_is{EBADF});
        CHECK_FALSE(socket.is_open());
    }
    CHECK_FALSE(is_open_fd(closed_number));
}

// ---------------------------------------------------------------------------
// More descriptors than the receiver has room for
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(
    pair_fixture,
    "253 descriptors sent to a receiver with room for 1: one is handed over and 252 closed")
{
    pipe_ends pipe = make_pipe();
    std::vector<file_descriptor> copies =
        copies_of(pipe.write_end, unixdgram::max_fds_per_datagram);
    const std::vector<int> numbers = numbers_of(copies);
    const char payload[] = "flood";
    REQUIRE(sender.send_with_fds(asio::buffer(payload), numbers) == sizeof(payload));
    // The sender keeps what it sent.
    for (int number : numbers)
        CHECK(is_open_fd(number));
    copies.clear();
    pipe.write_end.reset();
    const std::size_t fds_before = count_open_fds();

    SUBCASE("synchronously")
    {
        std::array<char, 16> storage{};
        std::array<file_descriptor, 1> room;
        unixdgram::receive_result result = receiver.receive_with_fds(asio::buffer(storage), room);
        MESSAGE("received " << result.bytes << " bytes, " << result.fds.size()
                            << " descriptor(s), control_truncated=" << result.control_truncated
                            << "; descriptors open: " << count_open_fds() - fds_before
                            << " more than before");
        CHECK(result.bytes == sizeof(payload));
        REQUIRE(result.fds.size() == 1);
        CHECK(result.control_truncated);
        CHECK(count_open_fds() == fds_before + 1);
        CHECK_FALSE(all_writers_gone(pipe.read_end.get()));
        room[0].reset();
    }
    SUBCASE("asynchronously")
    {
        std::array<char, 16> storage{};
        std::array<file_descriptor, 1> room;
        int calls = 0;
        unixdgram::receive_result result;
        receiver.async_receive_with_fds(asio::buffer(storage), room,
                                        [&](std::error_code ec, unixdgram::receive_result got) {
                                            ++calls;
                                            CHECK_FALSE(ec);
                                            result = std::move(got);
                                        });
        run();
        CHECK(calls == 1);
        CHECK(result.fds.size() == 1);
        CHECK(result.control_truncated);
        CHECK(count_open_fds() == fds_before + 1);
        room[0].reset();
    }
    SUBCASE("with no room at all")
    {
        std::array<char, 16> storage{};
        unixdgram::receive_result result = receiver.receive_with_fds(asio::buffer(storage), {});
        MESSAGE("room for 0: " << result.fds.size()
                               << " descriptor(s), control_truncated=" << result.control_truncated);
        CHECK(result.fds.empty());
        CHECK(result.control_truncated);
    }
    SUBCASE("with room for all 253")
    {
        std::array<char, 16> storage{};
        std::vector<file_descriptor> room(unixdgram::max_fds_per_datagram);
        unixdgram::receive_result result = receiver.receive_with_fds(asio::buffer(storage), room);
        CHECK(result.fds.size() == unixdgram::max_fds_per_datagram);
        CHECK_FALSE(result.control_truncated);
        CHECK(count_open_fds() == fds_before + unixdgram::max_fds_per_datagram);
        room.clear();
    }
    // Every copy the kernel carried is gone: the pipe has no writer left.
    CHECK(count_open_fds() == fds_before);
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a peeked datagram's descriptors are handed over, and again when it is received")
{
    pipe_ends pipe = make_pipe();
    const int fd = pipe.write_end.get();
    REQUIRE(sender.send_with_fds(asio::buffer("peek", 4), std::span(&fd, 1)) == 4);
    pipe.write_end.reset();
    const std::size_t fds_before = count_open_fds();

    std::array<char, 8> storage{};
    std::array<file_descriptor, 2> peeked;
    unixdgram::receive_result peek =
        receiver.receive_with_fds(asio::buffer(storage), peeked, socket_type::message_peek);
    std::array<file_descriptor, 2> taken;
    unixdgram::receive_result take = receiver.receive_with_fds(asio::buffer(storage), taken);
    MESSAGE("peek: " << peek.bytes << " bytes, " << peek.fds.size() << " descriptor(s); receive: "
                     << take.bytes << " bytes, " << take.fds.size() << " descriptor(s)");
    CHECK(peek.fds.size() == 1);
    CHECK(take.fds.size() == 1);
    CHECK(count_open_fds() == fds_before + peek.fds.size() + take.fds.size());
    peeked = {};
    taken = {};
    CHECK(count_open_fds() == fds_before);
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a send with too many or bad descriptors fails before anything is sent")
{
    pipe_ends pipe = make_pipe();
    std::vector<file_descriptor> copies =
        copies_of(pipe.write_end, unixdgram::max_fds_per_datagram + 1);
    const std::vector<int> numbers = numbers_of(copies);
    int closed_number = ::open("/dev/null", O_RDONLY);
    REQUIRE(closed_number >= 0);
    ::close(closed_number);
    const std::vector<int> with_closed = {pipe.write_end.get(), closed_number};
    const std::vector<int> with_negative = {pipe.write_end.get(), -1};

    std::error_code too_many;
    sender.send_with_fds(asio::buffer("x", 1), numbers, 0, too_many);
    std::error_code closed;
    sender.send_with_fds(asio::buffer("x", 1), with_closed, 0, closed);
    std::error_code negative;
    sender.send_with_fds(asio::buffer("x", 1), with_negative, 0, negative);
    int calls = 0;
    std::error_code async_too_many;
    sender.async_send_with_fds(asio::buffer("x", 1), numbers, [&](std::error_code ec, std::size_t) {
        ++calls;
        async_too_many = ec;
    });
    run();
    MESSAGE("254 descriptors: " << describe(too_many) << "; async: " << describe(async_too_many));
    MESSAGE("a closed descriptor number among them: " << describe(closed));
    MESSAGE("-1 among them: " << describe(negative));
    CHECK(too_many == unixdgram::error::too_many_fds);
    CHECK(calls == 1);
    CHECK(async_too_many == unixdgram::error::too_many_fds);
    CHECK(closed == errno_is{EBADF});
    CHECK(negative == errno_is{EBADF});
    CHECK(receiver.bytes_readable() == 0);
    for (int number : numbers)
        CHECK(is_open_fd(number));
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "pidfds the kernel adds when SO_PASSPIDFD is set behind the library's back are owned by the "
    "result and closed with it")
{
    // Linux 6.5 and later attach an SCM_PIDFD message to every datagram when
    // the receiver asks (SO_PASSPIDFD, 76), however it was asked: the pidfd
    // goes to sender_pidfd, and leaves with the result.
    constexpr int so_passpidfd = 76;
    const int enabled = 1;
    if (::setsockopt(receiver.native_handle(), SOL_SOCKET, so_passpidfd, &enabled,
                     sizeof(enabled)) != 0) {
        MESSAGE("SO_PASSPIDFD: " << describe({errno, asio::error::get_system_category()})
                                 << "; nothing to check on this kernel");
        return;
    }
    pipe_ends pipe = make_pipe();
    std::vector<file_descriptor> copies = copies_of(pipe.write_end, 3);
    const std::vector<int> numbers = numbers_of(copies);
    for (bool credentials : {false, true}) {
        receiver.set_option(unixdgram::pass_credentials(credentials));
        for (std::size_t room_size : {0, 1, 3}) {
            CAPTURE(credentials);
            CAPTURE(room_size);
            REQUIRE(sender.send_with_fds(asio::buffer("p", 1), numbers) == 1);
            const std::size_t fds_before = count_open_fds();
            std::array<char, 4> storage{};
            std::array<file_descriptor, 3> room;
            unixdgram::receive_result result =
                receiver.receive_with_fds(asio::buffer(storage), std::span(room).first(room_size));
            MESSAGE("SO_PASSPIDFD, credentials "
                    << std::string(credentials ? "on" : "off") << ", room " << room_size << ": "
                    << result.fds.size()
                    << " descriptor(s), control_truncated=" << result.control_truncated);
            CHECK(result.bytes == 1);
            CHECK(result.fds.size() == std::min<std::size_t>(room_size, 3));
            CHECK(result.control_truncated == (room_size < 3));
            // The kernel writes SCM_PIDFD after SCM_RIGHTS: descriptors
            // beyond the room take the pidfd's room too.
            if (room_size >= 3)
                CHECK(result.sender_pidfd);
            CHECK(count_open_fds() ==
                  fds_before + result.fds.size() + (result.sender_pidfd ? 1 : 0));
            result.sender_pidfd.reset();
            CHECK(count_open_fds() == fds_before + result.fds.size());
        }
    }
    copies.clear();
    pipe.write_end.reset();
    CHECK(all_writers_gone(pipe.read_end.get()));
}

// ---------------------------------------------------------------------------
// Empty and oversized datagrams
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "zero-length datagrams carry descriptors")
{
    pipe_ends pipe = make_pipe();
    std::vector<file_descriptor> copies = copies_of(pipe.write_end, 3);
    const std::vector<int> numbers = numbers_of(copies);
    const std::size_t fds_before = count_open_fds();
    std::array<char, 16> storage{};
    std::array<file_descriptor, 4> room;

    SUBCASE("synchronously")
    {
        REQUIRE(sender.send_with_fds(asio::const_buffer(), numbers) == 0);
        unixdgram::receive_result result = receiver.receive_with_fds(asio::buffer(storage), room);
        MESSAGE("zero-length: " << result.bytes << " bytes, " << result.fds.size()
                                << " descriptor(s), truncated=" << result.truncated);
        CHECK(result.bytes == 0);
        CHECK(result.fds.size() == 3);
        CHECK_FALSE(result.truncated);
        CHECK_FALSE(result.control_truncated);
        for (const file_descriptor& fd : result.fds)
            CHECK(file_identity::of(pipe.write_end.get()).matches(fd.get()));
    }
    SUBCASE("asynchronously")
    {
        int sends = 0;
        int receives = 0;
        unixdgram::receive_result result;
        sender.async_send_with_fds(asio::const_buffer(), numbers,
                                   [&](std::error_code ec, std::size_t bytes) {
                                       ++sends;
                                       CHECK_FALSE(ec);
                                       CHECK(bytes == 0);
                                   });
        receiver.async_receive_with_fds(asio::buffer(storage), room,
                                        [&](std::error_code ec, unixdgram::receive_result got) {
                                            ++receives;
                                            CHECK_FALSE(ec);
                                            result = std::move(got);
                                        });
        run();
        CHECK(sends == 1);
        CHECK(receives == 1);
        CHECK(result.bytes == 0);
        CHECK(result.fds.size() == 3);
    }
    SUBCASE("into an empty buffer")
    {
        REQUIRE(sender.send_with_fds(asio::const_buffer(), numbers) == 0);
        unixdgram::receive_result result = receiver.receive_with_fds(asio::mutable_buffer(), room);
        CHECK(result.bytes == 0);
        CHECK_FALSE(result.truncated);
        CHECK(result.fds.size() == 3);
    }
    SUBCASE("by a receive that wants none: the kernel discards them")
    {
        REQUIRE(sender.send_with_fds(asio::const_buffer(), numbers) == 0);
        std::error_code ec;
        std::size_t bytes = receiver.receive(asio::buffer(storage), 0, ec);
        MESSAGE("plain receive of a zero-length datagram with descriptors: " << bytes << " bytes, "
                                                                             << describe(ec));
        CHECK_FALSE(ec);
        CHECK(bytes == 0);
        CHECK(count_open_fds() == fds_before);
    }
    room = {};
    copies.clear();
    pipe.write_end.reset();
    CHECK(count_open_fds() == fds_before - 4);
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "a datagram longer than the buffer is truncated and its descriptors still handed over")
{
    pipe_ends pipe = make_pipe();
    std::vector<file_descriptor> copies = copies_of(pipe.write_end, 2);
    const std::vector<int> numbers = numbers_of(copies);
    const std::string long_payload(1000, 'L');
    REQUIRE(sender.send_with_fds(asio::buffer(long_payload), numbers) == long_payload.size());
    const std::size_t fds_before = count_open_fds();
    std::array<char, 10> storage{};

    SUBCASE("by receive_with_fds")
    {
        std::array<file_descriptor, 2> room;
        std::error_code ec;
        unixdgram::receive_result result =
            receiver.receive_with_fds(asio::buffer(storage), room, 0, ec);
        MESSAGE("1000 bytes into 10: " << describe(ec) << ", " << result.bytes
                                       << " bytes, truncated=" << result.truncated << ", "
                                       << result.fds.size() << " descriptor(s)");
        CHECK_FALSE(ec);
        CHECK(result.bytes == storage.size());
        CHECK(result.truncated);
        CHECK_FALSE(result.control_truncated);
        CHECK(result.fds.size() == 2);
        CHECK(std::string_view(storage.data(), storage.size()) == std::string(10, 'L'));
    }
    SUBCASE("by a plain receive, which reports message_truncated and loses the descriptors")
    {
        std::error_code ec;
        std::size_t bytes = receiver.receive(asio::buffer(storage), 0, ec);
        MESSAGE("plain receive of 1000 bytes into 10: " << describe(ec) << ", " << bytes
                                                        << " bytes");
        CHECK(ec == unixdgram::error::message_truncated);
        CHECK(bytes == storage.size());
        CHECK(count_open_fds() == fds_before);
    }
    copies.clear();
    pipe.write_end.reset();
    CHECK(all_writers_gone(pipe.read_end.get()));
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "a datagram larger than the socket can send fails with EMSGSIZE and keeps its descriptors")
{
    asio::socket_base::send_buffer_size send_buffer;
    sender.get_option(send_buffer);
    const std::string huge(static_cast<std::size_t>(send_buffer.value()) * 2 + 4096, 'H');
    pipe_ends pipe = make_pipe();
    const int fd = pipe.write_end.get();
    std::error_code ec;
    std::size_t sent = sender.send_with_fds(asio::buffer(huge), std::span(&fd, 1), 0, ec);
    MESSAGE("a " << huge.size() << "-byte datagram (send buffer " << send_buffer.value()
                 << "): " << describe(ec) << ", " << sent << " bytes sent");
    CHECK(ec == errno_is{EMSGSIZE});
    CHECK(sent == 0);
    CHECK(receiver.bytes_readable() == 0);
    CHECK(is_open_fd(fd));
}

// ---------------------------------------------------------------------------
// Names at the limits
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture,
                  "abstract names with embedded and trailing NULs are kept byte for byte")
{
    const std::string receiver_name("\0a\0b\0\0c\0", 8);
    const std::string sender_name("\0sender\0\0", 9);
    socket_type receiver(io);
    socket_type sender(io);
    receiver.open();
    receiver.bind(unixdgram::make_endpoint(receiver_name));
    sender.open();
    sender.bind(unixdgram::make_endpoint(sender_name));

    CHECK(receiver.local_endpoint().path() == receiver_name);
    CHECK(sender.local_endpoint().path() == sender_name);
    REQUIRE(sender.send_to(asio::buffer("nul", 3), unixdgram::make_endpoint(receiver_name)) == 3);
    std::array<char, 8> storage{};
    unixdgram::endpoint from;
    CHECK(receiver.receive_from(asio::buffer(storage), from) == 3);
    MESSAGE("sender name received: " << from.path().size() << " bytes");
    CHECK(from.path() == sender_name);

    // A name that differs only after a NUL is another name.
    std::error_code ec;
    sender.send_to(asio::buffer("x", 1), unixdgram::make_endpoint(std::string("\0a\0b\0\0c\0x", 9)),
                   0, ec);
    MESSAGE("send_to a name that differs after a NUL: " << describe(ec));
    CHECK(ec == errno_is{ECONNREFUSED});
}

TEST_CASE_FIXTURE(io_fixture, "abstract names of 108 bytes work and of 109 bytes are refused")
{
    std::string longest = unique_abstract_name("longest");
    longest.resize(108, 'n');
    std::string too_long = longest + 'n';

    socket_type receiver(io);
    receiver.open();
    receiver.bind(unixdgram::make_endpoint(longest));
    CHECK(receiver.local_endpoint().path() == longest);
    socket_type sender(io);
    sender.open();
    std::string sender_name = unique_abstract_name("longest-sender");
    sender_name.resize(108, 's');
    sender.bind(unixdgram::make_endpoint(sender_name));
    REQUIRE(sender.send_to(asio::buffer("long", 4), unixdgram::make_endpoint(longest)) == 4);
    std::array<char, 8> storage{};
    unixdgram::endpoint from;
    CHECK(receiver.receive_from(asio::buffer(storage), from) == 4);
    CHECK(from.path() == sender_name);

    std::error_code ec;
    unixdgram::endpoint refused = unixdgram::make_endpoint(too_long, ec);
    MESSAGE("make_endpoint of a 109-byte abstract name: " << describe(ec));
    CHECK(ec == asio::error::name_too_long);
    CHECK(refused.path().empty());
    CHECK(thrown_by([&] { unixdgram::make_endpoint(too_long); }) == asio::error::name_too_long);
}

TEST_CASE_FIXTURE(io_fixture,
                  "paths of 108 bytes work and of 109 bytes are refused with ENAMETOOLONG")
{
    temp_dir directory;
    const std::string receiver_path = path_of_length(directory, 108);
    std::string sender_path = receiver_path;
    sender_path.back() = 's';
    const std::string too_long = receiver_path + 'p';

    socket_type receiver(io);
    receiver.open();
    receiver.bind(unixdgram::make_endpoint(receiver_path));
    CHECK(receiver.local_endpoint().path() == receiver_path);
    socket_type sender(io);
    sender.open();
    sender.bind(unixdgram::make_endpoint(sender_path));
    REQUIRE(sender.send_to(asio::buffer("path", 4), unixdgram::make_endpoint(receiver_path)) == 4);
    std::array<char, 8> storage{};
    unixdgram::endpoint from;
    CHECK(receiver.receive_from(asio::buffer(storage), from) == 4);
    MESSAGE("108-byte path: bound, and the sender's 108-byte path came back as "
            << from.path().size() << " bytes");
    CHECK(from.path() == sender_path);

    std::error_code ec;
    unixdgram::make_endpoint(too_long, ec);
    std::error_code thrown = thrown_by([&] { unixdgram::make_endpoint(too_long); });
    MESSAGE("make_endpoint of a 109-byte path: " << describe(ec)
                                                 << "; throwing form: " << describe(thrown));
    CHECK(ec == asio::error::name_too_long);
    CHECK(thrown == asio::error::name_too_long);
}

TEST_CASE_FIXTURE(io_fixture,
                  "a sender whose 108-byte abstract name ends in NUL, which no endpoint holds, is "
                  "reported with ENAMETOOLONG by every receive form, and nothing is lost")
{
    // Asio's endpoint takes a trailing NUL of a full sun_path for a
    // terminator, so this name cannot be stored; anyone may bind it.
    std::string unheld = full_length_abstract_name("unheld");
    unheld.back() = '\0';
    file_descriptor hostile = raw_socket_bound_to(unheld);
    const std::string receiver_name = unique_abstract_name("receiver");
    socket_type receiver(io);
    receiver.open();
    receiver.bind(unixdgram::make_endpoint(receiver_name));
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    unixdgram::endpoint sender = unixdgram::make_endpoint(unique_abstract_name("stale"));
    std::error_code ec;

    auto send_hostile = [&](std::string_view text) {
        REQUIRE(raw_send_to(hostile.get(), text, receiver_name) == 0);
    };

    send_hostile("sync");
    CHECK(receiver.receive_from(asio::buffer(storage), sender, 0, ec) == 4);
    CHECK(ec == errno_is{ENAMETOOLONG});
    CHECK(std::string_view(storage.data(), 4) == "sync");
    CHECK(sender == unixdgram::endpoint());

    send_hostile("throw");
    CHECK(thrown_by([&] { receiver.receive_from(asio::buffer(storage), sender); }) ==
          errno_is{ENAMETOOLONG});

    send_hostile("fds");
    unixdgram::receive_result result =
        receiver.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
    CHECK(ec == errno_is{ENAMETOOLONG});
    CHECK(result.bytes == 3);

    send_hostile("async");
    completion<std::size_t> received;
    received.start(
        [&](auto handler) { receiver.async_receive_from(asio::buffer(storage), sender, handler); });
    io.run_for(safety_timeout);
    REQUIRE(received.calls == 1);
    CHECK(received.ec == errno_is{ENAMETOOLONG});
    CHECK(received.result == 5);

    send_hostile("async fds");
    completion<unixdgram::receive_result> received_with_fds;
    received_with_fds.start([&](auto handler) {
        receiver.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
    });
    io.restart();
    io.run_for(safety_timeout);
    REQUIRE(received_with_fds.calls == 1);
    CHECK(received_with_fds.ec == errno_is{ENAMETOOLONG});
    CHECK(received_with_fds.result.bytes == 9);

    // The adopted socket itself bound that way: local_endpoint says so too.
    socket_type adopted(io, hostile.release());
    adopted.local_endpoint(ec);
    CHECK(ec == errno_is{ENAMETOOLONG});
    CHECK(thrown_by([&] { adopted.local_endpoint(); }) == errno_is{ENAMETOOLONG});

    // And the receiver goes on.
    socket_type friendly(io);
    friendly.open();
    friendly.send_to(asio::buffer(std::string_view("after")),
                     unixdgram::make_endpoint(receiver_name));
    CHECK(receiver.receive_from(asio::buffer(storage), sender) == 5);
    CHECK(sender == unixdgram::endpoint());
}

// ---------------------------------------------------------------------------
// Peers that vanish
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(
    io_fixture,
    "a peer that disappears between sends: ECONNREFUSED while its path exists, then ENOENT")
{
    temp_dir directory;
    const unixdgram::endpoint path = unixdgram::make_endpoint((directory.path / "peer").string());
    const unixdgram::endpoint abstract =
        unixdgram::make_endpoint(unique_abstract_name("vanishing"));
    socket_type by_path(io);
    by_path.open();
    by_path.bind(path);
    socket_type by_name(io);
    by_name.open();
    by_name.bind(abstract);
    socket_type sender(io);
    sender.open();
    REQUIRE(sender.send_to(asio::buffer("1", 1), path) == 1);
    REQUIRE(sender.send_to(asio::buffer("1", 1), abstract) == 1);

    by_path.close();
    by_name.close();
    std::error_code to_closed_path;
    sender.send_to(asio::buffer("2", 1), path, 0, to_closed_path);
    std::error_code to_closed_name;
    sender.send_to(asio::buffer("2", 1), abstract, 0, to_closed_name);
    int calls = 0;
    std::error_code async_to_closed_path;
    sender.async_send_to(asio::buffer("3", 1), path, [&](std::error_code ec, std::size_t) {
        ++calls;
        async_to_closed_path = ec;
    });
    run();
    std::filesystem::remove(directory.path / "peer");
    std::error_code to_removed_path;
    sender.send_to(asio::buffer("4", 1), path, 0, to_removed_path);

    MESSAGE("send_to a closed socket's path: " << describe(to_closed_path));
    MESSAGE("send_to a closed socket's abstract name: " << describe(to_closed_name));
    MESSAGE("async_send_to a closed socket's path: " << describe(async_to_closed_path));
    MESSAGE("send_to a removed path: " << describe(to_removed_path));
    CHECK(to_closed_path == errno_is{ECONNREFUSED});
    CHECK(to_closed_name == errno_is{ECONNREFUSED});
    CHECK(calls == 1);
    CHECK(async_to_closed_path == errno_is{ECONNREFUSED});
    CHECK(to_removed_path == errno_is{ENOENT});
}

TEST_CASE_FIXTURE(io_fixture, "a connected peer that disappears makes sends fail instead of hang")
{
    const unixdgram::endpoint name = unixdgram::make_endpoint(unique_abstract_name("connected"));
    socket_type peer(io);
    peer.open();
    peer.bind(name);
    socket_type sender(io);
    sender.open();
    sender.connect(name);
    REQUIRE(sender.send(asio::buffer("1", 1)) == 1);
    peer.close();

    std::error_code first;
    sender.send(asio::buffer("2", 1), 0, first);
    std::error_code second;
    sender.send(asio::buffer("3", 1), 0, second);
    int calls = 0;
    std::error_code async_error;
    sender.async_send(asio::buffer("4", 1), [&](std::error_code ec, std::size_t) {
        ++calls;
        async_error = ec;
    });
    run();
    MESSAGE("send after the connected peer closed: " << describe(first)
                                                     << "; again: " << describe(second)
                                                     << "; async_send: " << describe(async_error));
    CHECK(first == errno_is{ECONNREFUSED});
    CHECK(second);
    CHECK(calls == 1);
    CHECK(async_error);
}

TEST_CASE_FIXTURE(io_fixture,
                  "a full peer that disappears ends a send_to waiting for room with an error")
{
    const unixdgram::endpoint name = unixdgram::make_endpoint(unique_abstract_name("full"));
    auto peer = std::make_unique<socket_type>(io);
    peer->open();
    peer->bind(name);
    socket_type sender(io);
    sender.open();
    fill_queue(sender, name);

    SUBCASE("asynchronously")
    {
        int calls = 0;
        std::error_code ec;
        sender.async_send_to(asio::buffer("w", 1), name, [&](std::error_code error, std::size_t) {
            ++calls;
            ec = error;
        });
        asio::steady_timer closer(io, 50ms);
        closer.async_wait([&](std::error_code) { peer->close(); });
        const auto started = std::chrono::steady_clock::now();
        run();
        const auto waited = std::chrono::steady_clock::now() - started;
        MESSAGE("async_send_to waiting on a full peer that then closed: "
                << describe(ec) << " after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
        CHECK(calls == 1);
        CHECK(ec == errno_is{ECONNREFUSED});
        CHECK(waited < 2s);
    }
    SUBCASE("synchronously")
    {
        std::thread closer([&] {
            std::this_thread::sleep_for(50ms);
            peer->close();
        });
        std::error_code ec;
        const auto started = std::chrono::steady_clock::now();
        sender.send_to(asio::buffer("w", 1), name, 0, ec);
        const auto waited = std::chrono::steady_clock::now() - started;
        closer.join();
        MESSAGE("send_to waiting on a full peer that then closed: "
                << describe(ec) << " after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
        CHECK(ec == errno_is{ECONNREFUSED});
        CHECK(waited < 2s);
    }
}

// ---------------------------------------------------------------------------
// Signals during blocking calls
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "a signal during a blocking receive does not end it: the datagram still arrives")
{
    sigusr1_without_restart handler;
    signal_counter::delivered = 0;
    const pthread_t receiving_thread = ::pthread_self();
    pipe_ends pipe = make_pipe();
    const int fd = pipe.write_end.get();
    std::thread interrupter([&] {
        std::this_thread::sleep_for(100ms);
        ::pthread_kill(receiving_thread, SIGUSR1);
        std::this_thread::sleep_for(100ms);
        sender.send_with_fds(asio::buffer("late", 4), std::span(&fd, 1));
    });
    std::array<char, 8> storage{};
    std::array<file_descriptor, 1> room;
    std::error_code ec;
    const auto started = std::chrono::steady_clock::now();
    unixdgram::receive_result result =
        receiver.receive_with_fds(asio::buffer(storage), room, 0, ec);
    const auto waited = std::chrono::steady_clock::now() - started;
    interrupter.join();
    MESSAGE("blocking receive_with_fds interrupted by SIGUSR1 ("
            << signal_counter::delivered.load() << " delivered): " << describe(ec) << ", "
            << result.bytes << " bytes after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
    CHECK(signal_counter::delivered.load() == 1);
    CHECK_FALSE(ec);
    CHECK(result.bytes == 4);
    CHECK(std::string_view(storage.data(), 4) == "late");
    CHECK(result.fds.size() == 1);
    CHECK(waited >= 150ms);
}

TEST_CASE_FIXTURE(io_fixture, "a signal during a blocking send_to waiting for room does not end it")
{
    sigusr1_without_restart handler;
    signal_counter::delivered = 0;
    const unixdgram::endpoint name = unixdgram::make_endpoint(unique_abstract_name("signalled"));
    socket_type peer(io);
    peer.open();
    peer.bind(name);
    socket_type sender(io);
    sender.open();
    fill_queue(sender, name);

    const pthread_t sending_thread = ::pthread_self();
    std::thread interrupter([&] {
        std::this_thread::sleep_for(100ms);
        ::pthread_kill(sending_thread, SIGUSR1);
        std::this_thread::sleep_for(100ms);
        std::array<char, 4> storage{};
        peer.receive(asio::buffer(storage));
    });
    std::error_code ec;
    const auto started = std::chrono::steady_clock::now();
    std::size_t sent = sender.send_to(asio::buffer("room", 4), name, 0, ec);
    const auto waited = std::chrono::steady_clock::now() - started;
    interrupter.join();
    MESSAGE("blocking send_to interrupted by SIGUSR1 ("
            << signal_counter::delivered.load() << " delivered): " << describe(ec) << ", " << sent
            << " bytes after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
    CHECK(signal_counter::delivered.load() == 1);
    CHECK_FALSE(ec);
    CHECK(sent == 4);
    CHECK(waited >= 150ms);
}

// ---------------------------------------------------------------------------
// A socket that receives itself
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "a socket sent its own descriptor, then closed, leaves nothing behind")
{
    // An in-flight reference to the receiver inside the receiver's own queue
    // is the cycle the kernel's unix garbage collector exists for.
    const int receiver_fd = receiver.native_handle();
    REQUIRE(sender.send_with_fds(asio::buffer("me", 2), std::span(&receiver_fd, 1)) == 2);
    REQUIRE(sender.send_with_fds(asio::buffer("me", 2), std::span(&receiver_fd, 1)) == 2);
    std::array<char, 4> storage{};
    std::array<file_descriptor, 1> room;
    unixdgram::receive_result result = receiver.receive_with_fds(asio::buffer(storage), room);
    REQUIRE(result.fds.size() == 1);
    CHECK(file_identity::of(receiver_fd).matches(result.fds[0].get()));
    room = {};
    // The second datagram, still queued, holds the receiver: close it anyway.
    receiver.close();
    sender.close();
}
