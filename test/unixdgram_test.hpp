//
// unixdgram_test.hpp — the one header every test includes.
//
// It brings in doctest and teaches it to print std::error_code with its
// category, value and message, so a failed CHECK(ec == ...) says
// "system:11 (Resource temporarily unavailable)" rather than a bare number.
//
// It also holds, once, what several test files need, in namespace
// unixdgram_test: received text, descriptors and files (counting, flags,
// identity, pipes, temporary directories), errors (errno_is, thrown_by,
// describe), memory and CPU use, and the fixtures (a test leaves the process
// with the descriptors it found; an io_context; a connected socket pair)
// with a recorder of asynchronous completions. The completion forms are in
// completion_forms.hpp, the printing of credentials in credentials_test.hpp.
//
// Of the library it includes file_descriptor.hpp only: test_error.cpp and
// test_file_descriptor.cpp test one public header each, so the socket
// fixtures take the socket type as a template parameter instead of
// including datagram_socket.hpp. The self-contained header tests
// (self_contained.cpp.in) include nothing of this.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_HPP
#define UNIXDGRAM_TEST_HPP

#include <doctest/doctest.h>

#include <unixdgram/file_descriptor.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace doctest {

template <>
struct StringMaker<std::error_code> {
    static String convert(const std::error_code& ec)
    {
        const std::string text = std::string(ec.category().name()) + ":" +
                                 std::to_string(ec.value()) + " (" + ec.message() + ")";
        return String(text.c_str());
    }
};

} // namespace doctest

namespace unixdgram_test {

/// How long a test waits for something that should happen at once before it
/// gives up; a safety net, never a delay.
inline constexpr auto safety_timeout = std::chrono::seconds(10);

/// The first `length` bytes of `storage` as text.
inline std::string_view text_of(std::span<const char> storage, std::size_t length)
{
    REQUIRE(length <= storage.size());
    return {storage.data(), length};
}

// ---------------------------------------------------------------------------
// Descriptors and files
// ---------------------------------------------------------------------------

/// Descriptors open in this process. The directory stream holds one
/// descriptor of its own while it is read, which every count includes alike.
inline std::size_t count_open_fds()
{
    auto entries = std::filesystem::directory_iterator("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(entries, std::filesystem::directory_iterator()));
}

inline bool is_open_fd(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

inline bool is_cloexec(int fd)
{
    return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/// The pid a pidfd names, as systemd reads it: the "Pid:" line of
/// /proc/self/fdinfo (-1 for a process that has been reaped, 0 when the
/// descriptor is no pidfd or has no such line).
inline long pidfd_pid(int pidfd)
{
    std::ifstream fdinfo("/proc/self/fdinfo/" + std::to_string(pidfd));
    std::string line;
    while (std::getline(fdinfo, line))
        if (line.rfind("Pid:", 0) == 0)
            return std::stol(line.substr(4));
    return 0;
}

/// Whether two descriptors refer to the same file.
inline bool same_file(int first, int second)
{
    struct stat first_stat {};
    struct stat second_stat {};
    return ::fstat(first, &first_stat) == 0 && ::fstat(second, &second_stat) == 0 &&
           first_stat.st_dev == second_stat.st_dev && first_stat.st_ino == second_stat.st_ino;
}

/// The identity of a file, to check that a received descriptor is the one sent.
struct file_identity {
    dev_t device = 0;
    ino_t inode = 0;

    static file_identity of(int fd)
    {
        struct stat status {};
        REQUIRE(::fstat(fd, &status) == 0);
        return {status.st_dev, status.st_ino};
    }

    bool matches(int fd) const
    {
        struct stat status {};
        return ::fstat(fd, &status) == 0 && status.st_dev == device && status.st_ino == inode;
    }
};

/// An anonymous file holding `content`, positioned at its start.
inline unixdgram::file_descriptor file_with_content(std::string_view content)
{
    unixdgram::file_descriptor file(::memfd_create("unixdgram-test", MFD_CLOEXEC));
    REQUIRE(file);
    REQUIRE(::write(file.get(), content.data(), content.size()) ==
            static_cast<ssize_t>(content.size()));
    REQUIRE(::lseek(file.get(), 0, SEEK_SET) == 0);
    return file;
}

inline unixdgram::file_descriptor open_dev_null()
{
    unixdgram::file_descriptor file(::open("/dev/null", O_RDWR | O_CLOEXEC));
    REQUIRE(file);
    return file;
}

/// What one read(2) of `fd` returns, up to 256 bytes.
inline std::string read_some(int fd)
{
    std::array<char, 256> storage{};
    ssize_t length = ::read(fd, storage.data(), storage.size());
    REQUIRE(length >= 0);
    return std::string(storage.data(), static_cast<std::size_t>(length));
}

inline void write_all(int fd, std::string_view text)
{
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

struct pipe_ends {
    unixdgram::file_descriptor read_end;
    unixdgram::file_descriptor write_end;
};

inline pipe_ends make_pipe()
{
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    return {unixdgram::file_descriptor(ends[0]), unixdgram::file_descriptor(ends[1])};
}

/// Whether every write end of the pipe is gone: a read sees end of file
/// instead of would-block. The read end is made non-blocking for this.
inline bool all_writers_gone(int read_end)
{
    ::fcntl(read_end, F_SETFL, ::fcntl(read_end, F_GETFL) | O_NONBLOCK);
    char byte;
    return ::read(read_end, &byte, 1) == 0;
}

/// A fresh directory, removed with everything in it at the end of the test.
/// Its name is short to leave room in sun_path's 108 bytes for the socket
/// paths tests make inside it.
struct temp_dir {
    std::filesystem::path path;

    temp_dir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "udg-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

/// An abstract socket name nobody else uses (a leading NUL, then text).
inline std::string unique_abstract_name(std::string_view purpose)
{
    static int names_made = 0;
    std::string name(1, '\0');
    name += "unixdgram-test-" + std::to_string(::getpid()) + "-" + std::string(purpose) + "-" +
            std::to_string(++names_made);
    return name;
}

/// The bytes of `sun_path`: a name that fills them has no terminating NUL.
inline constexpr std::size_t sun_path_size = sizeof(sockaddr_un::sun_path);

/// An abstract name nobody else uses that fills all of `sun_path` (a NUL and
/// 107 bytes), as Python's bind(b"\0" + b"L" * 107) makes.
inline std::string full_length_abstract_name(std::string_view purpose)
{
    std::string name = unique_abstract_name(purpose);
    name.resize(sun_path_size, 'L');
    return name;
}

/// A path of exactly 108 bytes, all of `sun_path`, naming a new entry in
/// `directory` (which must leave room for it).
inline std::string full_length_path(const std::filesystem::path& directory)
{
    std::string path = (directory / "").string();
    REQUIRE(path.size() < sun_path_size - 1);
    path.resize(sun_path_size, 'P');
    return path;
}

/// A datagram socket made and bound with the system calls alone, to `name`
/// exactly (address length offsetof(sun_path) + name.size(), no NUL added):
/// a peer from outside the library.
inline unixdgram::file_descriptor raw_socket_bound_to(std::string_view name)
{
    unixdgram::file_descriptor fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(name.size() <= sun_path_size);
    std::memcpy(address.sun_path, name.data(), name.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0);
    return fd;
}

/// Sends `text` from the raw socket `fd` to `name` exactly, as the kernel
/// takes it; returns the errno, 0 on success.
inline int raw_send_to(int fd, std::string_view text, std::string_view name)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), std::min(name.size(), sun_path_size));
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                               std::min(name.size(), sun_path_size));
    if (::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&address),
                 length) < 0)
        return errno;
    return 0;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Matches an errno value in Asio's system category, where the library and
/// Asio both report them (standalone Asio 1.22 maps that category to no
/// std::errc condition, so the tests compare numbers and category).
struct errno_is {
    int value;

    friend bool operator==(const std::error_code& ec, const errno_is& expected)
    {
        return ec.value() == expected.value && ec.category() == asio::error::get_system_category();
    }

    friend std::ostream& operator<<(std::ostream& out, const errno_is& expected)
    {
        return out << "errno " << expected.value << " (" << std::strerror(expected.value) << ")";
    }
};

/// The error code a `std::system_error` thrown by `operation` carries; empty
/// when nothing was thrown.
template <typename Operation>
std::error_code thrown_by(Operation&& operation)
{
    try {
        operation();
    } catch (const std::system_error& failure) {
        return failure.code();
    }
    return {};
}

/// "system:111 (Connection refused)": how a hostile case reports what it got.
inline std::string describe(const std::error_code& ec)
{
    if (!ec)
        return "no error";
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
           ec.message() + ")";
}

// ---------------------------------------------------------------------------
// Memory and CPU use
// ---------------------------------------------------------------------------

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool under_address_sanitizer = true;
#else
inline constexpr bool under_address_sanitizer = false;
#endif
#else
inline constexpr bool under_address_sanitizer = false;
#endif

/// Memory in use: resident pages, and the bytes malloc has handed out.
/// Under AddressSanitizer mallinfo2 sees only glibc's (unused) heap, so the
/// resident size is the figure that counts there.
struct memory_use {
    std::size_t resident_bytes = 0;
    std::size_t heap_bytes = 0;

    static memory_use now()
    {
        memory_use use;
        if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
            unsigned long total_pages = 0;
            unsigned long resident_pages = 0;
            if (std::fscanf(statm, "%lu %lu", &total_pages, &resident_pages) == 2)
                use.resident_bytes =
                    resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
            std::fclose(statm);
        }
        use.heap_bytes = ::mallinfo2().uordblks;
        return use;
    }
};

/// CPU time this process has used, user and system, in seconds.
inline double cpu_seconds()
{
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// ---------------------------------------------------------------------------
// Fixtures and asynchronous operations
// ---------------------------------------------------------------------------

/// Every test leaves the process with the descriptors it found.
struct fd_count_fixture {
    std::size_t fds_at_start = count_open_fds();

    fd_count_fixture() = default;
    fd_count_fixture(const fd_count_fixture&) = delete;
    fd_count_fixture& operator=(const fd_count_fixture&) = delete;
    ~fd_count_fixture() { CHECK_MESSAGE(count_open_fds() == fds_at_start, "descriptors leaked"); }
};

struct io_fixture : fd_count_fixture {
    asio::io_context io;

    /// Runs the handlers until no work is left (or the safety net expires).
    void run()
    {
        io.restart();
        io.run_for(safety_timeout);
    }
};

/// The usual setting: two sockets connected to each other. A test file names
/// it once, `using pair_fixture = unixdgram_test::socket_pair_fixture<socket_type>;`.
template <typename Socket>
struct socket_pair_fixture : io_fixture {
    Socket a{io};
    Socket b{io};

    // Found by argument-dependent lookup, so this header needs no socket header.
    socket_pair_fixture() { connect_pair(a, b); }
};

/// Sends one-byte datagrams ("f") from `sender` until `destination`'s queue
/// is full, leaving `sender` in blocking mode; returns how many it sent.
template <typename Socket>
std::size_t fill_queue(Socket& sender, const typename Socket::endpoint_type& destination)
{
    sender.non_blocking(true);
    const char byte = 'f';
    std::error_code ec;
    std::size_t sent = 0;
    for (; sent < 100000; ++sent) {
        sender.send_to(asio::buffer(&byte, 1), destination, 0, ec);
        if (ec)
            break;
    }
    REQUIRE(ec == errno_is{EAGAIN});
    sender.non_blocking(false);
    return sent;
}

/// The completion of an operation whose handler takes only an error code;
/// completion<nothing> records only the error of any operation.
struct nothing {};

/// Records how an asynchronous operation completed and how often, and checks
/// that it did not complete inside the call that started it.
template <typename Result>
struct completion {
    int calls = 0;
    bool ran_inside_initiation = false;
    std::error_code ec;
    Result result{};

    completion() = default;
    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;
    ~completion() { CHECK_FALSE(ran_inside_initiation); }

    /// Calls `initiate(handler)`, the handler recording the completion.
    template <typename Initiate>
    void start(Initiate&& initiate)
    {
        initiating_ = true;
        initiate([this](std::error_code error, auto&&... value) {
            ++calls;
            ran_inside_initiation = ran_inside_initiation || initiating_;
            ec = error;
            if constexpr (sizeof...(value) == 1 && !std::is_same_v<Result, nothing>)
                result = Result(std::forward<decltype(value)>(value)...);
        });
        initiating_ = false;
    }

private:
    bool initiating_ = false;
};

/// The kinds of per-operation cancellation, one subcase each.
inline asio::cancellation_type each_cancellation_type()
{
    asio::cancellation_type type = asio::cancellation_type::terminal;
    SUBCASE("terminal")
    {
        type = asio::cancellation_type::terminal;
    }
    SUBCASE("partial")
    {
        type = asio::cancellation_type::partial;
    }
    SUBCASE("total")
    {
        type = asio::cancellation_type::total;
    }
    return type;
}

/// Runs `coroutine` on `io` to its end; rethrows what escaped it.
inline void run_coroutine(asio::io_context& io, asio::awaitable<void> coroutine)
{
    int completions = 0;
    std::exception_ptr escaped;
    asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr failure) {
        ++completions;
        escaped = failure;
    });
    io.restart();
    io.run_for(safety_timeout);
    REQUIRE(completions == 1);
    if (escaped)
        std::rethrow_exception(escaped);
}

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_HPP
