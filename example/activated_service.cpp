//
// activated_service.cpp — a socket-activated datagram service.
//
// Started by a service manager with its socket already open, e.g.
//
//   systemd-socket-activate --datagram -l /tmp/echo.sock --fdname=requests
//       -E NOTIFY_SOCKET=@my-manager build/example/activated_service
//
// (one command line)
//
// it takes the sockets from LISTEN_FDS (serving the first), tells the manager READY=1, hands it a
// descriptor to keep (FDSTORE=1, FDNAME=service-state), then answers each
// request with "echo: <request>" and updates STATUS. "quit" ends it: it says
// STOPPING=1 and waits, with a barrier, until the manager has read that.
//
// Without a manager (no NOTIFY_SOCKET) the notifications are skipped; without
// LISTEN_FDS it says so and exits with status 2.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram.hpp>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>

#include <array>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

namespace systemd = unixdgram::systemd;

namespace {

// A memfd holding `content`: what a service would keep in the fd store to
// get back after a restart.
unixdgram::file_descriptor state_to_store(std::string_view content)
{
    unixdgram::file_descriptor state(::memfd_create("service-state", MFD_CLOEXEC));
    if (!state || ::write(state.get(), content.data(), content.size()) !=
                      static_cast<ssize_t>(content.size()))
        throw std::system_error(errno, std::system_category(), "memfd_create/write");
    return state;
}

} // namespace

int main()
try {
    // Unset, so that a program this service starts does not take the
    // descriptors for its own.
    std::vector<systemd::listened_fd> listened = systemd::listen_fds({.unset_environment = true});
    if (listened.empty()) {
        std::fprintf(stderr, "activated_service: no socket passed (LISTEN_FDS); run me under "
                             "systemd-socket-activate --datagram\n");
        return 2;
    }

    asio::io_context io;
    // The socket checks the descriptor and takes it only if it is a
    // datagram socket, so ownership moves only after that succeeded.
    unixdgram::datagram_socket<> requests(io, listened.front().fd.get());
    listened.front().fd.release();
    // It serves the first socket; the others, if any, are only named.
    std::string status = "waiting for requests on '" + listened.front().name + "'";
    for (std::size_t index = 1; index < listened.size(); ++index)
        status += (index == 1 ? "; also passed '" : ", '") + listened[index].name + "'";
    listened.clear();

    systemd::notify("READY=1\nSTATUS=" + status);

    const unixdgram::file_descriptor state = state_to_store("state kept by activated_service\n");
    const std::array<int, 1> stored{state.get()};
    systemd::notify("FDSTORE=1\nFDNAME=service-state", stored);

    std::array<char, 4096> request{};
    for (int served = 1;; ++served) {
        unixdgram::endpoint client;
        std::error_code ec;
        const std::size_t length = requests.receive_from(asio::buffer(request), client, 0, ec);
        if (ec == unixdgram::error::message_truncated) {
            std::fprintf(stderr, "activated_service: request %d longer than %zu bytes, dropped\n",
                         served, request.size());
            continue;
        }
        if (ec)
            throw std::system_error(ec, "receive_from");
        const std::string_view text(request.data(), length);
        if (text == "quit" || text == "quit\n")
            break;
        // An unnamed client cannot be answered; say so rather than fail.
        if (client.path().empty())
            std::fprintf(stderr, "activated_service: request %d from an unnamed socket\n", served);
        else
            requests.send_to(asio::buffer("echo: " + std::string(text)), client);
        systemd::notify("STATUS=served " + std::to_string(served) + " request(s), the last from " +
                        (client.path().empty() ? std::string("an unnamed socket")
                                               : systemd::format_address(client)));
    }

    systemd::notify("STOPPING=1\nSTATUS=asked to quit");
    systemd::notify_barrier();
    return 0;
} catch (const std::exception& failure) {
    std::fprintf(stderr, "activated_service: %s\n", failure.what());
    return 1;
}
