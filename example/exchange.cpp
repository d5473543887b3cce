// A datagram exchange: a server bound to a path answers a client whose
// address Linux picks (autobind), both as C++20 coroutines on one io_context.
#include <unixdgram.hpp>

#include <asio.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include <unistd.h>

using socket_type = asio::use_awaitable_t<>::as_default_on_t<unixdgram::datagram_socket<>>;

asio::awaitable<void> serve(socket_type& server, int requests)
{
    char request[256];
    for (int served = 0; served < requests; ++served) {
        unixdgram::endpoint client;
        std::size_t length = co_await server.async_receive_from(asio::buffer(request), client);
        std::string_view text(request, length);
        std::cout << "server: got \"" << text << "\" from an autobound client ("
                  << client.path().size() << "-byte abstract name)\n";
        std::string reply = "echo: " + std::string(text);
        co_await server.async_send_to(asio::buffer(reply), client);
    }
}

asio::awaitable<void> ask(socket_type& client, const unixdgram::endpoint& server)
{
    char reply[256];
    for (std::string_view question : {"hello", "how are you?", "bye"}) {
        co_await client.async_send_to(asio::buffer(question), server);
        std::size_t length = co_await client.async_receive(asio::buffer(reply));
        std::cout << "client: sent \"" << question << "\", got \""
                  << std::string_view(reply, length) << "\"\n";
    }
}

int main()
{
    asio::io_context io;
    std::filesystem::path directory = std::filesystem::temp_directory_path() /
                                      ("unixdgram-exchange-" + std::to_string(::getpid()));
    std::filesystem::create_directory(directory);
    unixdgram::endpoint server_address = unixdgram::make_endpoint((directory / "server").string());

    socket_type server(io), client(io);
    server.open();
    server.bind(server_address);
    client.open();
    client.bind(unixdgram::endpoint()); // autobind, so the server can answer
    std::cout << "server bound to " << server_address.path() << "\n";

    bool failed = false;
    auto report = [&](std::exception_ptr error) {
        if (!error)
            return;
        failed = true;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n";
        }
    };
    asio::co_spawn(io, serve(server, 3), report);
    asio::co_spawn(io, ask(client, server_address), report);
    io.run();

    std::filesystem::remove_all(directory);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
