//
// hardening_support.hpp — what the hostile, thread and stress tests measure:
// open descriptors, memory in use, CPU time; and the small fixtures they share.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_HARDENING_SUPPORT_HPP
#define UNIXDGRAM_HARDENING_SUPPORT_HPP

#include "unixdgram_test.hpp"

#include <unixdgram/file_descriptor.hpp>

#include <asio/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hardening {

/// Descriptors open in this process. The directory stream's own descriptor
/// is included in every count alike.
inline std::size_t count_open_fds()
{
    auto entries = std::filesystem::directory_iterator("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(entries, std::filesystem::directory_iterator()));
}

inline bool is_open_fd(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
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

/// "system:111 (Connection refused)": how a hostile case reports what it got.
inline std::string describe(const std::error_code& ec)
{
    if (!ec)
        return "no error";
    return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
           ec.message() + ")";
}

/// Matches an errno value in Asio's system category, where the library and
/// Asio both report them.
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

/// The error code a std::system_error thrown by `operation` carries; empty
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

/// An abstract socket name nobody else uses (a leading NUL, then text).
inline std::string unique_abstract_name(std::string_view purpose)
{
    static int names_made = 0;
    std::string name(1, '\0');
    name += "unixdgram-hardening-" + std::to_string(::getpid()) + "-" + std::string(purpose) + "-" +
            std::to_string(++names_made);
    return name;
}

/// A fresh directory, removed with everything in it at the end of the test.
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

/// Every test leaves the process with the descriptors it found.
struct fd_count_fixture {
    std::size_t fds_at_start = count_open_fds();

    fd_count_fixture() = default;
    fd_count_fixture(const fd_count_fixture&) = delete;
    fd_count_fixture& operator=(const fd_count_fixture&) = delete;
    ~fd_count_fixture() { CHECK_MESSAGE(count_open_fds() == fds_at_start, "descriptors leaked"); }
};

} // namespace hardening

#endif // UNIXDGRAM_HARDENING_SUPPORT_HPP
