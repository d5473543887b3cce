// One process hands an open file to another over a datagram socket pair:
// the child never opens the file, yet reads it through the descriptor.
#include <unixdgram.hpp>

#include <asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int run_child(int socket_fd)
{
    asio::io_context io;
    unixdgram::datagram_socket<> socket(io, socket_fd);
    std::array<char, 64> label;
    std::array<unixdgram::file_descriptor, 1> received;
    unixdgram::receive_result result = socket.receive_with_fds(asio::buffer(label), received);
    if (result.fds.empty()) {
        std::cerr << "child: no descriptor arrived\n";
        return EXIT_FAILURE;
    }
    char contents[256];
    ssize_t length = ::pread(received[0].get(), contents, sizeof(contents), 0);
    if (length < 0) {
        std::perror("child: pread");
        return EXIT_FAILURE;
    }
    std::cout << "child " << ::getpid() << ": received \""
              << std::string(label.data(), result.bytes) << "\" with descriptor "
              << received[0].get() << "; the file says: \"" << std::string(contents, length)
              << "\"\n";
    std::string reply = "thanks, read " + std::to_string(length) + " bytes";
    socket.send(asio::buffer(reply));
    return EXIT_SUCCESS;
}

} // namespace

int main()
{
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) {
        std::perror("socketpair");
        return EXIT_FAILURE;
    }
    std::cout.flush();
    pid_t child = ::fork();
    if (child < 0) {
        std::perror("fork");
        return EXIT_FAILURE;
    }
    if (child == 0) {
        ::close(pair[0]);
        return run_child(pair[1]);
    }
    ::close(pair[1]);

    asio::io_context io;
    unixdgram::datagram_socket<> socket(io, pair[0]);

    // An anonymous file: only the descriptor can reach it.
    std::FILE* note = std::tmpfile();
    std::fputs("the parent wrote this before handing the file over", note);
    std::fflush(note);
    int note_fd = ::fileno(note);
    std::cout << "parent " << ::getpid() << ": sending descriptor " << note_fd
              << " of an unlinked temporary file" << std::endl;
    socket.send_with_fds(asio::buffer(std::string_view("here is a file")),
                         std::array<int, 1>{note_fd});
    std::fclose(note); // the child's copy keeps the file alive

    char reply[128];
    std::size_t length = socket.receive(asio::buffer(reply));
    std::cout << "parent: child replied \"" << std::string(reply, length) << "\"\n";

    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
