//
// datagram_socket_test.hpp — what the sources of the test_datagram_socket
// executable share: the socket type under test, its fixtures and helpers.
//
// test_datagram_socket tests unixdgram/datagram_socket.hpp. Its cases are
// split by topic into the test_*.cpp files of this directory and linked into
// one executable: one meson test whose TAP lists every case, and one link.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_DATAGRAM_SOCKET_TEST_HPP
#define UNIXDGRAM_TEST_DATAGRAM_SOCKET_TEST_HPP

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

namespace unixdgram_test {

using socket_type = unixdgram::datagram_socket<>;
using pair_fixture = socket_pair_fixture<socket_type>;

/// An address no socket holds, one subcase each: a path in `directory`
/// whose socket closed, or an abstract name nobody holds.
inline unixdgram::endpoint each_address_nobody_holds(asio::io_context& io,
                                                     const temp_dir& directory)
{
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
    return gone;
}

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

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_DATAGRAM_SOCKET_TEST_HPP
