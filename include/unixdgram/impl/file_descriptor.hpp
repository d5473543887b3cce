//
// unixdgram/impl/file_descriptor.hpp
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_IMPL_FILE_DESCRIPTOR_HPP
#define UNIXDGRAM_IMPL_FILE_DESCRIPTOR_HPP

#include <asio/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace unixdgram {

inline file_descriptor::file_descriptor(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}

inline file_descriptor::file_descriptor(file_descriptor&& other) noexcept : fd_(other.release()) {}

inline file_descriptor& file_descriptor::operator=(file_descriptor&& other) noexcept
{
    if (this != &other)
        reset(other.release());
    return *this;
}

inline file_descriptor::~file_descriptor()
{
    reset();
}

inline int file_descriptor::release() noexcept
{
    int owned = fd_;
    fd_ = -1;
    return owned;
}

inline void file_descriptor::reset(int fd) noexcept
{
    // Linux frees the descriptor number even when close(2) fails with EINTR,
    // so retrying could close a descriptor another thread just opened.
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd < 0 ? -1 : fd;
}

inline void file_descriptor::close()
{
    std::error_code ec;
    close(ec);
    if (ec)
        throw std::system_error(ec, "file_descriptor::close");
}

inline void file_descriptor::close(std::error_code& ec) noexcept
{
    ec.clear();
    if (fd_ < 0) {
        ec.assign(EBADF, asio::error::get_system_category());
        return;
    }
    int owned = release();
    if (::close(owned) != 0 && errno != EINTR)
        ec.assign(errno, asio::error::get_system_category());
}

inline file_descriptor file_descriptor::dup() const
{
    std::error_code ec;
    file_descriptor copy = dup(ec);
    if (ec)
        throw std::system_error(ec, "file_descriptor::dup");
    return copy;
}

inline file_descriptor file_descriptor::dup(std::error_code& ec) const noexcept
{
    ec.clear();
    int copy = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        ec.assign(errno, asio::error::get_system_category());
        return file_descriptor();
    }
    return file_descriptor(copy);
}

inline file_descriptor file_descriptor::adopt(int fd)
{
    std::error_code ec;
    file_descriptor adopted = adopt(fd, ec);
    if (ec)
        throw std::system_error(ec, "file_descriptor::adopt");
    return adopted;
}

inline file_descriptor file_descriptor::adopt(int fd, std::error_code& ec) noexcept
{
    // F_GETFD is the cheapest question that fails with EBADF for a number
    // that is not open, and its answer is what F_SETFD needs.
    int flags = fd < 0 ? -1 : ::fcntl(fd, F_GETFD);
    if (flags < 0) {
        ec.assign(fd < 0 ? EBADF : errno, asio::error::get_system_category());
        return file_descriptor();
    }
    if ((flags & FD_CLOEXEC) == 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
        ec.assign(errno, asio::error::get_system_category());
        return file_descriptor();
    }
    ec.clear();
    return file_descriptor(fd);
}

} // namespace unixdgram

#endif // UNIXDGRAM_IMPL_FILE_DESCRIPTOR_HPP
