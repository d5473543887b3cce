// A program built against an installed unixdgram (by pkg-config in
// scripts/lib/install.sh, by CMake in test/cmake_consumer): one datagram
// carrying the write end of a pipe goes across a socket pair; the receiver
// writes through the descriptor it got, and the text comes out of the pipe.
// Exit status 0 when all of it worked.
//
//   consumer EXPECTED_VERSION
#include <unixdgram.hpp>

#include <asio/io_context.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc != 2 || std::strcmp(argv[1], UNIXDGRAM_VERSION_STRING) != 0) {
        std::fprintf(stderr, "consumer: built against unixdgram %s, expected %s\n",
                     UNIXDGRAM_VERSION_STRING, argc == 2 ? argv[1] : "(not given)");
        return 1;
    }
    static_assert(UNIXDGRAM_VERSION == UNIXDGRAM_VERSION_MAJOR * 100000 +
                                           UNIXDGRAM_VERSION_MINOR * 100 + UNIXDGRAM_VERSION_PATCH);

    asio::io_context io;
    unixdgram::datagram_socket<> parent(io), child(io);
    unixdgram::connect_pair(parent, child);

    int pipe_ends[2];
    if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
        return 1;
    constexpr std::string_view note = "the write end of a pipe";
    parent.send_with_fds(asio::buffer(note), std::array{pipe_ends[1]});
    ::close(pipe_ends[1]); // the sender keeps its own; the receiver gets a new one

    std::array<char, 64> text{};
    std::array<unixdgram::file_descriptor, 1> fds;
    bool received = false;
    child.async_receive_with_fds(asio::buffer(text), fds,
                                 [&](std::error_code ec, unixdgram::receive_result result) {
                                     received = !ec && result.fds.size() == 1 &&
                                                std::string_view(text.data(), result.bytes) == note;
                                 });
    io.run();
    if (!received) {
        std::fputs("consumer: the datagram and its descriptor did not arrive\n", stderr);
        return 1;
    }

    constexpr std::string_view through = "written through the received descriptor";
    if (::write(fds[0].get(), through.data(), through.size()) !=
        static_cast<ssize_t>(through.size()))
        return 1;
    fds[0].close();
    std::array<char, 64> piped{};
    ssize_t got = ::read(pipe_ends[0], piped.data(), piped.size());
    ::close(pipe_ends[0]);
    if (got != static_cast<ssize_t>(through.size()) ||
        std::string_view(piped.data(), through.size()) != through)
        return 1;
    std::printf("unixdgram %s: a datagram with a descriptor crossed a socket pair, and the pipe "
                "said: %.*s\n",
                UNIXDGRAM_VERSION_STRING, static_cast<int>(got), piped.data());
    return 0;
}
