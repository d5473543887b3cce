//
// test_addresses.cpp — bind, connect, disconnect, the endpoints, and
// make_endpoint with names up to the length sun_path holds.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"

using namespace unixdgram_test;
using unixdgram::file_descriptor;

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
    const unixdgram::endpoint gone = each_address_nobody_holds(io, directory);
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
