// Sends one datagram between the two ends of a socket pair and checks that it
// arrived intact: exit status 0 if it did.
#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <cstddef>
#include <iostream>
#include <string_view>

int main()
{
    asio::io_context io;
    unixdgram::datagram_socket<> a(io), b(io);
    unixdgram::connect_pair(a, b);

    constexpr std::string_view message = "hello from a subproject";
    a.send(asio::buffer(message));

    std::array<char, 64> buffer{};
    const std::size_t received = b.receive(asio::buffer(buffer));
    const std::string_view text(buffer.data(), received);
    std::cout << text << '\n';
    return text == message ? 0 : 1;
}
