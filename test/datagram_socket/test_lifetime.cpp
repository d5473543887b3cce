//
// test_lifetime.cpp — the lifetime of a datagram_socket's descriptor:
// construction, adoption, open, moves, close, shutdown, cancel and release.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"

#include <asio/experimental/deferred.hpp>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

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

// A wait can end before its socket is destroyed, closed or reopened, and
// have its handler run after: the operation must then not try again on what
// the socket holds. When one readiness event ends two waits, Asio runs the
// first handler at once and posts the second (the write's runs first).
TEST_CASE_FIXTURE(io_fixture,
                  "a receive whose wait ended with a send's, the send's handler destroying or "
                  "closing the socket, completes with operation_aborted")
{
    enum class ending { destroyed, closed, reopened } how = ending::destroyed;
    SUBCASE("destroyed") {}
    SUBCASE("closed")
    {
        how = ending::closed;
    }
    SUBCASE("closed and opened again, with a datagram for the new socket")
    {
        how = ending::reopened;
    }
    auto socket = std::make_unique<socket_type>(io);
    socket_type peer(io);
    unixdgram::connect_pair(*socket, peer);
    const unixdgram::endpoint new_name = unixdgram::make_endpoint(unique_abstract_name("reopened"));
    socket->non_blocking(true);
    std::error_code ec;
    while (!ec)
        socket->send(asio::buffer(std::string_view("f")), 0, ec);
    REQUIRE(ec == errno_is{EAGAIN});
    socket->non_blocking(false);
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    completion<std::size_t> sending;
    receiving.start([&](auto handler) { socket->async_receive(asio::buffer(storage), handler); });
    sending.start([&](auto record) {
        socket->async_send(asio::buffer(std::string_view("s")),
                           [&, record](std::error_code ec, std::size_t n) {
                               record(ec, n);
                               if (how == ending::destroyed)
                                   return socket.reset();
                               socket->close();
                               if (how == ending::closed)
                                   return;
                               // A datagram for the new socket, which the old
                               // receive must not take.
                               socket->open();
                               socket->bind(new_name);
                               socket_type client(io);
                               client.open();
                               client.send_to(asio::buffer(std::string_view("new")), new_name);
                           });
    });
    io.poll();
    REQUIRE(receiving.calls + sending.calls == 0);
    // Readable and writable at once, before the reactor looks again.
    peer.send(asio::buffer(std::string_view("old")));
    peer.non_blocking(true);
    ec.clear();
    while (!ec)
        peer.receive(asio::buffer(storage), 0, ec);
    REQUIRE(ec == errno_is{EAGAIN});
    run();
    CHECK(sending.calls == 1);
    CHECK_FALSE(sending.ec);
    CHECK(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);
    if (how == ending::reopened)
        CHECK(socket->bytes_readable() == 3);
}

TEST_CASE_FIXTURE(io_fixture,
                  "a deferred operation runs on what its socket holds when it is launched")
{
    socket_type a(io);
    socket_type b(io);
    std::array<char, 16> storage{};
    SUBCASE("made before the socket was opened")
    {
        auto sending =
            a.async_send(asio::buffer(std::string_view("late")), asio::experimental::deferred);
        unixdgram::connect_pair(a, b);
        completion<std::size_t> sent;
        sent.start([&](auto handler) { std::move(sending)(handler); });
        run();
        CHECK(sent.calls == 1);
        CHECK_FALSE(sent.ec);
        CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "late");
    }
    SUBCASE("made before the socket was move-assigned over")
    {
        unixdgram::connect_pair(a, b);
        socket_type c(io);
        socket_type d(io);
        unixdgram::connect_pair(c, d);
        auto receiving = a.async_receive(asio::buffer(storage), asio::experimental::deferred);
        a = std::move(c); // a's first state is destroyed
        d.send(asio::buffer(std::string_view("to c")));
        completion<std::size_t> received;
        received.start([&](auto handler) { std::move(receiving)(handler); });
        run();
        CHECK(received.calls == 1);
        CHECK_FALSE(received.ec);
        CHECK(text_of(storage, received.result) == "to c");
    }
}

TEST_CASE_FIXTURE(named_fixture,
                  "a send waiting for room that is cancelled, its socket destroyed before its "
                  "handler runs, completes with operation_aborted")
{
    const asio::cancellation_type type = each_cancellation_type();
    auto sender = std::make_unique<socket_type>(io);
    sender->open();
    fill_queue(*sender, server_endpoint);
    asio::cancellation_signal signal;
    completion<std::size_t> sending;
    sending.start([&](auto handler) {
        sender->async_send_to(asio::buffer(std::string_view("x")), server_endpoint,
                              asio::bind_cancellation_slot(signal.slot(), handler));
    });
    io.poll();
    REQUIRE(sending.calls == 0);
    signal.emit(type);
    sender.reset();
    run();
    CHECK(sending.calls == 1);
    CHECK(sending.ec == asio::error::operation_aborted);
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
