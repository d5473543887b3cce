//
// unixdgram/detail/socket_impl.hpp — the state of an open datagram_socket,
// which its pending operations reach instead of the socket object.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_DETAIL_SOCKET_IMPL_HPP
#define UNIXDGRAM_DETAIL_SOCKET_IMPL_HPP

#include <unixdgram/detail/destination_wait.hpp>
#include <unixdgram/file_descriptor.hpp>

#include <asio/basic_datagram_socket.hpp>
#include <asio/local/datagram_protocol.hpp>

#include <memory>
#include <system_error>

namespace unixdgram::detail {

// On the heap, so that it stays where it is when the socket object moves:
// moving or move-assigning the socket hands it over, pending operations and
// all (as Beast's streams hand over their impl). An operation that waits
// holds a weak reference to it and tries it again only while it lives:
// destroying it closes the descriptor, which ends the waits still pending
// with operation_aborted, but a wait that had ended already (it was
// cancelled on its own, or its readiness was queued) has its handler run
// afterwards all the same.
template <typename Executor>
struct socket_impl : std::enable_shared_from_this<socket_impl<Executor>> {
    explicit socket_impl(const Executor& executor) : socket(executor), waits(executor) {}

    socket_impl(const socket_impl&) = delete;
    socket_impl& operator=(const socket_impl&) = delete;

    // The open descriptor lives here until the first wait for readiness,
    // then in `socket`. Asio registers a socket with epoll when it gets its
    // descriptor, and from then on the kernel runs epoll's wakeup callback
    // for every datagram queued or freed, waited for or not; a socket whose
    // calls never block need not pay for that.
    file_descriptor unregistered;
    asio::basic_datagram_socket<asio::local::datagram_protocol, Executor> socket;
    // Where sends wait for room (see destination_wait.hpp), so that cancel()
    // and close() reach those waits too; its epoch() tells every waiting
    // operation whether they ran since it started.
    destination_wait<Executor> waits;
    bool user_non_blocking = false;

    bool is_open() const noexcept { return unregistered || socket.is_open(); }

    int descriptor() const noexcept
    {
        if (unregistered)
            return unregistered.get();
        // Asio offers native_handle() only on non-const sockets.
        return const_cast<socket_impl*>(this)->socket.native_handle();
    }

    // Before the first wait: the reactor learns of the descriptor once, as
    // it would have at open() (epoll reports readiness that is already there).
    bool register_with_reactor(std::error_code& ec)
    {
        ec.clear();
        if (!unregistered)
            return true;
        socket.assign(asio::local::datagram_protocol(), unregistered.get(), ec);
        if (ec)
            return false;
        unregistered.release();
        return true;
    }
};

} // namespace unixdgram::detail

#endif // UNIXDGRAM_DETAIL_SOCKET_IMPL_HPP
