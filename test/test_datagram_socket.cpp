//
// test_datagram_socket.cpp — every operation of unixdgram::datagram_socket, in
// each of its forms: throwing, std::error_code&, and asynchronous with a
// callback, asio::use_future and asio::use_awaitable.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram.hpp>

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <csignal>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

using socket_type = unixdgram::datagram_socket<>;
using pair_fixture = socket_pair_fixture<socket_type>;

/// The first `length` bytes of `storage` as text.
std::string_view text_of(std::span<const char> storage, std::size_t length)
{
    REQUIRE(length <= storage.size());
    return {storage.data(), length};
}

/// Blocks SIGPIPE in this thread while it lives, so that a SIGPIPE raised by a
/// send stays pending where the test can see it instead of killing the
/// process.
class sigpipe_watch {
public:
    sigpipe_watch()
    {
        sigemptyset(&sigpipe_only_);
        sigaddset(&sigpipe_only_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &sigpipe_only_, &previous_mask_);
    }
    sigpipe_watch(const sigpipe_watch&) = delete;
    sigpipe_watch& operator=(const sigpipe_watch&) = delete;
    ~sigpipe_watch()
    {
        const timespec no_wait{};
        while (::sigtimedwait(&sigpipe_only_, nullptr, &no_wait) == SIGPIPE) {
        }
        ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
    }

    bool raised() const
    {
        sigset_t pending;
        ::sigpending(&pending);
        return sigismember(&pending, SIGPIPE) == 1;
    }

private:
    sigset_t sigpipe_only_;
    sigset_t previous_mask_;
};

/// Two unconnected sockets, each bound to an abstract name.
struct named_fixture : io_fixture {
    std::string server_name = unique_abstract_name("server");
    std::string client_name = unique_abstract_name("client");
    unixdgram::endpoint server_endpoint = unixdgram::make_endpoint(server_name);
    unixdgram::endpoint client_endpoint = unixdgram::make_endpoint(client_name);
    socket_type server{io};
    socket_type client{io};

    named_fixture()
    {
        server.open();
        server.bind(server_endpoint);
        client.open();
        client.bind(client_endpoint);
    }
};

/// Runs the io_context in a thread of its own for asio::use_future.
class background_io {
public:
    explicit background_io(asio::io_context& io)
        : io_(io), work_(io.get_executor()), runner_([this] { io_.run(); })
    {
    }
    background_io(const background_io&) = delete;
    background_io& operator=(const background_io&) = delete;
    ~background_io()
    {
        work_.reset();
        io_.stop();
        runner_.join();
    }

private:
    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread runner_;
};

template <typename T>
T wait_for_result(std::future<T>& result)
{
    REQUIRE(result.wait_for(safety_timeout) == std::future_status::ready);
    return result.get();
}

} // namespace

// ---------------------------------------------------------------------------
// Construction, adoption, assignment, moves
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture,
                  "a socket constructed from an executor or an io_context is closed and runs there")
{
    socket_type from_executor(io.get_executor());
    socket_type from_context(io);
    CHECK_FALSE(from_executor.is_open());
    CHECK_FALSE(from_context.is_open());
    CHECK(from_executor.get_executor() == asio::any_io_executor(io.get_executor()));
    CHECK(from_context.get_executor() == asio::any_io_executor(io.get_executor()));
}

TEST_CASE_FIXTURE(io_fixture, "a socket constructed from a native descriptor adopts it")
{
    int raw[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, raw) == 0);
    file_descriptor peer(raw[1]);

    std::optional<socket_type> adopted;
    SUBCASE("from an executor")
    {
        adopted.emplace(io.get_executor(), raw[0]);
    }
    SUBCASE("from an io_context")
    {
        adopted.emplace(io, raw[0]);
    }
    REQUIRE(adopted->is_open());
    CHECK(adopted->native_handle() == raw[0]);
    CHECK(adopted->send(asio::buffer(std::string_view("adopted"))) == 7);
    std::array<char, 16> storage{};
    CHECK(::recv(peer.get(), storage.data(), storage.size(), 0) == 7);

    adopted.reset();
    CHECK_FALSE(is_open_fd(raw[0]));
}

TEST_CASE_FIXTURE(
    io_fixture,
    "adopting a descriptor that is not a unix datagram socket fails and leaves it untouched")
{
    temp_dir directory;
    file_descriptor candidate;
    file_descriptor candidate_peer;

    SUBCASE("a pipe")
    {
        pipe_ends pipe = make_pipe();
        candidate = std::move(pipe.read_end);
        candidate_peer = std::move(pipe.write_end);
    }
    SUBCASE("a regular file")
    {
        candidate.reset(
            ::open((directory.path / "regular").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    }
    SUBCASE("a unix stream socket")
    {
        int raw[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw) == 0);
        candidate.reset(raw[0]);
        candidate_peer.reset(raw[1]);
    }
    SUBCASE("a unix seqpacket socket")
    {
        int raw[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, raw) == 0);
        candidate.reset(raw[0]);
        candidate_peer.reset(raw[1]);
    }
    SUBCASE("a UDP socket")
    {
        candidate.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    REQUIRE(candidate);
    const int fd = candidate.get();
    const int status_flags = ::fcntl(fd, F_GETFL);
    const int descriptor_flags = ::fcntl(fd, F_GETFD);

    auto check_untouched = [&] {
        CHECK(is_open_fd(fd));
        CHECK(::fcntl(fd, F_GETFL) == status_flags);
        CHECK(::fcntl(fd, F_GETFD) == descriptor_flags);
    };

    CHECK(thrown_by([&] { socket_type adopted(io.get_executor(), fd); }) ==
          unixdgram::error::not_a_unix_datagram_socket);
    check_untouched();
    CHECK(thrown_by([&] { socket_type adopted(io, fd); }) ==
          unixdgram::error::not_a_unix_datagram_socket);
    check_untouched();

    socket_type target(io);
    CHECK(thrown_by([&] { target.assign(fd); }) == unixdgram::error::not_a_unix_datagram_socket);
    CHECK_FALSE(target.is_open());
    check_untouched();

    std::error_code ec;
    target.assign(fd, ec);
    CHECK(ec == unixdgram::error::not_a_unix_datagram_socket);
    CHECK_FALSE(target.is_open());
    check_untouched();
}

TEST_CASE_FIXTURE(io_fixture, "adopting a closed descriptor number fails with EBADF")
{
    // A socket first, so that the reactor's own descriptors exist before the
    // free number is chosen and cannot take it.
    socket_type target(io);
    int closed_number = open_dev_null().release();
    REQUIRE(::close(closed_number) == 0);

    CHECK(thrown_by([&] { socket_type adopted(io, closed_number); }) == errno_is{EBADF});
    CHECK(thrown_by([&] { socket_type adopted(io.get_executor(), closed_number); }) ==
          errno_is{EBADF});
    CHECK(thrown_by([&] { target.assign(closed_number); }) == errno_is{EBADF});
    std::error_code ec;
    target.assign(closed_number, ec);
    CHECK(ec == errno_is{EBADF});
    CHECK_FALSE(target.is_open());
    CHECK_FALSE(is_open_fd(closed_number));
}

TEST_CASE_FIXTURE(io_fixture, "assign adopts a unix datagram socket")
{
    int raw[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, raw) == 0);
    file_descriptor peer(raw[1]);
    {
        socket_type target(io);
        SUBCASE("throwing form")
        {
            target.assign(raw[0]);
        }
        SUBCASE("error_code form")
        {
            std::error_code ec = std::make_error_code(std::errc::io_error);
            target.assign(raw[0], ec);
            CHECK_FALSE(ec);
        }
        REQUIRE(target.is_open());
        CHECK(target.native_handle() == raw[0]);
        CHECK(target.send(asio::buffer(std::string_view("assigned"))) == 8);
        std::array<char, 16> storage{};
        CHECK(::recv(peer.get(), storage.data(), storage.size(), 0) == 8);
    }
    CHECK_FALSE(is_open_fd(raw[0]));
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "assign on an open socket fails with already_open and leaves the descriptor untouched")
{
    int raw[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, raw) == 0);
    file_descriptor first(raw[0]);
    file_descriptor second(raw[1]);
    const int handle_before = a.native_handle();

    CHECK(thrown_by([&] { a.assign(raw[0]); }) == asio::error::already_open);
    std::error_code ec;
    a.assign(raw[0], ec);
    CHECK(ec == asio::error::already_open);
    CHECK(a.native_handle() == handle_before);
    CHECK(is_open_fd(raw[0]));
}

TEST_CASE_FIXTURE(io_fixture, "connect_pair connects two closed sockets to each other")
{
    socket_type first(io);
    socket_type second(io);
    SUBCASE("throwing form")
    {
        unixdgram::connect_pair(first, second);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        unixdgram::connect_pair(first, second, ec);
        CHECK_FALSE(ec);
    }
    REQUIRE(first.is_open());
    REQUIRE(second.is_open());
    CHECK(is_cloexec(first.native_handle()));
    CHECK(is_cloexec(second.native_handle()));

    std::array<char, 16> storage{};
    CHECK(first.send(asio::buffer(std::string_view("there"))) == 5);
    CHECK(text_of(storage, second.receive(asio::buffer(storage))) == "there");
    CHECK(second.send(asio::buffer(std::string_view("back"))) == 4);
    CHECK(text_of(storage, first.receive(asio::buffer(storage))) == "back");
}

TEST_CASE_FIXTURE(io_fixture, "connect_pair fails when a socket is already open")
{
    socket_type first(io);
    socket_type second(io);
    first.open();
    const int handle_before = first.native_handle();

    std::error_code ec;
    unixdgram::connect_pair(first, second, ec);
    CHECK(ec == asio::error::already_open);
    CHECK_FALSE(second.is_open());
    CHECK(first.native_handle() == handle_before);

    CHECK(thrown_by([&] { unixdgram::connect_pair(second, first); }) == asio::error::already_open);
    CHECK_FALSE(second.is_open());
}

TEST_CASE_FIXTURE(io_fixture, "open creates a close-on-exec AF_UNIX datagram socket")
{
    socket_type opened(io);
    SUBCASE("throwing form")
    {
        opened.open();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        opened.open(ec);
        CHECK_FALSE(ec);
    }
    REQUIRE(opened.is_open());
    const int fd = opened.native_handle();
    CHECK(is_cloexec(fd));
    int domain = 0;
    int type = 0;
    socklen_t length = sizeof(int);
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0);
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0);
    CHECK(domain == AF_UNIX);
    CHECK(type == SOCK_DGRAM);
}

TEST_CASE_FIXTURE(pair_fixture, "opening an open socket fails with already_open")
{
    const int handle_before = a.native_handle();
    CHECK(thrown_by([&] { a.open(); }) == asio::error::already_open);
    std::error_code ec;
    a.open(ec);
    CHECK(ec == asio::error::already_open);
    CHECK(a.native_handle() == handle_before);
}

TEST_CASE_FIXTURE(pair_fixture, "a moved socket keeps its descriptor and leaves the source closed")
{
    const int handle = a.native_handle();
    std::array<char, 16> storage{};

    SUBCASE("move construction")
    {
        socket_type moved(std::move(a));
        CHECK_FALSE(
            a.is_open()); // NOLINT(bugprone-use-after-move): the moved-from state is specified
        REQUIRE(moved.is_open());
        CHECK(moved.native_handle() == handle);
        CHECK(moved.send(asio::buffer(std::string_view("moved"))) == 5);
        CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "moved");
    }
    SUBCASE("move assignment closes the target's socket")
    {
        socket_type target(io);
        target.open();
        const int replaced = target.native_handle();
        target = std::move(a);
        CHECK_FALSE(a.is_open()); // NOLINT(bugprone-use-after-move)
        CHECK(target.native_handle() == handle);
        CHECK_FALSE(is_open_fd(replaced));
        CHECK(target.send(asio::buffer(std::string_view("assigned"))) == 8);
        CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "assigned");
    }
}

TEST_CASE_FIXTURE(io_fixture,
                  "destroying a socket completes its pending operations with operation_aborted")
{
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    completion<std::size_t> receiving;
    completion<unixdgram::receive_result> receiving_fds;
    socket_type peer(io);
    {
        socket_type doomed(io);
        unixdgram::connect_pair(doomed, peer);
        receiving.start(
            [&](auto handler) { doomed.async_receive(asio::buffer(storage), handler); });
        receiving_fds.start([&](auto handler) {
            doomed.async_receive_with_fds(asio::buffer(storage), fds, handler);
        });
    }
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);
    CHECK(receiving_fds.calls == 1);
    CHECK(receiving_fds.ec == asio::error::operation_aborted);
}

// ---------------------------------------------------------------------------
// Addresses: bind, connect, disconnect, endpoints
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture, "bind to a path makes the socket reachable there")
{
    temp_dir directory;
    const std::string path = (directory.path / "bound.sock").string();
    socket_type server(io);
    server.open();

    SUBCASE("throwing form")
    {
        server.bind(unixdgram::make_endpoint(path));
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        server.bind(unixdgram::make_endpoint(path), ec);
        CHECK_FALSE(ec);
    }
    CHECK(server.local_endpoint().path() == path);
    struct stat file_status {};
    REQUIRE(::stat(path.c_str(), &file_status) == 0);
    CHECK(S_ISSOCK(file_status.st_mode));

    socket_type client(io);
    client.open();
    CHECK(client.send_to(asio::buffer(std::string_view("to a path")),
                         unixdgram::make_endpoint(path)) == 9);
    std::array<char, 16> storage{};
    unixdgram::endpoint sender = unixdgram::make_endpoint("not yet set");
    CHECK(text_of(storage, server.receive_from(asio::buffer(storage), sender)) == "to a path");
    CHECK(sender.path().empty());
}

TEST_CASE_FIXTURE(io_fixture, "bind to a path that exists fails with EADDRINUSE")
{
    temp_dir directory;
    const unixdgram::endpoint path =
        unixdgram::make_endpoint((directory.path / "taken.sock").string());
    socket_type first(io);
    socket_type second(io);
    first.open();
    first.bind(path);
    second.open();

    CHECK(thrown_by([&] { second.bind(path); }) == errno_is{EADDRINUSE});
    std::error_code ec;
    second.bind(path, ec);
    CHECK(ec == errno_is{EADDRINUSE});
    CHECK(second.local_endpoint().path().empty());
}

TEST_CASE("make_endpoint takes names that fill all 108 bytes of sun_path and refuses longer ones")
{
    temp_dir directory;
    std::string name;
    SUBCASE("an abstract name: a NUL and 107 bytes")
    {
        name = full_length_abstract_name("make");
    }
    SUBCASE("a path of 108 bytes")
    {
        name = full_length_path(directory.path);
    }
    REQUIRE(name.size() == sun_path_size);
    std::error_code ec;
    const unixdgram::endpoint full = unixdgram::make_endpoint(name, ec);
    CHECK_FALSE(ec);
    CHECK(full.path() == name);
    CHECK(full.size() == sizeof(sockaddr_un));
    CHECK(unixdgram::make_endpoint(name) == full);

    const std::string longer = name + "x";
    CHECK(unixdgram::make_endpoint(longer, ec) == unixdgram::endpoint());
    CHECK(ec == errno_is{ENAMETOOLONG});
    CHECK(thrown_by([&] { unixdgram::make_endpoint(longer); }) == errno_is{ENAMETOOLONG});
}

TEST_CASE(
    "make_endpoint keeps every byte of an abstract name, a trailing NUL included, and refuses "
    "the one name no endpoint holds")
{
    for (std::size_t length = 1; length < sun_path_size; ++length) {
        std::string name(length, '\0');
        for (std::size_t i = 1; i + 1 < length; ++i)
            name[i] = static_cast<char>('a' + i % 26);
        std::error_code ec;
        const unixdgram::endpoint endpoint = unixdgram::make_endpoint(name, ec);
        CHECK_FALSE(ec);
        CHECK(endpoint.path() == name);
        CHECK(endpoint.size() == offsetof(sockaddr_un, sun_path) + length);
    }
    // 108 bytes ending in NUL: Asio's endpoint takes that NUL for a
    // terminator and would name another socket.
    std::string name = full_length_abstract_name("nul");
    name.back() = '\0';
    std::error_code ec;
    CHECK(unixdgram::make_endpoint(name, ec) == unixdgram::endpoint());
    CHECK(ec == errno_is{ENAMETOOLONG});
    // A path ends at its first NUL: 107 bytes and a NUL name the 107-byte path.
    temp_dir directory;
    std::string path = full_length_path(directory.path);
    path.back() = '\0';
    const unixdgram::endpoint shorter = unixdgram::make_endpoint(path, ec);
    CHECK_FALSE(ec);
    CHECK(shorter.path() == path.substr(0, sun_path_size - 1));
}

TEST_CASE_FIXTURE(io_fixture,
                  "every receive form names a peer bound to a 108-byte address exactly, and a "
                  "reply to that name reaches it")
{
    temp_dir directory;
    std::string name;
    SUBCASE("an abstract name: a NUL and 107 bytes")
    {
        name = full_length_abstract_name("peer");
    }
    SUBCASE("a path of 108 bytes")
    {
        name = full_length_path(directory.path);
    }
    const unixdgram::endpoint peer_endpoint = unixdgram::make_endpoint(name);
    const unixdgram::endpoint receiver_endpoint =
        unixdgram::make_endpoint(unique_abstract_name("receiver"));
    socket_type receiver(io);
    receiver.open();
    receiver.bind(receiver_endpoint);
    // The library's peer, bound through make_endpoint; the kernel must see
    // all 108 bytes, no NUL added.
    socket_type peer(io);
    peer.open();
    peer.bind(peer_endpoint);
    {
        sockaddr_un bound{};
        socklen_t length = sizeof(bound);
        REQUIRE(::getsockname(peer.native_handle(), reinterpret_cast<sockaddr*>(&bound), &length) ==
                0);
        // For a path Linux counts the NUL it would add, past the buffer.
        CHECK(length >= sizeof(sockaddr_un));
        CHECK(std::string_view(bound.sun_path, sun_path_size) == name);
    }
    CHECK(peer.local_endpoint() == peer_endpoint);
    CHECK(peer.local_endpoint().size() == sizeof(sockaddr_un));

    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    std::array<file_descriptor, 2> fds_received;
    std::array<char, 32> storage{};
    unixdgram::endpoint sender;
    std::error_code ec;

    auto check_sender_and_reply = [&] {
        CHECK(sender == peer_endpoint);
        CHECK(sender.path() == name);
        CHECK(sender.size() == sizeof(sockaddr_un));
        CHECK(receiver.send_to(asio::buffer(std::string_view("reply")), sender) == 5);
        std::array<char, 16> reply{};
        CHECK(text_of(reply, peer.receive(asio::buffer(reply))) == "reply");
        sender = unixdgram::endpoint();
    };

    peer.send_to(asio::buffer(std::string_view("throwing")), receiver_endpoint);
    CHECK(text_of(storage, receiver.receive_from(asio::buffer(storage), sender)) == "throwing");
    check_sender_and_reply();

    peer.send_to(asio::buffer(std::string_view("ec")), receiver_endpoint);
    CHECK(text_of(storage, receiver.receive_from(asio::buffer(storage), sender, 0, ec)) == "ec");
    CHECK_FALSE(ec);
    check_sender_and_reply();

    peer.send_to_with_fds(asio::buffer(std::string_view("fds")), receiver_endpoint, fds_to_send);
    unixdgram::receive_result result =
        receiver.receive_from_with_fds(asio::buffer(storage), sender, fds_received);
    CHECK(text_of(storage, result.bytes) == "fds");
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(result.fds[0].get(), null_file.get()));
    check_sender_and_reply();

    peer.send_to(asio::buffer(std::string_view("async")), receiver_endpoint);
    completion<std::size_t> received;
    received.start(
        [&](auto handler) { receiver.async_receive_from(asio::buffer(storage), sender, handler); });
    io.restart();
    io.run_for(safety_timeout);
    REQUIRE(received.calls == 1);
    CHECK_FALSE(received.ec);
    CHECK(text_of(storage, received.result) == "async");
    check_sender_and_reply();

    peer.send_to_with_fds(asio::buffer(std::string_view("async fds")), receiver_endpoint,
                          fds_to_send);
    completion<unixdgram::receive_result> received_with_fds;
    received_with_fds.start([&](auto handler) {
        receiver.async_receive_from_with_fds(asio::buffer(storage), sender, fds_received, handler);
    });
    io.restart();
    io.run_for(safety_timeout);
    REQUIRE(received_with_fds.calls == 1);
    CHECK_FALSE(received_with_fds.ec);
    CHECK(text_of(storage, received_with_fds.result.bytes) == "async fds");
    CHECK(received_with_fds.result.fds.size() == 1);
    check_sender_and_reply();

    // connect and remote_endpoint reach and name it too.
    receiver.connect(peer_endpoint);
    CHECK(receiver.remote_endpoint() == peer_endpoint);
    CHECK(receiver.send(asio::buffer(std::string_view("connected"))) == 9);
    CHECK(text_of(storage, peer.receive(asio::buffer(storage))) == "connected");
}

TEST_CASE_FIXTURE(io_fixture,
                  "local_endpoint of an adopted socket bound to a 108-byte address is exact")
{
    temp_dir directory;
    std::string name;
    SUBCASE("an abstract name: a NUL and 107 bytes")
    {
        name = full_length_abstract_name("adopted");
    }
    SUBCASE("a path of 108 bytes")
    {
        name = full_length_path(directory.path);
    }
    file_descriptor bound = raw_socket_bound_to(name);
    socket_type adopted(io, bound.release());
    std::error_code ec;
    const unixdgram::endpoint local = adopted.local_endpoint(ec);
    CHECK_FALSE(ec);
    CHECK(local.path() == name);
    CHECK(local.size() == sizeof(sockaddr_un));
    CHECK(adopted.local_endpoint() == local);
}

TEST_CASE_FIXTURE(io_fixture, "bind to an abstract name keeps the name exactly")
{
    std::string name = unique_abstract_name("abstract");
    SUBCASE("plain name") {}
    SUBCASE("a NUL inside the name")
    {
        name += std::string_view("\0inside", 7);
    }
    SUBCASE("a NUL at the end of the name")
    {
        name += '\0';
    }
    const unixdgram::endpoint endpoint = unixdgram::make_endpoint(name);
    REQUIRE(endpoint.path() == name);

    socket_type server(io);
    socket_type client(io);
    server.open();
    server.bind(endpoint);
    CHECK(server.local_endpoint().path() == name);
    CHECK(server.local_endpoint().path().size() == name.size());

    // The name is the address: a client that sends to it and is bound under
    // it, is seen under it.
    const std::string client_name = name + "-client";
    client.open();
    client.bind(unixdgram::make_endpoint(client_name));
    CHECK(client.send_to(asio::buffer(std::string_view("abstract")), endpoint) == 8);
    std::array<char, 16> storage{};
    unixdgram::endpoint sender;
    CHECK(text_of(storage, server.receive_from(asio::buffer(storage), sender)) == "abstract");
    CHECK(sender.path() == client_name);
}

TEST_CASE_FIXTURE(io_fixture,
                  "binding to an empty endpoint autobinds to a five-hex-digit abstract name")
{
    socket_type server(io);
    server.open();
    SUBCASE("throwing form")
    {
        server.bind(unixdgram::endpoint());
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        server.bind(unixdgram::make_endpoint(""), ec);
        CHECK_FALSE(ec);
    }
    const std::string name = server.local_endpoint().path();
    REQUIRE(name.size() == 6);
    CHECK(name[0] == '\0');
    CHECK(std::all_of(name.begin() + 1, name.end(), [](char digit) {
        return (digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f');
    }));

    socket_type client(io);
    client.open();
    CHECK(client.send_to(asio::buffer(std::string_view("autobound")),
                         unixdgram::make_endpoint(name)) == 9);
    std::array<char, 16> storage{};
    CHECK(text_of(storage, server.receive(asio::buffer(storage))) == "autobound");
}

TEST_CASE_FIXTURE(pair_fixture,
                  "an unbound socket has empty endpoints and a pair's peer is unnamed")
{
    socket_type unbound(io);
    unbound.open();
    CHECK(unbound.local_endpoint().path().empty());
    std::error_code ec = std::make_error_code(std::errc::io_error);
    CHECK(unbound.local_endpoint(ec).path().empty());
    CHECK_FALSE(ec);

    CHECK(a.local_endpoint().path().empty());
    CHECK(a.remote_endpoint().path().empty());
    ec = std::make_error_code(std::errc::io_error);
    CHECK(b.remote_endpoint(ec).path().empty());
    CHECK_FALSE(ec);
}

TEST_CASE_FIXTURE(named_fixture, "connect sets the default destination")
{
    socket_type connected(io);
    connected.open();
    SUBCASE("throwing form")
    {
        connected.connect(server_endpoint);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        connected.connect(server_endpoint, ec);
        CHECK_FALSE(ec);
    }
    CHECK(connected.remote_endpoint().path() == server_name);
    CHECK(connected.send(asio::buffer(std::string_view("default"))) == 7);

    std::array<char, 16> storage{};
    unixdgram::endpoint sender = client_endpoint;
    CHECK(text_of(storage, server.receive_from(asio::buffer(storage), sender)) == "default");
    CHECK(sender.path().empty());
}

TEST_CASE_FIXTURE(named_fixture,
                  "a connected socket accepts datagrams only from its peer until disconnected")
{
    socket_type stranger(io);
    stranger.open();
    client.connect(server_endpoint);

    std::error_code ec;
    stranger.send_to(asio::buffer(std::string_view("let me in")), client_endpoint, 0, ec);
    CHECK(ec == errno_is{EPERM});

    client.disconnect();
    ec = std::make_error_code(std::errc::io_error);
    CHECK(stranger.send_to(asio::buffer(std::string_view("now")), client_endpoint, 0, ec) == 3);
    CHECK_FALSE(ec);
    std::array<char, 16> storage{};
    CHECK(text_of(storage, client.receive(asio::buffer(storage))) == "now");
}

TEST_CASE_FIXTURE(io_fixture, "connect to a path nobody bound fails with ENOENT")
{
    temp_dir directory;
    const unixdgram::endpoint nowhere =
        unixdgram::make_endpoint((directory.path / "nobody").string());
    socket_type client(io);
    client.open();

    CHECK(thrown_by([&] { client.connect(nowhere); }) == errno_is{ENOENT});
    std::error_code ec;
    client.connect(nowhere, ec);
    CHECK(ec == errno_is{ENOENT});
    CHECK(client.remote_endpoint(ec).path().empty());
    CHECK(ec == errno_is{ENOTCONN});
}

TEST_CASE_FIXTURE(io_fixture, "connect to an address whose socket is gone fails with ECONNREFUSED")
{
    temp_dir directory;
    unixdgram::endpoint gone;
    SUBCASE("a path whose socket closed")
    {
        gone = unixdgram::make_endpoint((directory.path / "closed.sock").string());
        socket_type departed(io);
        departed.open();
        departed.bind(gone);
    }
    SUBCASE("an abstract name nobody holds")
    {
        gone = unixdgram::make_endpoint(unique_abstract_name("nobody"));
    }
    socket_type client(io);
    client.open();
    CHECK(thrown_by([&] { client.connect(gone); }) == errno_is{ECONNREFUSED});
    std::error_code ec;
    client.connect(gone, ec);
    CHECK(ec == errno_is{ECONNREFUSED});
}

TEST_CASE_FIXTURE(pair_fixture, "disconnect dissolves the association made by connect")
{
    const std::string b_name = unique_abstract_name("b");
    b.bind(unixdgram::make_endpoint(b_name));

    SUBCASE("throwing form")
    {
        a.disconnect();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        a.disconnect(ec);
        CHECK_FALSE(ec);
    }
    std::error_code ec;
    a.remote_endpoint(ec);
    CHECK(ec == errno_is{ENOTCONN});

    ec.clear();
    a.send(asio::buffer(std::string_view("nowhere")), 0, ec);
    CHECK((ec == errno_is{ENOTCONN} || ec == errno_is{EDESTADDRREQ}));
    CHECK(b.bytes_readable() == 0);

    CHECK(a.send_to(asio::buffer(std::string_view("addressed")),
                    unixdgram::make_endpoint(b_name)) == 9);
    std::array<char, 16> storage{};
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "addressed");
}

TEST_CASE_FIXTURE(io_fixture, "disconnecting an unconnected socket succeeds")
{
    socket_type unconnected(io);
    unconnected.open();
    std::error_code ec = std::make_error_code(std::errc::io_error);
    unconnected.disconnect(ec);
    CHECK_FALSE(ec);
    CHECK(unconnected.is_open());
}

TEST_CASE_FIXTURE(io_fixture, "remote_endpoint of an unconnected socket fails with ENOTCONN")
{
    socket_type unconnected(io);
    unconnected.open();
    CHECK(thrown_by([&] { unconnected.remote_endpoint(); }) == errno_is{ENOTCONN});
    std::error_code ec;
    unconnected.remote_endpoint(ec);
    CHECK(ec == errno_is{ENOTCONN});
}

// ---------------------------------------------------------------------------
// close, shutdown, cancel, release
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "close closes the descriptor")
{
    const int fd = a.native_handle();
    SUBCASE("throwing form")
    {
        a.close();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        a.close(ec);
        CHECK_FALSE(ec);
    }
    CHECK_FALSE(a.is_open());
    CHECK_FALSE(is_open_fd(fd));

    // Closing again is harmless.
    std::error_code ec;
    a.close(ec);
    CHECK_FALSE(a.is_open());
}

TEST_CASE_FIXTURE(pair_fixture, "close completes every pending operation with operation_aborted")
{
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    unixdgram::endpoint sender;
    completion<std::size_t> receiving;
    completion<std::size_t> receiving_from;
    completion<unixdgram::receive_result> receiving_fds;
    completion<nothing> waiting;
    receiving.start([&](auto handler) { a.async_receive(asio::buffer(storage), handler); });
    receiving_from.start(
        [&](auto handler) { a.async_receive_from(asio::buffer(storage), sender, handler); });
    receiving_fds.start(
        [&](auto handler) { a.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    waiting.start([&](auto handler) { a.async_wait(socket_type::wait_type::wait_read, handler); });
    io.poll();
    CHECK(receiving.calls + receiving_from.calls + receiving_fds.calls + waiting.calls == 0);

    a.close();
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);
    CHECK(receiving_from.calls == 1);
    CHECK(receiving_from.ec == asio::error::operation_aborted);
    CHECK(receiving_fds.calls == 1);
    CHECK(receiving_fds.ec == asio::error::operation_aborted);
    CHECK(receiving_fds.result.fds.empty());
    CHECK(waiting.calls == 1);
    CHECK(waiting.ec == asio::error::operation_aborted);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "shutting down the send side makes sends fail with EPIPE and raises no SIGPIPE")
{
    // Linux raises no SIGPIPE for datagram sockets today; MSG_NOSIGNAL makes
    // that a promise, which the watch checks.
    sigpipe_watch sigpipe;
    SUBCASE("throwing form")
    {
        a.shutdown(socket_type::shutdown_type::shutdown_send);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        a.shutdown(socket_type::shutdown_type::shutdown_send, ec);
        CHECK_FALSE(ec);
    }
    const std::string_view message = "after shutdown";
    std::error_code ec;
    a.send(asio::buffer(message), 0, ec);
    CHECK(ec == errno_is{EPIPE});
    CHECK(thrown_by([&] { a.send(asio::buffer(message)); }) == errno_is{EPIPE});

    completion<std::size_t> sending;
    sending.start([&](auto handler) { a.async_send(asio::buffer(message), handler); });
    run();
    CHECK(sending.calls == 1);
    CHECK(sending.ec == errno_is{EPIPE});

    CHECK_FALSE(sigpipe.raised());
    CHECK(b.bytes_readable() == 0);

    // The other direction still works.
    CHECK(b.send(asio::buffer(std::string_view("reverse"))) == 7);
    std::array<char, 16> storage{};
    CHECK(text_of(storage, a.receive(asio::buffer(storage))) == "reverse");
}

TEST_CASE_FIXTURE(pair_fixture,
                  "shutting down the receive side makes the peer's sends fail with EPIPE")
{
    sigpipe_watch sigpipe;
    b.shutdown(socket_type::shutdown_type::shutdown_receive);
    std::error_code ec;
    a.send(asio::buffer(std::string_view("refused")), 0, ec);
    CHECK(ec == errno_is{EPIPE});
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE_FIXTURE(pair_fixture, "shutting down both sides stops sends in both directions")
{
    sigpipe_watch sigpipe;
    a.shutdown(socket_type::shutdown_type::shutdown_both);
    std::error_code ec;
    a.send(asio::buffer(std::string_view("out")), 0, ec);
    CHECK(ec == errno_is{EPIPE});
    ec.clear();
    b.send(asio::buffer(std::string_view("in")), 0, ec);
    CHECK(ec == errno_is{EPIPE});
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "cancel completes pending operations with operation_aborted and leaves the socket usable")
{
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    completion<std::size_t> receiving;
    completion<unixdgram::receive_result> receiving_fds;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    receiving_fds.start(
        [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    io.poll();
    REQUIRE(receiving.calls == 0);

    SUBCASE("throwing form")
    {
        b.cancel();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        b.cancel(ec);
        CHECK_FALSE(ec);
    }
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);
    CHECK(receiving_fds.calls == 1);
    CHECK(receiving_fds.ec == asio::error::operation_aborted);
    CHECK(b.is_open());

    // Nothing was consumed: the next datagram arrives whole.
    CHECK(a.send(asio::buffer(std::string_view("after"))) == 5);
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "after");
}

TEST_CASE_FIXTURE(named_fixture,
                  "cancel aborts an async_send_to waiting for room and leaves no work behind")
{
    socket_type sender(io);
    sender.open();
    fill_queue(sender, server_endpoint);

    completion<std::size_t> sending;
    sending.start([&](auto handler) {
        sender.async_send_to(asio::buffer(std::string_view("waiting")), server_endpoint, handler);
    });
    io.poll();
    REQUIRE(sending.calls == 0);

    sender.cancel();
    io.restart();
    io.run_for(safety_timeout);
    CHECK(sending.calls == 1);
    CHECK(sending.ec == asio::error::operation_aborted);
    CHECK_MESSAGE(io.stopped(), "the cancelled send left work pending in the io_context");
}

TEST_CASE_FIXTURE(pair_fixture, "release gives up the descriptor and aborts pending operations")
{
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { a.async_receive(asio::buffer(storage), handler); });
    io.poll();
    REQUIRE(receiving.calls == 0);

    const int handle = a.native_handle();
    int released = -1;
    SUBCASE("throwing form")
    {
        released = a.release();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        released = a.release(ec);
        CHECK_FALSE(ec);
    }
    file_descriptor owned(released);
    CHECK(released == handle);
    CHECK_FALSE(a.is_open());
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);

    // Still the same open socket, connected to b.
    REQUIRE(is_open_fd(released));
    CHECK(::send(released, "raw", 3, MSG_NOSIGNAL) == 3);
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "raw");
}

// ---------------------------------------------------------------------------
// Moving data, every operation in every form
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "send and receive move one datagram")
{
    const std::string_view message = "one datagram";
    std::array<char, 64> storage{};
    std::size_t sent = 0;
    std::size_t received = 0;

    SUBCASE("throwing form")
    {
        sent = a.send(asio::buffer(message));
        received = b.receive(asio::buffer(storage));
    }
    SUBCASE("error_code form")
    {
        std::error_code send_ec = std::make_error_code(std::errc::io_error);
        std::error_code receive_ec = std::make_error_code(std::errc::io_error);
        sent = a.send(asio::buffer(message), 0, send_ec);
        received = b.receive(asio::buffer(storage), 0, receive_ec);
        CHECK_FALSE(send_ec);
        CHECK_FALSE(receive_ec);
    }
    SUBCASE("callback form")
    {
        completion<std::size_t> sending;
        completion<std::size_t> receiving;
        receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
        sending.start([&](auto handler) { a.async_send(asio::buffer(message), handler); });
        run();
        REQUIRE(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(sending.ec);
        CHECK_FALSE(receiving.ec);
        sent = sending.result;
        received = receiving.result;
    }
    SUBCASE("use_future form")
    {
        background_io runner(io);
        std::future<std::size_t> receiving =
            b.async_receive(asio::buffer(storage), asio::use_future);
        std::future<std::size_t> sending = a.async_send(asio::buffer(message), asio::use_future);
        sent = wait_for_result(sending);
        received = wait_for_result(receiving);
    }
    SUBCASE("use_awaitable form")
    {
        auto exchange = [](socket_type& sender, socket_type& receiver, std::string_view text,
                           asio::mutable_buffer into, std::size_t& sent_bytes,
                           std::size_t& received_bytes) -> asio::awaitable<void> {
            sent_bytes = co_await sender.async_send(asio::buffer(text), asio::use_awaitable);
            received_bytes = co_await receiver.async_receive(into, asio::use_awaitable);
        };
        run_coroutine(io, exchange(a, b, message, asio::buffer(storage), sent, received));
    }
    CHECK(sent == message.size());
    CHECK(text_of(storage, received) == message);
    CHECK(b.bytes_readable() == 0);
}

TEST_CASE_FIXTURE(named_fixture, "send_to and receive_from move one datagram and name the sender")
{
    const std::string_view message = "addressed datagram";
    std::array<char, 64> storage{};
    unixdgram::endpoint sender;
    std::size_t sent = 0;
    std::size_t received = 0;

    SUBCASE("throwing form")
    {
        sent = client.send_to(asio::buffer(message), server_endpoint);
        received = server.receive_from(asio::buffer(storage), sender);
    }
    SUBCASE("error_code form")
    {
        std::error_code send_ec = std::make_error_code(std::errc::io_error);
        std::error_code receive_ec = std::make_error_code(std::errc::io_error);
        sent = client.send_to(asio::buffer(message), server_endpoint, 0, send_ec);
        received = server.receive_from(asio::buffer(storage), sender, 0, receive_ec);
        CHECK_FALSE(send_ec);
        CHECK_FALSE(receive_ec);
    }
    SUBCASE("callback form")
    {
        completion<std::size_t> sending;
        completion<std::size_t> receiving;
        receiving.start([&](auto handler) {
            server.async_receive_from(asio::buffer(storage), sender, handler);
        });
        sending.start([&](auto handler) {
            client.async_send_to(asio::buffer(message), server_endpoint, handler);
        });
        run();
        REQUIRE(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(sending.ec);
        CHECK_FALSE(receiving.ec);
        sent = sending.result;
        received = receiving.result;
    }
    SUBCASE("use_future form")
    {
        background_io runner(io);
        std::future<std::size_t> receiving =
            server.async_receive_from(asio::buffer(storage), sender, asio::use_future);
        std::future<std::size_t> sending =
            client.async_send_to(asio::buffer(message), server_endpoint, asio::use_future);
        sent = wait_for_result(sending);
        received = wait_for_result(receiving);
    }
    SUBCASE("use_awaitable form")
    {
        auto exchange = [](socket_type& from, socket_type& to, unixdgram::endpoint destination,
                           std::string_view text, asio::mutable_buffer into,
                           unixdgram::endpoint& source, std::size_t& sent_bytes,
                           std::size_t& received_bytes) -> asio::awaitable<void> {
            sent_bytes =
                co_await from.async_send_to(asio::buffer(text), destination, asio::use_awaitable);
            received_bytes = co_await to.async_receive_from(into, source, asio::use_awaitable);
        };
        run_coroutine(io, exchange(client, server, server_endpoint, message, asio::buffer(storage),
                                   sender, sent, received));
    }
    CHECK(sent == message.size());
    CHECK(text_of(storage, received) == message);
    CHECK(sender.path() == client_name);
}

TEST_CASE_FIXTURE(pair_fixture, "send_with_fds and receive_with_fds pass a descriptor")
{
    const std::string_view message = "with fd";
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.read_end.get()};
    std::array<char, 64> storage{};
    std::array<file_descriptor, 2> fds;
    std::size_t sent = 0;
    unixdgram::receive_result result;

    SUBCASE("throwing form")
    {
        sent = a.send_with_fds(asio::buffer(message), fds_to_send);
        result = b.receive_with_fds(asio::buffer(storage), fds);
    }
    SUBCASE("error_code form")
    {
        std::error_code send_ec = std::make_error_code(std::errc::io_error);
        std::error_code receive_ec = std::make_error_code(std::errc::io_error);
        sent = a.send_with_fds(asio::buffer(message), fds_to_send, 0, send_ec);
        result = b.receive_with_fds(asio::buffer(storage), fds, 0, receive_ec);
        CHECK_FALSE(send_ec);
        CHECK_FALSE(receive_ec);
    }
    SUBCASE("callback form")
    {
        completion<std::size_t> sending;
        completion<unixdgram::receive_result> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
        sending.start([&](auto handler) {
            a.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
        });
        run();
        REQUIRE(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(sending.ec);
        CHECK_FALSE(receiving.ec);
        sent = sending.result;
        result = std::move(receiving.result);
    }
    SUBCASE("use_future form")
    {
        background_io runner(io);
        std::future<unixdgram::receive_result> receiving =
            b.async_receive_with_fds(asio::buffer(storage), fds, asio::use_future);
        std::future<std::size_t> sending =
            a.async_send_with_fds(asio::buffer(message), fds_to_send, asio::use_future);
        sent = wait_for_result(sending);
        result = wait_for_result(receiving);
    }
    SUBCASE("use_awaitable form")
    {
        auto exchange = [](socket_type& sender, socket_type& receiver, std::string_view text,
                           std::span<const int> descriptors, asio::mutable_buffer into,
                           std::span<file_descriptor> room, std::size_t& sent_bytes,
                           unixdgram::receive_result& received) -> asio::awaitable<void> {
            sent_bytes = co_await sender.async_send_with_fds(asio::buffer(text), descriptors,
                                                             asio::use_awaitable);
            received = co_await receiver.async_receive_with_fds(into, room, asio::use_awaitable);
        };
        run_coroutine(
            io, exchange(a, b, message, fds_to_send, asio::buffer(storage), fds, sent, result));
    }
    CHECK(sent == message.size());
    CHECK(text_of(storage, result.bytes) == message);
    REQUIRE(result.fds.size() == 1);
    CHECK(result.fds.data() == fds.data());
    CHECK_FALSE(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK_FALSE(result.sender_credentials.has_value());
    CHECK_FALSE(fds[1]);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(same_file(fds[0].get(), pipe.read_end.get()));

    write_all(pipe.write_end.get(), "through the pipe");
    CHECK(read_some(fds[0].get()) == "through the pipe");
}

TEST_CASE_FIXTURE(
    named_fixture,
    "send_to_with_fds and receive_from_with_fds pass a descriptor and name the sender")
{
    const std::string_view message = "addressed with fd";
    file_descriptor file = file_with_content("file content");
    const std::array<int, 1> fds_to_send{file.get()};
    std::array<char, 64> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::endpoint sender;
    std::size_t sent = 0;
    unixdgram::receive_result result;

    SUBCASE("throwing form")
    {
        sent = client.send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send);
        result = server.receive_from_with_fds(asio::buffer(storage), sender, fds);
    }
    SUBCASE("error_code form")
    {
        std::error_code send_ec = std::make_error_code(std::errc::io_error);
        std::error_code receive_ec = std::make_error_code(std::errc::io_error);
        sent = client.send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send, 0,
                                       send_ec);
        result = server.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, receive_ec);
        CHECK_FALSE(send_ec);
        CHECK_FALSE(receive_ec);
    }
    SUBCASE("callback form")
    {
        completion<std::size_t> sending;
        completion<unixdgram::receive_result> receiving;
        receiving.start([&](auto handler) {
            server.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
        });
        sending.start([&](auto handler) {
            client.async_send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send,
                                          handler);
        });
        run();
        REQUIRE(sending.calls == 1);
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(sending.ec);
        CHECK_FALSE(receiving.ec);
        sent = sending.result;
        result = std::move(receiving.result);
    }
    SUBCASE("use_future form")
    {
        background_io runner(io);
        std::future<unixdgram::receive_result> receiving = server.async_receive_from_with_fds(
            asio::buffer(storage), sender, fds, asio::use_future);
        std::future<std::size_t> sending = client.async_send_to_with_fds(
            asio::buffer(message), server_endpoint, fds_to_send, asio::use_future);
        sent = wait_for_result(sending);
        result = wait_for_result(receiving);
    }
    SUBCASE("use_awaitable form")
    {
        auto exchange = [](socket_type& from, socket_type& to, unixdgram::endpoint destination,
                           std::string_view text, std::span<const int> descriptors,
                           asio::mutable_buffer into, std::span<file_descriptor> room,
                           unixdgram::endpoint& source, std::size_t& sent_bytes,
                           unixdgram::receive_result& received) -> asio::awaitable<void> {
            sent_bytes = co_await from.async_send_to_with_fds(asio::buffer(text), destination,
                                                              descriptors, asio::use_awaitable);
            received =
                co_await to.async_receive_from_with_fds(into, source, room, asio::use_awaitable);
        };
        run_coroutine(io, exchange(client, server, server_endpoint, message, fds_to_send,
                                   asio::buffer(storage), fds, sender, sent, result));
    }
    CHECK(sent == message.size());
    CHECK(text_of(storage, result.bytes) == message);
    CHECK(sender.path() == client_name);
    REQUIRE(result.fds.size() == 1);
    CHECK_FALSE(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(read_some(fds[0].get()) == "file content");
}

TEST_CASE_FIXTURE(pair_fixture,
                  "async_wait reports writability at once and readability when a datagram arrives")
{
    completion<nothing> writable;
    completion<nothing> readable;
    writable.start(
        [&](auto handler) { b.async_wait(socket_type::wait_type::wait_write, handler); });
    readable.start([&](auto handler) { b.async_wait(socket_type::wait_type::wait_read, handler); });
    io.restart();
    io.run_one_for(safety_timeout);
    io.poll();
    CHECK(writable.calls == 1);
    CHECK_FALSE(writable.ec);
    CHECK(readable.calls == 0);

    a.send(asio::buffer(std::string_view("wake")));
    run();
    CHECK(readable.calls == 1);
    CHECK_FALSE(readable.ec);
    CHECK(b.bytes_readable() == 4);
}

TEST_CASE_FIXTURE(pair_fixture, "message_peek leaves the datagram queued")
{
    const std::string_view message = "peek at me";
    a.send(asio::buffer(message));
    std::array<char, 64> storage{};
    std::size_t peeked = 0;

    SUBCASE("receive")
    {
        peeked = b.receive(asio::buffer(storage), socket_type::message_peek);
    }
    SUBCASE("receive_from")
    {
        unixdgram::endpoint sender;
        std::error_code ec;
        peeked = b.receive_from(asio::buffer(storage), sender, socket_type::message_peek, ec);
        CHECK_FALSE(ec);
    }
    SUBCASE("async_receive")
    {
        completion<std::size_t> receiving;
        receiving.start([&](auto handler) {
            b.async_receive(asio::buffer(storage), socket_type::message_peek, handler);
        });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        peeked = receiving.result;
    }
    SUBCASE("receive_with_fds")
    {
        std::array<file_descriptor, 1> fds;
        peeked = b.receive_with_fds(asio::buffer(storage), fds, socket_type::message_peek).bytes;
    }
    CHECK(text_of(storage, peeked) == message);
    CHECK(b.bytes_readable() == message.size());

    storage.fill('\0');
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == message);
    CHECK(b.bytes_readable() == 0);
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "a datagram gathered from several buffers arrives as one and scatters into several")
{
    const std::array<asio::const_buffer, 3> pieces{
        asio::buffer(std::string_view("abc")),
        asio::buffer(std::string_view("defg")),
        asio::buffer(std::string_view("hi")),
    };
    CHECK(a.send(pieces) == 9);
    CHECK(b.bytes_readable() == 9);

    std::array<char, 4> head{};
    std::array<char, 8> tail{};
    const std::array<asio::mutable_buffer, 2> into{asio::buffer(head), asio::buffer(tail)};
    CHECK(b.receive(into) == 9);
    CHECK(std::string_view(head.data(), head.size()) == "abcd");
    CHECK(std::string_view(tail.data(), 5) == "efghi");
}

TEST_CASE_FIXTURE(pair_fixture, "a large datagram arrives whole")
{
    std::vector<char> message(60000);
    for (std::size_t index = 0; index < message.size(); ++index)
        message[index] = static_cast<char>('a' + index % 26);
    std::vector<char> storage(message.size() + 1);

    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    CHECK(a.send(asio::buffer(message)) == message.size());
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    REQUIRE(receiving.result == message.size());
    CHECK(std::equal(message.begin(), message.end(), storage.begin()));
}

TEST_CASE_FIXTURE(io_fixture, "a socket on a concrete io_context executor type works")
{
    using concrete_socket = unixdgram::datagram_socket<asio::io_context::executor_type>;
    concrete_socket first(io.get_executor());
    concrete_socket second(io);
    unixdgram::connect_pair(first, second);

    std::array<char, 16> storage{};
    int calls = 0;
    std::size_t received = 0;
    second.async_receive(asio::buffer(storage), [&](std::error_code ec, std::size_t bytes) {
        ++calls;
        CHECK_FALSE(ec);
        received = bytes;
    });
    first.send(asio::buffer(std::string_view("concrete")));
    run();
    CHECK(calls == 1);
    CHECK(text_of(storage, received) == "concrete");
}

// ---------------------------------------------------------------------------
// Options and controls
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "the debug option can be set and read back")
{
    a.set_option(socket_type::debug(false));
    socket_type::debug option(true);
    a.get_option(option);
    CHECK_FALSE(option.value());

    // Turning SO_DEBUG on needs CAP_NET_ADMIN.
    std::error_code ec;
    a.set_option(socket_type::debug(true), ec);
    if (ec == errno_is{EACCES} || ec == errno_is{EPERM}) {
        MESSAGE("SO_DEBUG cannot be turned on without CAP_NET_ADMIN: " << ec.message());
        return;
    }
    REQUIRE_FALSE(ec);
    a.get_option(option, ec);
    CHECK_FALSE(ec);
    CHECK(option.value());
}

TEST_CASE_FIXTURE(pair_fixture, "buffer size options can be set and read back")
{
    // Linux doubles what it is given to make room for its bookkeeping.
    SUBCASE("throwing form")
    {
        a.set_option(socket_type::send_buffer_size(65536));
        a.set_option(socket_type::receive_buffer_size(32768));
        socket_type::send_buffer_size send_size;
        socket_type::receive_buffer_size receive_size;
        a.get_option(send_size);
        a.get_option(receive_size);
        CHECK(send_size.value() >= 65536);
        CHECK(receive_size.value() >= 32768);
        CHECK(send_size.value() != receive_size.value());
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        a.set_option(socket_type::send_buffer_size(40000), ec);
        CHECK_FALSE(ec);
        ec = std::make_error_code(std::errc::io_error);
        socket_type::send_buffer_size send_size;
        a.get_option(send_size, ec);
        CHECK_FALSE(ec);
        CHECK(send_size.value() >= 40000);
        CHECK(send_size.value() <= 80000);
    }
}

TEST_CASE_FIXTURE(pair_fixture, "bytes_readable is the size of the next datagram")
{
    CHECK(b.bytes_readable() == 0);
    a.send(asio::buffer(std::string_view("five!")));
    a.send(asio::buffer(std::string_view("seven!!")));
    CHECK(b.bytes_readable() == 5);
    std::error_code ec = std::make_error_code(std::errc::io_error);
    CHECK(b.bytes_readable(ec) == 5);
    CHECK_FALSE(ec);

    std::array<char, 16> storage{};
    b.receive(asio::buffer(storage));
    CHECK(b.bytes_readable() == 7);
    b.receive(asio::buffer(storage));
    CHECK(b.bytes_readable() == 0);
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "non_blocking makes synchronous receives on an empty socket fail with would_block")
{
    CHECK_FALSE(b.non_blocking());
    SUBCASE("throwing form")
    {
        b.non_blocking(true);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        b.non_blocking(true, ec);
        CHECK_FALSE(ec);
    }
    CHECK(b.non_blocking());

    // Should a receive block after all, this datagram ends the wait after the
    // safety net's time, so the test fails instead of hanging.
    std::promise<void> finished;
    std::thread safety_net([&a = a, finished = finished.get_future()] {
        if (finished.wait_for(safety_timeout) == std::future_status::timeout)
            ::send(a.native_handle(), "unblock", 7, MSG_NOSIGNAL);
    });

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::endpoint sender;
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_from(asio::buffer(storage), sender, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    CHECK(thrown_by([&] { b.receive(asio::buffer(storage)); }) == errno_is{EAGAIN});
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    finished.set_value();
    safety_net.join();

    b.non_blocking(false);
    CHECK_FALSE(b.non_blocking());
}

TEST_CASE_FIXTURE(pair_fixture, "asynchronous operations wait even when non_blocking is set")
{
    b.non_blocking(true);
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    io.poll();
    CHECK(receiving.calls == 0);

    a.send(asio::buffer(std::string_view("later")));
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result) == "later");
}

// ---------------------------------------------------------------------------
// make_endpoint and long paths
// ---------------------------------------------------------------------------

TEST_CASE("make_endpoint takes 108 bytes and refuses 109 with ENAMETOOLONG")
{
    const std::string longest(108, 'p');
    const std::string too_long(109, 'p');
    std::string longest_abstract(108, 'q');
    longest_abstract[0] = '\0';

    CHECK(unixdgram::make_endpoint(longest).path() == longest);
    CHECK(unixdgram::make_endpoint(longest_abstract).path() == longest_abstract);
    std::error_code ec = std::make_error_code(std::errc::io_error);
    CHECK(unixdgram::make_endpoint(longest, ec).path() == longest);
    CHECK_FALSE(ec);

    CHECK(thrown_by([&] { unixdgram::make_endpoint(too_long); }) == errno_is{ENAMETOOLONG});
    unixdgram::make_endpoint(too_long, ec);
    CHECK(ec == errno_is{ENAMETOOLONG});
    ec.clear();
    std::string too_long_abstract = too_long;
    too_long_abstract[0] = '\0';
    unixdgram::make_endpoint(too_long_abstract, ec);
    CHECK(ec == errno_is{ENAMETOOLONG});
}

TEST_CASE_FIXTURE(io_fixture, "bind accepts a path of exactly 107 bytes")
{
    temp_dir directory;
    std::string path = (directory.path / "").string();
    REQUIRE(path.size() < 100);
    path.append(107 - path.size(), 's');
    REQUIRE(path.size() == 107);

    socket_type server(io);
    server.open();
    server.bind(unixdgram::make_endpoint(path));
    CHECK(server.local_endpoint().path() == path);

    socket_type client(io);
    client.open();
    CHECK(client.send_to(asio::buffer(std::string_view("long")), unixdgram::make_endpoint(path)) ==
          4);
    CHECK(server.bytes_readable() == 4);
}

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture, "every operation on a closed socket fails with bad_descriptor")
{
    socket_type closed(io);
    const unixdgram::endpoint somewhere = unixdgram::make_endpoint(unique_abstract_name("closed"));
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    std::array<file_descriptor, 1> fds;
    std::array<char, 16> storage{};
    const std::string_view message = "closed";
    unixdgram::endpoint sender;
    const errno_is bad_descriptor{EBADF};

    SUBCASE("error_code forms")
    {
        std::error_code ec;
        auto check_fails = [&](const char* operation) {
            CAPTURE(operation);
            CHECK(ec == bad_descriptor);
            ec.clear();
        };
        closed.bind(somewhere, ec);
        check_fails("bind");
        closed.connect(somewhere, ec);
        check_fails("connect");
        closed.disconnect(ec);
        check_fails("disconnect");
        closed.shutdown(socket_type::shutdown_type::shutdown_both, ec);
        check_fails("shutdown");
        closed.local_endpoint(ec);
        check_fails("local_endpoint");
        closed.remote_endpoint(ec);
        check_fails("remote_endpoint");
        closed.set_option(socket_type::receive_buffer_size(4096), ec);
        check_fails("set_option");
        socket_type::receive_buffer_size receive_size;
        closed.get_option(receive_size, ec);
        check_fails("get_option");
        closed.bytes_readable(ec);
        check_fails("bytes_readable");
        closed.peer_credentials(ec);
        check_fails("peer_credentials");
        closed.non_blocking(true, ec);
        check_fails("non_blocking");
        closed.cancel(ec);
        check_fails("cancel");
        closed.release(ec);
        check_fails("release");
        closed.send(asio::buffer(message), 0, ec);
        check_fails("send");
        closed.send_to(asio::buffer(message), somewhere, 0, ec);
        check_fails("send_to");
        closed.send_with_fds(asio::buffer(message), fds_to_send, 0, ec);
        check_fails("send_with_fds");
        closed.send_to_with_fds(asio::buffer(message), somewhere, fds_to_send, 0, ec);
        check_fails("send_to_with_fds");
        closed.receive(asio::buffer(storage), 0, ec);
        check_fails("receive");
        closed.receive_from(asio::buffer(storage), sender, 0, ec);
        check_fails("receive_from");
        closed.receive_with_fds(asio::buffer(storage), fds, 0, ec);
        check_fails("receive_with_fds");
        closed.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
        check_fails("receive_from_with_fds");
    }
    SUBCASE("throwing forms")
    {
        CHECK(thrown_by([&] { closed.bind(somewhere); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.connect(somewhere); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.disconnect(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.shutdown(socket_type::shutdown_type::shutdown_send); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.local_endpoint(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.remote_endpoint(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.set_option(socket_type::debug(false)); }) == bad_descriptor);
        CHECK(thrown_by([&] {
                  socket_type::debug option;
                  closed.get_option(option);
              }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.bytes_readable(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.peer_credentials(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.non_blocking(true); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.cancel(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.release(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.send(asio::buffer(message)); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.send_to(asio::buffer(message), somewhere); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.send_with_fds(asio::buffer(message), fds_to_send); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] {
                  closed.send_to_with_fds(asio::buffer(message), somewhere, fds_to_send);
              }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.receive(asio::buffer(storage)); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.receive_from(asio::buffer(storage), sender); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.receive_with_fds(asio::buffer(storage), fds); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] {
                  closed.receive_from_with_fds(asio::buffer(storage), sender, fds);
              }) == bad_descriptor);
    }
    SUBCASE("asynchronous forms")
    {
        completion<std::size_t> sending;
        completion<std::size_t> sending_to;
        completion<std::size_t> sending_fds;
        completion<std::size_t> sending_fds_to;
        completion<std::size_t> receiving;
        completion<std::size_t> receiving_from;
        completion<unixdgram::receive_result> receiving_fds;
        completion<unixdgram::receive_result> receiving_fds_from;
        completion<nothing> waiting;
        sending.start([&](auto handler) { closed.async_send(asio::buffer(message), handler); });
        sending_to.start(
            [&](auto handler) { closed.async_send_to(asio::buffer(message), somewhere, handler); });
        sending_fds.start([&](auto handler) {
            closed.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
        });
        sending_fds_to.start([&](auto handler) {
            closed.async_send_to_with_fds(asio::buffer(message), somewhere, fds_to_send, handler);
        });
        receiving.start(
            [&](auto handler) { closed.async_receive(asio::buffer(storage), handler); });
        receiving_from.start([&](auto handler) {
            closed.async_receive_from(asio::buffer(storage), sender, handler);
        });
        receiving_fds.start([&](auto handler) {
            closed.async_receive_with_fds(asio::buffer(storage), fds, handler);
        });
        receiving_fds_from.start([&](auto handler) {
            closed.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
        });
        waiting.start(
            [&](auto handler) { closed.async_wait(socket_type::wait_type::wait_read, handler); });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == bad_descriptor);
        CHECK(sending_to.calls == 1);
        CHECK(sending_to.ec == bad_descriptor);
        CHECK(sending_fds.calls == 1);
        CHECK(sending_fds.ec == bad_descriptor);
        CHECK(sending_fds_to.calls == 1);
        CHECK(sending_fds_to.ec == bad_descriptor);
        CHECK(receiving.calls == 1);
        CHECK(receiving.ec == bad_descriptor);
        CHECK(receiving_from.calls == 1);
        CHECK(receiving_from.ec == bad_descriptor);
        CHECK(receiving_fds.calls == 1);
        CHECK(receiving_fds.ec == bad_descriptor);
        CHECK(receiving_fds_from.calls == 1);
        CHECK(receiving_fds_from.ec == bad_descriptor);
        CHECK(waiting.calls == 1);
        CHECK(waiting.ec == bad_descriptor);
    }
    CHECK_FALSE(closed.is_open());
}

TEST_CASE_FIXTURE(io_fixture, "send_to a path nobody bound fails with ENOENT")
{
    temp_dir directory;
    const unixdgram::endpoint nowhere =
        unixdgram::make_endpoint((directory.path / "nobody").string());
    socket_type client(io);
    client.open();
    const std::string_view message = "lost";
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};

    std::error_code ec;
    client.send_to(asio::buffer(message), nowhere, 0, ec);
    CHECK(ec == errno_is{ENOENT});
    ec.clear();
    client.send_to_with_fds(asio::buffer(message), nowhere, fds_to_send, 0, ec);
    CHECK(ec == errno_is{ENOENT});
    CHECK(thrown_by([&] { client.send_to(asio::buffer(message), nowhere); }) == errno_is{ENOENT});

    completion<std::size_t> sending;
    completion<std::size_t> sending_fds;
    sending.start(
        [&](auto handler) { client.async_send_to(asio::buffer(message), nowhere, handler); });
    sending_fds.start([&](auto handler) {
        client.async_send_to_with_fds(asio::buffer(message), nowhere, fds_to_send, handler);
    });
    run();
    CHECK(sending.calls == 1);
    CHECK(sending.ec == errno_is{ENOENT});
    CHECK(sending_fds.calls == 1);
    CHECK(sending_fds.ec == errno_is{ENOENT});
}

TEST_CASE_FIXTURE(io_fixture, "send_to an address whose socket is gone fails with ECONNREFUSED")
{
    temp_dir directory;
    unixdgram::endpoint gone;
    SUBCASE("a path whose socket closed")
    {
        gone = unixdgram::make_endpoint((directory.path / "closed.sock").string());
        socket_type departed(io);
        departed.open();
        departed.bind(gone);
    }
    SUBCASE("an abstract name nobody holds")
    {
        gone = unixdgram::make_endpoint(unique_abstract_name("nobody"));
    }
    socket_type client(io);
    client.open();
    std::error_code ec;
    client.send_to(asio::buffer(std::string_view("refused")), gone, 0, ec);
    CHECK(ec == errno_is{ECONNREFUSED});

    completion<std::size_t> sending;
    sending.start([&](auto handler) {
        client.async_send_to(asio::buffer(std::string_view("refused")), gone, handler);
    });
    run();
    CHECK(sending.calls == 1);
    CHECK(sending.ec == errno_is{ECONNREFUSED});
}

TEST_CASE_FIXTURE(pair_fixture,
                  "send on a connected socket whose peer closed fails with ECONNREFUSED")
{
    b.close();
    SUBCASE("error_code form")
    {
        std::error_code ec;
        a.send(asio::buffer(std::string_view("anyone?")), 0, ec);
        CHECK(ec == errno_is{ECONNREFUSED});
    }
    SUBCASE("callback form")
    {
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send(asio::buffer(std::string_view("anyone?")), handler);
        });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == errno_is{ECONNREFUSED});
    }
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a send with more than 253 descriptors fails with too_many_fds and sends nothing")
{
    const std::string b_name = unique_abstract_name("b");
    b.bind(unixdgram::make_endpoint(b_name));
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram + 1, null_file.get());
    const std::string_view message = "too many";

    SUBCASE("send_with_fds, error_code form")
    {
        std::error_code ec;
        CHECK(a.send_with_fds(asio::buffer(message), fds_to_send, 0, ec) == 0);
        CHECK(ec == unixdgram::error::too_many_fds);
    }
    SUBCASE("send_with_fds, throwing form")
    {
        CHECK(thrown_by([&] { a.send_with_fds(asio::buffer(message), fds_to_send); }) ==
              unixdgram::error::too_many_fds);
    }
    SUBCASE("send_to_with_fds, error_code form")
    {
        std::error_code ec;
        a.send_to_with_fds(asio::buffer(message), unixdgram::make_endpoint(b_name), fds_to_send, 0,
                           ec);
        CHECK(ec == unixdgram::error::too_many_fds);
    }
    SUBCASE("async_send_with_fds")
    {
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
        });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == unixdgram::error::too_many_fds);
        CHECK(sending.result == 0);
    }
    SUBCASE("async_send_to_with_fds")
    {
        const unixdgram::endpoint destination = unixdgram::make_endpoint(b_name);
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send_to_with_fds(asio::buffer(message), destination, fds_to_send, handler);
        });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == unixdgram::error::too_many_fds);
    }
    CHECK(b.bytes_readable() == 0);
    b.non_blocking(true);
    std::array<char, 16> storage{};
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == errno_is{EAGAIN});
}

TEST_CASE_FIXTURE(pair_fixture, "a datagram may carry 253 descriptors")
{
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram, null_file.get());
    CHECK(a.send_with_fds(asio::buffer(std::string_view("many")), fds_to_send) == 4);

    std::array<char, 16> storage{};
    std::vector<file_descriptor> fds(unixdgram::max_fds_per_datagram);
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 4);
    REQUIRE(result.fds.size() == unixdgram::max_fds_per_datagram);
    CHECK_FALSE(result.control_truncated);
    CHECK(count_open_fds() == fds_before + unixdgram::max_fds_per_datagram);
    CHECK(std::all_of(fds.begin(), fds.end(), [&](const file_descriptor& fd) {
        return fd && same_file(fd.get(), null_file.get()) && is_cloexec(fd.get());
    }));
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a datagram longer than the buffer is reported as message_truncated")
{
    a.send(asio::buffer(std::string_view("0123456789")));
    a.send(asio::buffer(std::string_view("next")));
    std::array<char, 4> storage{};
    std::size_t received = 0;

    SUBCASE("receive, error_code form")
    {
        std::error_code ec;
        received = b.receive(asio::buffer(storage), 0, ec);
        CHECK(ec == unixdgram::error::message_truncated);
    }
    SUBCASE("receive, throwing form")
    {
        CHECK(thrown_by([&] { b.receive(asio::buffer(storage)); }) ==
              unixdgram::error::message_truncated);
        received = storage.size();
    }
    SUBCASE("receive_from, error_code form")
    {
        unixdgram::endpoint sender;
        std::error_code ec;
        received = b.receive_from(asio::buffer(storage), sender, 0, ec);
        CHECK(ec == unixdgram::error::message_truncated);
    }
    SUBCASE("async_receive")
    {
        completion<std::size_t> receiving;
        receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK(receiving.ec == unixdgram::error::message_truncated);
        received = receiving.result;
    }
    SUBCASE("async_receive_from")
    {
        unixdgram::endpoint sender;
        completion<std::size_t> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_from(asio::buffer(storage), sender, handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK(receiving.ec == unixdgram::error::message_truncated);
        received = receiving.result;
    }
    CHECK(received == storage.size());
    CHECK(std::string_view(storage.data(), storage.size()) == "0123");

    // The rest of the datagram is gone; the next one is whole.
    CHECK(b.bytes_readable() == 4);
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "next");
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds reports truncation in its result")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.read_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("0123456789")), fds_to_send);
    std::array<char, 4> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result;

    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        result = b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
        CHECK_FALSE(ec);
    }
    SUBCASE("async form")
    {
        completion<unixdgram::receive_result> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        result = std::move(receiving.result);
    }
    SUBCASE("receive_from_with_fds")
    {
        unixdgram::endpoint sender;
        result = b.receive_from_with_fds(asio::buffer(storage), sender, fds);
    }
    CHECK(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK(result.bytes == storage.size());
    CHECK(std::string_view(storage.data(), storage.size()) == "0123");
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), pipe.read_end.get()));
    CHECK(b.bytes_readable() == 0);
}

// Standalone Asio 1.22 cannot make this hold: its "asio.system" category maps
// no value to std::errc, and ASIO_HAS_STD_ERROR_CODE, which would turn the
// mapping on, does not compile (chriskohlhoff/asio#143). Should Asio be fixed,
// this case reports an unexpected pass; drop the decorator then.
TEST_CASE_FIXTURE(pair_fixture,
                  "asio::error::operation_aborted compares equal to std::errc::operation_canceled" *
                      doctest::should_fail())
{
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    b.cancel();
    run();
    REQUIRE(receiving.calls == 1);
    REQUIRE(receiving.ec == asio::error::operation_aborted);
    CHECK(receiving.ec == std::errc::operation_canceled);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "errors from socket operations compare equal to Asio's error constants")
{
    // The Asio idiom, ec == asio::error::would_block, holds only for codes in
    // Asio's own "asio.system" category, so every errno value must come in
    // that category, whichever layer (Asio or the library) found it.
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    b.cancel();
    run();
    REQUIRE(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);

    b.non_blocking(true);
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::would_block);
    std::array<file_descriptor, 1> fds;
    b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
    CHECK(ec == asio::error::would_block);

    socket_type closed(io);
    closed.local_endpoint(ec);
    CHECK(ec == asio::error::bad_descriptor);
    closed.send(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::bad_descriptor);

    a.shutdown(socket_type::shutdown_type::shutdown_send);
    a.send(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::broken_pipe);

    CHECK(thrown_by([] { unixdgram::make_endpoint(std::string(200, 'x')); }) ==
          asio::error::name_too_long);
}

// ---------------------------------------------------------------------------
// Passing descriptors
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "a datagram of zero bytes can carry descriptors")
{
    file_descriptor file = file_with_content("zero-byte carrier");
    const std::array<int, 1> fds_to_send{file.get()};
    CHECK(a.send_with_fds(asio::const_buffer(), fds_to_send) == 0);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 0);
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(read_some(fds[0].get()) == "zero-byte carrier");
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "several descriptors arrive in order, refer to the same files and are close-on-exec")
{
    pipe_ends pipe = make_pipe();
    file_descriptor file = file_with_content("third");
    file_descriptor null_file = open_dev_null();
    const std::array<int, 4> fds_to_send{pipe.read_end.get(), pipe.write_end.get(), file.get(),
                                         null_file.get()};
    CHECK(a.send_with_fds(asio::buffer(std::string_view("four")), fds_to_send) == 4);
    // The sender keeps its descriptors.
    for (int fd : fds_to_send)
        CHECK(is_open_fd(fd));

    std::array<char, 16> storage{};
    std::array<file_descriptor, 6> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.fds.size() == fds_to_send.size());
    CHECK_FALSE(result.control_truncated);
    for (std::size_t index = 0; index < fds_to_send.size(); ++index) {
        CAPTURE(index);
        CHECK(same_file(result.fds[index].get(), fds_to_send[index]));
        CHECK(is_cloexec(result.fds[index].get()));
        CHECK(result.fds[index].get() != fds_to_send[index]);
    }
    CHECK_FALSE(fds[4]);
    CHECK_FALSE(fds[5]);
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds closes the descriptors beyond the room given")
{
    // The surplus descriptor is a pipe's write end: once every copy of it is
    // closed, the read end reports end of file.
    file_descriptor file = file_with_content("kept");
    pipe_ends pipe = make_pipe();
    file_descriptor null_file = open_dev_null();
    std::vector<int> fds_to_send{file.get(), pipe.write_end.get()};
    bool asynchronous = false;
    // Room for one int rounds up to CMSG_SPACE for two, so the kernel hands
    // over both of two descriptors without reporting MSG_CTRUNC.
    SUBCASE("two sent, room for one, synchronous") {}
    SUBCASE("two sent, room for one, asynchronous")
    {
        asynchronous = true;
    }
    SUBCASE("three sent, room for one, synchronous")
    {
        fds_to_send.push_back(null_file.get());
    }
    SUBCASE("three sent, room for one, asynchronous")
    {
        fds_to_send.push_back(null_file.get());
        asynchronous = true;
    }
    a.send_with_fds(asio::buffer(std::string_view("surplus")), fds_to_send);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result;
    if (!asynchronous) {
        result = b.receive_with_fds(asio::buffer(storage), fds);
    } else {
        completion<unixdgram::receive_result> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        result = std::move(receiving.result);
    }
    CHECK(result.bytes == 7);
    REQUIRE(result.fds.size() == 1);
    CHECK(result.control_truncated);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(count_open_fds() == fds_before + 1);

    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds into an empty span closes every descriptor")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.write_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("no room")), fds_to_send);

    std::array<char, 16> storage{};
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result =
        b.receive_with_fds(asio::buffer(storage), std::span<file_descriptor>());
    CHECK(text_of(storage, result.bytes) == "no room");
    CHECK(result.fds.empty());
    CHECK(result.control_truncated);
    CHECK(count_open_fds() == fds_before);
    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "receive_with_fds closes the earlier contents of the entries it fills")
{
    file_descriptor old_file = file_with_content("old");
    file_descriptor new_file = file_with_content("new");
    std::array<file_descriptor, 1> fds{old_file.dup()};
    const std::array<int, 1> fds_to_send{new_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("replace")), fds_to_send);

    const std::size_t fds_before = count_open_fds();
    std::array<char, 16> storage{};
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), new_file.get()));
    CHECK_FALSE(same_file(fds[0].get(), old_file.get()));
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE_FIXTURE(pair_fixture, "a plain receive discards the descriptors a datagram carried")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.write_end.get()};
    const std::size_t fds_before = count_open_fds();
    a.send_with_fds(asio::buffer(std::string_view("ignored fd")), fds_to_send);

    std::array<char, 16> storage{};
    SUBCASE("receive")
    {
        CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "ignored fd");
    }
    SUBCASE("async_receive_from")
    {
        unixdgram::endpoint sender;
        completion<std::size_t> receiving;
        receiving.start(
            [&](auto handler) { b.async_receive_from(asio::buffer(storage), sender, handler); });
        run();
        REQUIRE(receiving.calls == 1);
        CHECK_FALSE(receiving.ec);
        CHECK(text_of(storage, receiving.result) == "ignored fd");
    }
    CHECK(count_open_fds() == fds_before);
    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}

// ---------------------------------------------------------------------------
// Asynchronous behaviour: completion outside the initiation, cancellation
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "an operation started from a handler completes after that handler returns")
{
    const std::string_view message = "chained";
    a.send(asio::buffer(message));
    a.send(asio::buffer(message));
    std::array<char, 16> storage{};
    completion<std::size_t> first;
    completion<std::size_t> second;
    bool first_handler_returned = false;
    bool second_ran_before_first_returned = false;
    first.start([&](auto record) {
        b.async_receive(asio::buffer(storage), [&, record](std::error_code ec, std::size_t n) {
            record(ec, n);
            second.start([&](auto record_second) {
                b.async_receive(asio::buffer(storage),
                                [&, record_second](std::error_code ec, std::size_t n) {
                                    second_ran_before_first_returned = !first_handler_returned;
                                    record_second(ec, n);
                                });
            });
            first_handler_returned = true;
        });
    });
    run();
    CHECK(first.calls == 1);
    REQUIRE(second.calls == 1);
    CHECK_FALSE(second_ran_before_first_returned);
    CHECK(second.result == message.size());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a handler can wait for an operation it started once it posts the queued completions")
{
    const std::string_view message = "nested";
    a.send(asio::buffer(message));
    a.send(asio::buffer(message));
    std::array<char, 16> storage{};
    completion<std::size_t> outer;
    completion<std::size_t> inner;
    std::size_t ran_by_poll = 0;
    outer.start([&](auto record) {
        b.async_receive(asio::buffer(storage), [&, record](std::error_code ec, std::size_t n) {
            record(ec, n);
            inner.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
            // Queued to run after this handler: the io_context cannot see it yet.
            CHECK(io.poll_one() == 0);
            unixdgram::post_queued_completions();
            ran_by_poll = io.poll_one();
        });
    });
    run();
    CHECK(outer.calls == 1);
    CHECK(ran_by_poll == 1);
    CHECK(inner.calls == 1);
    CHECK(inner.result == message.size());
}

TEST_CASE_FIXTURE(named_fixture,
                  "operations that can complete at once still complete outside the initiating call")
{
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    const std::string_view message = "ready";
    std::array<char, 16> storage{};
    // Every operation is pending at once: each gets descriptors of its own.
    std::array<file_descriptor, 1> fds;
    std::array<file_descriptor, 1> fds_from;
    unixdgram::endpoint sender;
    for (int queued = 0; queued < 4; ++queued)
        client.send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send);

    socket_type unbound_first(io);
    socket_type unbound_second(io);
    unixdgram::connect_pair(unbound_first, unbound_second);

    completion<std::size_t> sending;
    completion<std::size_t> sending_to;
    completion<std::size_t> sending_fds;
    completion<std::size_t> sending_fds_to;
    completion<std::size_t> receiving;
    completion<std::size_t> receiving_from;
    completion<unixdgram::receive_result> receiving_fds;
    completion<unixdgram::receive_result> receiving_fds_from;
    completion<nothing> waiting;
    completion<std::size_t> failing;

    sending.start([&](auto handler) { unbound_first.async_send(asio::buffer(message), handler); });
    sending_to.start([&](auto handler) {
        client.async_send_to(asio::buffer(message), server_endpoint, handler);
    });
    sending_fds.start([&](auto handler) {
        unbound_first.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
    });
    sending_fds_to.start([&](auto handler) {
        client.async_send_to_with_fds(asio::buffer(message), server_endpoint, fds_to_send, handler);
    });
    receiving.start([&](auto handler) { server.async_receive(asio::buffer(storage), handler); });
    receiving_from.start(
        [&](auto handler) { server.async_receive_from(asio::buffer(storage), sender, handler); });
    receiving_fds.start(
        [&](auto handler) { server.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    receiving_fds_from.start([&](auto handler) {
        server.async_receive_from_with_fds(asio::buffer(storage), sender, fds_from, handler);
    });
    waiting.start(
        [&](auto handler) { server.async_wait(socket_type::wait_type::wait_write, handler); });
    const std::vector<int> too_many(unixdgram::max_fds_per_datagram + 1, null_file.get());
    failing.start([&](auto handler) {
        unbound_first.async_send_with_fds(asio::buffer(message), too_many, handler);
    });

    CHECK(sending.calls + sending_to.calls + sending_fds.calls + sending_fds_to.calls +
              receiving.calls + receiving_from.calls + receiving_fds.calls +
              receiving_fds_from.calls + waiting.calls + failing.calls ==
          0);
    run();
    for (const auto* done : {&sending, &sending_to, &sending_fds, &sending_fds_to, &receiving,
                             &receiving_from, &failing}) {
        CHECK(done->calls == 1);
        CHECK_FALSE(done->ran_inside_initiation);
    }
    for (const auto* done : {&receiving_fds, &receiving_fds_from}) {
        CHECK(done->calls == 1);
        CHECK_FALSE(done->ec);
    }
    CHECK(waiting.calls == 1);
    CHECK(failing.ec == unixdgram::error::too_many_fds);
}

TEST_CASE_FIXTURE(pair_fixture, "pending async_receives complete in the order they were started")
{
    std::array<char, 16> first_storage{};
    std::array<char, 16> second_storage{};
    std::vector<int> completion_order;
    b.async_receive(asio::buffer(first_storage), [&](std::error_code ec, std::size_t bytes) {
        completion_order.push_back(1);
        CHECK_FALSE(ec);
        CHECK(text_of(first_storage, bytes) == "first");
    });
    b.async_receive(asio::buffer(second_storage), [&](std::error_code ec, std::size_t bytes) {
        completion_order.push_back(2);
        CHECK_FALSE(ec);
        CHECK(text_of(second_storage, bytes) == "second");
    });
    io.poll();
    a.send(asio::buffer(std::string_view("first")));
    a.send(asio::buffer(std::string_view("second")));
    run();
    CHECK(completion_order == std::vector<int>{1, 2});
}

TEST_CASE_FIXTURE(pair_fixture, "a per-operation cancellation aborts a pending async_receive")
{
    asio::cancellation_type type = asio::cancellation_type::terminal;
    SUBCASE("terminal") {}
    SUBCASE("partial")
    {
        type = asio::cancellation_type::partial;
    }
    SUBCASE("total")
    {
        type = asio::cancellation_type::total;
    }
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) {
        b.async_receive(asio::buffer(storage),
                        asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    REQUIRE(receiving.calls == 0);

    signal.emit(type);
    run();
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);

    // Only that operation was cancelled: the socket still receives.
    a.send(asio::buffer(std::string_view("still here")));
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "still here");
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a per-operation cancellation aborts each kind of pending receive and wait")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    unixdgram::endpoint sender;
    completion<std::size_t> receiving;
    completion<unixdgram::receive_result> receiving_fds;
    completion<nothing> waiting;

    SUBCASE("async_receive_from")
    {
        receiving.start([&](auto handler) {
            b.async_receive_from(asio::buffer(storage), sender,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_receive_with_fds")
    {
        receiving_fds.start([&](auto handler) {
            b.async_receive_with_fds(asio::buffer(storage), fds,
                                     asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_receive_from_with_fds")
    {
        receiving_fds.start([&](auto handler) {
            b.async_receive_from_with_fds(asio::buffer(storage), sender, fds,
                                          asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_wait")
    {
        waiting.start([&](auto handler) {
            b.async_wait(socket_type::wait_type::wait_read,
                         asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    io.poll();
    REQUIRE(receiving.calls + receiving_fds.calls + waiting.calls == 0);
    signal.emit(asio::cancellation_type::terminal);
    run();
    CHECK(receiving.calls + receiving_fds.calls + waiting.calls == 1);
    CHECK((receiving.ec == asio::error::operation_aborted ||
           receiving_fds.ec == asio::error::operation_aborted ||
           waiting.ec == asio::error::operation_aborted));
    CHECK(receiving_fds.result.fds.empty());
    CHECK_FALSE(fds[0]);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "a cancelled async_receive_with_fds takes nothing and leaks no descriptors")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    completion<unixdgram::receive_result> cancelled;
    cancelled.start([&](auto handler) {
        b.async_receive_with_fds(asio::buffer(storage), fds,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    signal.emit(asio::cancellation_type::terminal);
    run();
    REQUIRE(cancelled.calls == 1);
    CHECK(cancelled.ec == asio::error::operation_aborted);

    // The next datagram and its descriptor go to the next receive.
    file_descriptor file = file_with_content("after cancel");
    const std::array<int, 1> fds_to_send{file.get()};
    a.send_with_fds(asio::buffer(std::string_view("next")), fds_to_send);
    completion<unixdgram::receive_result> receiving;
    receiving.start(
        [&](auto handler) { b.async_receive_with_fds(asio::buffer(storage), fds, handler); });
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result.bytes) == "next");
    REQUIRE(receiving.result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(cancelled.calls == 1);
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "cancelling an async_receive_with_fds whose datagram already arrived leaks no descriptors")
{
    // The datagram is there before the receive starts, so the receive may take
    // it at once; the cancellation then comes too late to abort it, or aborts
    // it and must close what it took. Either way nothing leaks (the fixture
    // counts) and the handler runs once.
    pipe_ends pipe = make_pipe();
    const std::array<int, 2> fds_to_send{pipe.read_end.get(), pipe.write_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("raced")), fds_to_send);

    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    std::array<file_descriptor, 2> fds;
    completion<unixdgram::receive_result> receiving;
    receiving.start([&](auto handler) {
        b.async_receive_with_fds(asio::buffer(storage), fds,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
    });
    signal.emit(asio::cancellation_type::terminal);
    run();
    REQUIRE(receiving.calls == 1);
    if (receiving.ec) {
        CHECK(receiving.ec == asio::error::operation_aborted);
        CHECK_FALSE(fds[0]);
        CHECK_FALSE(fds[1]);
    } else {
        CHECK(receiving.result.fds.size() == 2);
    }
}

TEST_CASE_FIXTURE(pair_fixture, "a cancellation signal emitted after completion has no effect")
{
    asio::cancellation_signal signal;
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) {
        b.async_receive(asio::buffer(storage),
                        asio::bind_cancellation_slot(signal.slot(), handler));
    });
    a.send(asio::buffer(std::string_view("done")));
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);

    signal.emit(asio::cancellation_type::terminal);
    run();
    CHECK(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result) == "done");
}

TEST_CASE_FIXTURE(named_fixture,
                  "a per-operation cancellation aborts an async_send_to waiting for room")
{
    socket_type sender(io);
    sender.open();
    fill_queue(sender, server_endpoint);

    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    asio::cancellation_signal signal;
    completion<std::size_t> sending;
    SUBCASE("async_send_to")
    {
        sending.start([&](auto handler) {
            sender.async_send_to(asio::buffer(std::string_view("blocked")), server_endpoint,
                                 asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    SUBCASE("async_send_to_with_fds")
    {
        sending.start([&](auto handler) {
            sender.async_send_to_with_fds(asio::buffer(std::string_view("blocked")),
                                          server_endpoint, fds_to_send,
                                          asio::bind_cancellation_slot(signal.slot(), handler));
        });
    }
    io.poll();
    REQUIRE(sending.calls == 0);
    signal.emit(asio::cancellation_type::terminal);
    io.restart();
    io.run_for(safety_timeout);
    CHECK(sending.calls == 1);
    CHECK(sending.ec == asio::error::operation_aborted);
    CHECK_MESSAGE(io.stopped(), "the cancelled send left work pending in the io_context");

    // The cancelled datagram never arrives: the queue holds only the filler.
    server.non_blocking(true);
    std::array<char, 16> storage{};
    std::error_code ec;
    while (!ec) {
        std::size_t bytes = server.receive(asio::buffer(storage), 0, ec);
        if (!ec)
            CHECK(text_of(storage, bytes) == "f");
    }
    CHECK(ec == errno_is{EAGAIN});
}
