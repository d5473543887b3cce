//
// test_send_receive.cpp — moving data: every send and receive in each of
// its forms (throwing, std::error_code&, and asynchronous with a callback,
// asio::use_future and asio::use_awaitable: the form policies of
// completion_forms.hpp over the operations of socket_operations.hpp),
// peeking, scatter and gather, and the failures a send or a receive reports.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"
#include "socket_operations.hpp"

using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Moving data, every operation in every form
// ---------------------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("send and receive move one datagram", form, send_and_receive)
{
    pair_fixture sockets;
    socket_type& a = sockets.a;
    socket_type& b = sockets.b;
    const std::string_view message = "one datagram";
    std::array<char, 64> storage{};
    auto send = send_operation(a, asio::buffer(message));
    auto receive = receive_operation(b, asio::buffer(storage));

    const auto [sent, received] = form::exchange(sockets, send, receive);
    CHECK(sent == message.size());
    CHECK(text_of(storage, received) == message);
    CHECK(b.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(send_and_receive, completion_forms);

TEST_CASE_TEMPLATE_DEFINE("send_to and receive_from move one datagram and name the sender", form,
                          send_to_and_receive_from)
{
    named_fixture sockets;
    const std::string_view message = "addressed datagram";
    std::array<char, 64> storage{};
    unixdgram::endpoint sender;
    auto send = send_to_operation(sockets.client, asio::buffer(message), sockets.server_endpoint);
    auto receive = receive_from_operation(sockets.server, asio::buffer(storage), sender);

    const auto [sent, received] = form::exchange(sockets, send, receive);
    CHECK(sent == message.size());
    CHECK(text_of(storage, received) == message);
    CHECK(sender.path() == sockets.client_name);
}
TEST_CASE_TEMPLATE_APPLY(send_to_and_receive_from, completion_forms);

TEST_CASE_TEMPLATE_DEFINE("send_with_fds and receive_with_fds pass a descriptor", form,
                          send_and_receive_with_fds)
{
    pair_fixture sockets;
    socket_type& a = sockets.a;
    socket_type& b = sockets.b;
    const std::string_view message = "with fd";
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.read_end.get()};
    std::array<char, 64> storage{};
    std::array<file_descriptor, 2> fds;
    auto send = send_with_fds_operation(a, asio::buffer(message), fds_to_send);
    auto receive = receive_with_fds_operation(b, asio::buffer(storage), fds);

    const auto [sent, result] = form::exchange(sockets, send, receive);
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
TEST_CASE_TEMPLATE_APPLY(send_and_receive_with_fds, completion_forms);

TEST_CASE_TEMPLATE_DEFINE(
    "send_to_with_fds and receive_from_with_fds pass a descriptor and name the sender", form,
    send_to_and_receive_from_with_fds)
{
    named_fixture sockets;
    const std::string_view message = "addressed with fd";
    file_descriptor file = file_with_content("file content");
    const std::array<int, 1> fds_to_send{file.get()};
    std::array<char, 64> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::endpoint sender;
    auto send = send_to_with_fds_operation(sockets.client, asio::buffer(message),
                                           sockets.server_endpoint, fds_to_send);
    auto receive =
        receive_from_with_fds_operation(sockets.server, asio::buffer(storage), sender, fds);

    const auto [sent, result] = form::exchange(sockets, send, receive);
    CHECK(sent == message.size());
    CHECK(text_of(storage, result.bytes) == message);
    CHECK(sender.path() == sockets.client_name);
    REQUIRE(result.fds.size() == 1);
    CHECK_FALSE(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(read_some(fds[0].get()) == "file content");
}
TEST_CASE_TEMPLATE_APPLY(send_to_and_receive_from_with_fds, completion_forms);

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
// Failures of sends and receives
// ---------------------------------------------------------------------------

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
    const unixdgram::endpoint gone = each_address_nobody_holds(io, directory);
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
        const outcome<std::size_t> got =
            callback_form::run(*this, receive_operation(b, asio::buffer(storage)));
        CHECK(got.ec == unixdgram::error::message_truncated);
        received = got.value;
    }
    SUBCASE("async_receive_from")
    {
        unixdgram::endpoint sender;
        const outcome<std::size_t> got =
            callback_form::run(*this, receive_from_operation(b, asio::buffer(storage), sender));
        CHECK(got.ec == unixdgram::error::message_truncated);
        received = got.value;
    }
    CHECK(received == storage.size());
    CHECK(std::string_view(storage.data(), storage.size()) == "0123");

    // The rest of the datagram is gone; the next one is whole.
    CHECK(b.bytes_readable() == 4);
    CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "next");
}
