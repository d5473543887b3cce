//
// unixdgram/file_descriptor.hpp — a move-only owner of one file descriptor.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_FILE_DESCRIPTOR_HPP
#define UNIXDGRAM_FILE_DESCRIPTOR_HPP

#include <system_error>

namespace unixdgram {

/// Owns one file descriptor and closes it when destroyed.
///
/// Received descriptors arrive as `file_descriptor`s, so a descriptor the
/// caller ignores is closed rather than leaked.
///
/// @par Thread Safety
/// Distinct objects: safe. Shared objects: unsafe.
class file_descriptor {
public:
    /// Owns nothing.
    file_descriptor() noexcept = default;

    /// Takes ownership of `fd`; a negative value means "nothing".
    explicit file_descriptor(int fd) noexcept;

    file_descriptor(file_descriptor&& other) noexcept;
    file_descriptor& operator=(file_descriptor&& other) noexcept;
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;

    /// Takes ownership of a descriptor known by number, such as one a parent
    /// process left open (socket activation's LISTEN_FDS, a number on the
    /// command line), after checking that it is open, and makes it
    /// close-on-exec as every descriptor the library owns.
    /// @throws std::system_error with EBADF when `fd` is negative or not
    /// open; nothing is owned then.
    static file_descriptor adopt(int fd);

    /// @copydoc adopt(int)
    /// @param ec Set on failure, else cleared; the result is then empty.
    static file_descriptor adopt(int fd, std::error_code& ec) noexcept;

    /// Closes the descriptor, ignoring errors (call `close` to see them).
    ~file_descriptor();

    /// The descriptor, still owned; -1 when empty.
    int get() const noexcept { return fd_; }

    /// Whether a descriptor is owned.
    explicit operator bool() const noexcept { return fd_ >= 0; }

    /// Gives up ownership and returns the descriptor (-1 when empty).
    int release() noexcept;

    /// Closes the owned descriptor, if any, and takes `fd` instead.
    void reset(int fd = -1) noexcept;

    /// Closes the descriptor and reports what close(2) said.
    /// The object is empty afterwards even when close fails, because Linux
    /// releases the descriptor number in every case.
    /// @throws std::system_error on failure.
    void close();

    /// @copydoc close()
    /// @param ec Set to the error close(2) reported, else cleared.
    void close(std::error_code& ec) noexcept;

    /// A new descriptor for the same open file, close-on-exec.
    /// @throws std::system_error on failure (e.g. EBADF when empty, EMFILE).
    file_descriptor dup() const;

    /// @copydoc dup()
    /// @param ec Set on failure; the result is then empty.
    file_descriptor dup(std::error_code& ec) const noexcept;

    friend void swap(file_descriptor& a, file_descriptor& b) noexcept
    {
        int held = a.fd_;
        a.fd_ = b.fd_;
        b.fd_ = held;
    }

private:
    int fd_ = -1;
};

} // namespace unixdgram

#include <unixdgram/impl/file_descriptor.hpp>

#endif // UNIXDGRAM_FILE_DESCRIPTOR_HPP
