//
// unixdgram/impl/datagram_socket.hpp
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_IMPL_DATAGRAM_SOCKET_HPP
#define UNIXDGRAM_IMPL_DATAGRAM_SOCKET_HPP

#include <unixdgram/detail/batch_ops.hpp>
#include <unixdgram/detail/reactive_op.hpp>
#include <unixdgram/detail/socket_ops.hpp>

#include <asio/compose.hpp>
#include <asio/detail/socket_ops.hpp>

#include <algorithm>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace unixdgram {

namespace detail {

[[noreturn]] inline void throw_error(const std::error_code& ec, const char* what)
{
    throw std::system_error(ec, what);
}

inline void throw_if(const std::error_code& ec, const char* what)
{
    if (ec)
        throw_error(ec, what);
}

} // namespace detail

inline void post_queued_completions() noexcept
{
    detail::completion_runner::post_queued();
}

inline endpoint make_endpoint(std::string_view path)
{
    std::error_code ec;
    endpoint result = make_endpoint(path, ec);
    detail::throw_if(ec, "make_endpoint");
    return result;
}

inline endpoint make_endpoint(std::string_view path, std::error_code& ec) noexcept
{
    return detail::endpoint_from_name(path.data(), path.size(), ec);
}

// Construction and lifetime ------------------------------------------------

template <typename Executor>
datagram_socket<Executor>::datagram_socket(const executor_type& ex)
    : socket_(ex), destination_wait_(ex)
{
}

template <typename Executor>
template <typename ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
datagram_socket<Executor>::datagram_socket(ExecutionContext& context)
    : datagram_socket(executor_type(context.get_executor()))
{
}

template <typename Executor>
datagram_socket<Executor>::datagram_socket(const executor_type& ex, native_handle_type fd)
    : datagram_socket(ex)
{
    assign(fd);
}

template <typename Executor>
template <typename ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
datagram_socket<Executor>::datagram_socket(ExecutionContext& context, native_handle_type fd)
    : datagram_socket(executor_type(context.get_executor()), fd)
{
}

template <typename Executor>
datagram_socket<Executor>::datagram_socket(datagram_socket&& other) noexcept = default;

template <typename Executor>
datagram_socket<Executor>& datagram_socket<Executor>::operator=(datagram_socket&& other) noexcept =
    default;

template <typename Executor>
datagram_socket<Executor>::~datagram_socket() = default;

template <typename Executor>
typename datagram_socket<Executor>::executor_type datagram_socket<Executor>::get_executor() noexcept
{
    return socket_.get_executor();
}

template <typename Executor>
void datagram_socket<Executor>::open()
{
    std::error_code ec;
    open(ec);
    detail::throw_if(ec, "open");
}

template <typename Executor>
void datagram_socket<Executor>::open(std::error_code& ec)
{
    if (is_open()) {
        ec = asio::error::already_open;
        return;
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ec = detail::last_error();
        return;
    }
    unregistered_.reset(fd);
    ec.clear();
}

template <typename Executor>
void datagram_socket<Executor>::assign(native_handle_type fd)
{
    std::error_code ec;
    assign(fd, ec);
    detail::throw_if(ec, "assign");
}

template <typename Executor>
void datagram_socket<Executor>::assign(native_handle_type fd, std::error_code& ec)
{
    if (is_open()) {
        ec = asio::error::already_open;
        return;
    }
    detail::check_unix_datagram_socket(fd, ec);
    if (ec)
        return;
    // Every system call here is one non-blocking attempt; blocking is done
    // by waiting for readiness, so the descriptor itself must not block.
    int status_flags = ::fcntl(fd, F_GETFL);
    if (status_flags < 0 || ::fcntl(fd, F_SETFL, status_flags | O_NONBLOCK) < 0) {
        ec = detail::last_error();
        return;
    }
    unregistered_.reset(fd);
    ec.clear();
}

template <typename Executor>
bool datagram_socket<Executor>::is_open() const noexcept
{
    return unregistered_ || socket_.is_open();
}

// Before the first wait: the reactor learns of the descriptor once, as it
// would have at open() (epoll reports readiness that is already there).
template <typename Executor>
bool datagram_socket<Executor>::register_with_reactor(std::error_code& ec)
{
    ec.clear();
    if (!unregistered_)
        return true;
    socket_.assign(protocol_type(), unregistered_.get(), ec);
    if (ec)
        return false;
    unregistered_.release();
    return true;
}

template <typename Executor>
void datagram_socket<Executor>::close()
{
    std::error_code ec;
    close(ec);
    detail::throw_if(ec, "close");
}

template <typename Executor>
void datagram_socket<Executor>::close(std::error_code& ec)
{
    destination_wait_.close();
    if (unregistered_)
        unregistered_.close(ec);
    else
        socket_.close(ec);
}

template <typename Executor>
typename datagram_socket<Executor>::native_handle_type datagram_socket<Executor>::release()
{
    std::error_code ec;
    native_handle_type fd = release(ec);
    detail::throw_if(ec, "release");
    return fd;
}

template <typename Executor>
typename datagram_socket<Executor>::native_handle_type
datagram_socket<Executor>::release(std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return -1;
    }
    destination_wait_.close();
    if (unregistered_) {
        ec.clear();
        return unregistered_.release();
    }
    return socket_.release(ec);
}

template <typename Executor>
typename datagram_socket<Executor>::native_handle_type
datagram_socket<Executor>::native_handle() noexcept
{
    return descriptor();
}

template <typename Executor>
void datagram_socket<Executor>::cancel()
{
    std::error_code ec;
    cancel(ec);
    detail::throw_if(ec, "cancel");
}

template <typename Executor>
void datagram_socket<Executor>::cancel(std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    destination_wait_.cancel();
    if (unregistered_)
        ec.clear(); // nothing can be waiting on a descriptor the reactor never saw
    else
        socket_.cancel(ec);
}

// Addresses ----------------------------------------------------------------

template <typename Executor>
void datagram_socket<Executor>::bind(const endpoint_type& local)
{
    std::error_code ec;
    bind(local, ec);
    detail::throw_if(ec, "bind");
}

template <typename Executor>
void datagram_socket<Executor>::bind(const endpoint_type& local, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    asio::detail::socket_ops::bind(descriptor(), local.data(), local.size(), ec);
}

template <typename Executor>
void datagram_socket<Executor>::connect(const endpoint_type& peer)
{
    std::error_code ec;
    connect(peer, ec);
    detail::throw_if(ec, "connect");
}

template <typename Executor>
void datagram_socket<Executor>::connect(const endpoint_type& peer, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    if (::connect(native_handle(), peer.data(), static_cast<socklen_t>(peer.size())) != 0) {
        ec = detail::last_error();
        return;
    }
    ec.clear();
}

template <typename Executor>
void datagram_socket<Executor>::disconnect()
{
    std::error_code ec;
    disconnect(ec);
    detail::throw_if(ec, "disconnect");
}

template <typename Executor>
void datagram_socket<Executor>::disconnect(std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    if (::connect(native_handle(), &unspecified, sizeof(unspecified.sa_family)) != 0) {
        ec = detail::last_error();
        return;
    }
    ec.clear();
}

template <typename Executor>
void datagram_socket<Executor>::shutdown(shutdown_type what)
{
    std::error_code ec;
    shutdown(what, ec);
    detail::throw_if(ec, "shutdown");
}

template <typename Executor>
void datagram_socket<Executor>::shutdown(shutdown_type what, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    asio::detail::socket_ops::shutdown(descriptor(), what, ec);
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type datagram_socket<Executor>::local_endpoint() const
{
    std::error_code ec;
    endpoint_type local = local_endpoint(ec);
    detail::throw_if(ec, "local_endpoint");
    return local;
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type
datagram_socket<Executor>::local_endpoint(std::error_code& ec) const
{
    sockaddr_un address{};
    socklen_t length = sizeof(address);
    if (::getsockname(descriptor(), reinterpret_cast<sockaddr*>(&address), &length) !=
        0) {
        ec = detail::last_error();
        return endpoint_type();
    }
    return detail::endpoint_from_sockaddr(address, length, ec);
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type
datagram_socket<Executor>::remote_endpoint() const
{
    std::error_code ec;
    endpoint_type remote = remote_endpoint(ec);
    detail::throw_if(ec, "remote_endpoint");
    return remote;
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type
datagram_socket<Executor>::remote_endpoint(std::error_code& ec) const
{
    sockaddr_un address{};
    socklen_t length = sizeof(address);
    if (::getpeername(descriptor(), reinterpret_cast<sockaddr*>(&address), &length) !=
        0) {
        ec = detail::last_error();
        return endpoint_type();
    }
    return detail::endpoint_from_sockaddr(address, length, ec);
}

// Options and controls -----------------------------------------------------

template <typename Executor>
template <typename SettableSocketOption>
void datagram_socket<Executor>::set_option(const SettableSocketOption& option)
{
    std::error_code ec;
    set_option(option, ec);
    detail::throw_if(ec, "set_option");
}

template <typename Executor>
template <typename SettableSocketOption>
void datagram_socket<Executor>::set_option(const SettableSocketOption& option, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    // What Asio's socket does, on a descriptor it may not have yet.
    asio::detail::socket_ops::state_type state = 0;
    asio::detail::socket_ops::setsockopt(descriptor(), state, option.level(protocol_type()),
                                         option.name(protocol_type()), option.data(protocol_type()),
                                         option.size(protocol_type()), ec);
}

template <typename Executor>
template <typename GettableSocketOption>
void datagram_socket<Executor>::get_option(GettableSocketOption& option) const
{
    std::error_code ec;
    get_option(option, ec);
    detail::throw_if(ec, "get_option");
}

template <typename Executor>
template <typename GettableSocketOption>
void datagram_socket<Executor>::get_option(GettableSocketOption& option,
                                           std::error_code& ec) const
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    // What Asio's socket does (halving Linux's doubled buffer sizes
    // included), on a descriptor it may not have yet.
    std::size_t size = option.size(protocol_type());
    asio::detail::socket_ops::getsockopt(descriptor(), 0, option.level(protocol_type()),
                                         option.name(protocol_type()), option.data(protocol_type()),
                                         &size, ec);
    if (!ec)
        option.resize(protocol_type(), size);
}

template <typename Executor>
int datagram_socket<Executor>::descriptor() const noexcept
{
    if (unregistered_)
        return unregistered_.get();
    // Asio offers native_handle() only on non-const sockets.
    return const_cast<asio_socket_type&>(socket_).native_handle();
}

template <typename Executor>
std::size_t datagram_socket<Executor>::bytes_readable() const
{
    std::error_code ec;
    std::size_t bytes = bytes_readable(ec);
    detail::throw_if(ec, "bytes_readable");
    return bytes;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::bytes_readable(std::error_code& ec) const
{
    int bytes = 0;
    if (::ioctl(descriptor(), FIONREAD, &bytes) != 0) {
        ec = detail::last_error();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(bytes);
}

template <typename Executor>
credentials datagram_socket<Executor>::peer_credentials() const
{
    std::error_code ec;
    credentials peer = peer_credentials(ec);
    detail::throw_if(ec, "peer_credentials");
    return peer;
}

template <typename Executor>
credentials datagram_socket<Executor>::peer_credentials(std::error_code& ec) const
{
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (::getsockopt(descriptor(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
        ec = detail::last_error();
        return {};
    }
    // Linux records peer credentials for socketpair(2) only; a datagram
    // socket without them reports pid 0.
    if (peer.pid == 0) {
        ec = detail::errno_code(ENOTCONN);
        return {};
    }
    ec.clear();
    return credentials{peer.pid, peer.uid, peer.gid};
}

template <typename Executor>
bool datagram_socket<Executor>::non_blocking() const noexcept
{
    return user_non_blocking_;
}

template <typename Executor>
void datagram_socket<Executor>::non_blocking(bool mode)
{
    std::error_code ec;
    non_blocking(mode, ec);
    detail::throw_if(ec, "non_blocking");
}

template <typename Executor>
void datagram_socket<Executor>::non_blocking(bool mode, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    user_non_blocking_ = mode;
    ec.clear();
}

// Blocking machinery -------------------------------------------------------

template <typename Executor>
std::size_t datagram_socket<Executor>::send_blocking(const detail::iovec_array& iov,
                                                     const endpoint_type* destination,
                                                     std::span<const int> fds,
                                                     message_flags flags, std::error_code& ec)
{
    typename detail::destination_wait<Executor>::ticket waiter;
    for (;;) {
        std::size_t sent =
            detail::send_message(native_handle(), iov, destination, fds, flags, ec);
        const bool would_block = detail::is_would_block(ec);
        destination_wait_.wait_ended(waiter, would_block);
        if (!would_block || user_non_blocking_)
            return sent;
        destination_wait_.wait_for_room(native_handle(), destination, waiter, ec);
        if (ec)
            return 0;
    }
}

template <typename Executor>
void datagram_socket<Executor>::receive_blocking(const detail::iovec_array& iov,
                                                 endpoint_type* sender,
                                                 std::span<file_descriptor> fds,
                                                 bool want_control, message_flags flags,
                                                 receive_result& result, std::error_code& ec)
{
    for (;;) {
        detail::receive_message(native_handle(), iov, sender, fds, want_control, flags, result,
                                ec);
        if (!detail::is_would_block(ec) || user_non_blocking_)
            return;
        if (!detail::poll_for(native_handle(), POLLIN, -1, ec) && ec)
            return;
    }
}

// The synchronous form of what reactive_op does: one attempt, and a blocking
// wait for readiness only on EAGAIN.
template <typename Executor>
template <typename Operation>
void datagram_socket<Executor>::run_blocking(Operation& operation, std::error_code& ec)
{
    typename detail::destination_wait<Executor>::ticket waiter;
    for (;;) {
        operation.attempt(native_handle(), ec);
        const bool would_block = detail::is_would_block(ec);
        if constexpr (!Operation::is_receive)
            destination_wait_.wait_ended(waiter, would_block);
        if (!would_block || user_non_blocking_)
            return;
        if constexpr (Operation::is_receive) {
            if (!detail::poll_for(native_handle(), POLLIN, -1, ec) && ec)
                return;
        } else {
            destination_wait_.wait_for_room(native_handle(), operation.destination, waiter, ec);
            if (ec)
                return;
        }
    }
}

// Synchronous sends and receives -------------------------------------------

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send(const ConstBufferSequence& buffers, message_flags flags)
{
    std::error_code ec;
    std::size_t sent = send(buffers, flags, ec);
    detail::throw_if(ec, "send");
    return sent;
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send(const ConstBufferSequence& buffers, message_flags flags,
                                            std::error_code& ec)
{
    return send_blocking(detail::iovec_array(buffers), nullptr, {}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to(const ConstBufferSequence& buffers,
                                               const endpoint_type& destination,
                                               message_flags flags)
{
    std::error_code ec;
    std::size_t sent = send_to(buffers, destination, flags, ec);
    detail::throw_if(ec, "send_to");
    return sent;
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to(const ConstBufferSequence& buffers,
                                               const endpoint_type& destination,
                                               message_flags flags, std::error_code& ec)
{
    return send_blocking(detail::iovec_array(buffers), &destination, {}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_with_fds(const ConstBufferSequence& buffers,
                                                     std::span<const int> fds,
                                                     message_flags flags)
{
    std::error_code ec;
    std::size_t sent = send_with_fds(buffers, fds, flags, ec);
    detail::throw_if(ec, "send_with_fds");
    return sent;
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_with_fds(const ConstBufferSequence& buffers,
                                                     std::span<const int> fds,
                                                     message_flags flags, std::error_code& ec)
{
    return send_blocking(detail::iovec_array(buffers), nullptr, fds, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to_with_fds(const ConstBufferSequence& buffers,
                                                        const endpoint_type& destination,
                                                        std::span<const int> fds,
                                                        message_flags flags)
{
    std::error_code ec;
    std::size_t sent = send_to_with_fds(buffers, destination, fds, flags, ec);
    detail::throw_if(ec, "send_to_with_fds");
    return sent;
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to_with_fds(const ConstBufferSequence& buffers,
                                                        const endpoint_type& destination,
                                                        std::span<const int> fds,
                                                        message_flags flags, std::error_code& ec)
{
    return send_blocking(detail::iovec_array(buffers), &destination, fds, flags, ec);
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive(const MutableBufferSequence& buffers,
                                               message_flags flags)
{
    std::error_code ec;
    std::size_t received = receive(buffers, flags, ec);
    detail::throw_if(ec, "receive");
    return received;
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive(const MutableBufferSequence& buffers,
                                               message_flags flags, std::error_code& ec)
{
    receive_result result;
    receive_blocking(detail::iovec_array(buffers), nullptr, {}, false, flags, result, ec);
    detail::report_truncation(result, ec);
    return result.bytes;
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive_from(const MutableBufferSequence& buffers,
                                                    endpoint_type& sender, message_flags flags)
{
    std::error_code ec;
    std::size_t received = receive_from(buffers, sender, flags, ec);
    detail::throw_if(ec, "receive_from");
    return received;
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive_from(const MutableBufferSequence& buffers,
                                                    endpoint_type& sender, message_flags flags,
                                                    std::error_code& ec)
{
    receive_result result;
    receive_blocking(detail::iovec_array(buffers), &sender, {}, false, flags, result, ec);
    detail::report_truncation(result, ec);
    return result.bytes;
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_with_fds(const MutableBufferSequence& buffers,
                                                           std::span<file_descriptor> fds,
                                                           message_flags flags)
{
    std::error_code ec;
    receive_result result = receive_with_fds(buffers, fds, flags, ec);
    detail::throw_if(ec, "receive_with_fds");
    return result;
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_with_fds(const MutableBufferSequence& buffers,
                                                           std::span<file_descriptor> fds,
                                                           message_flags flags,
                                                           std::error_code& ec)
{
    receive_result result;
    receive_blocking(detail::iovec_array(buffers), nullptr, fds, true, flags, result, ec);
    return result;
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_from_with_fds(
    const MutableBufferSequence& buffers, std::span<file_descriptor> fds, endpoint_type& sender,
    message_flags flags)
{
    std::error_code ec;
    receive_result result = receive_from_with_fds(buffers, fds, sender, flags, ec);
    detail::throw_if(ec, "receive_from_with_fds");
    return result;
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_from_with_fds(
    const MutableBufferSequence& buffers, std::span<file_descriptor> fds, endpoint_type& sender,
    message_flags flags, std::error_code& ec)
{
    receive_result result;
    receive_blocking(detail::iovec_array(buffers), &sender, fds, true, flags, result, ec);
    return result;
}

// Batches ------------------------------------------------------------------

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(std::span<send_entry> entries,
                                                 message_flags flags)
{
    std::error_code ec;
    std::size_t sent = send_many(entries, flags, ec);
    detail::throw_if(ec, "send_many");
    return sent;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(std::span<send_entry> entries,
                                                 message_flags flags, std::error_code& ec)
{
    detail::send_many_operation operation(entries, flags);
    run_blocking(operation, ec);
    return operation.sent;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::receive_many(std::span<receive_entry> entries,
                                                    message_flags flags)
{
    std::error_code ec;
    std::size_t received = receive_many(entries, flags, ec);
    detail::throw_if(ec, "receive_many");
    return received;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::receive_many(std::span<receive_entry> entries,
                                                    message_flags flags, std::error_code& ec)
{
    detail::receive_many_operation operation(entries, flags);
    run_blocking(operation, ec);
    return operation.received;
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_many(std::span<send_entry> entries,
                                                message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(detail::send_many_operation(entries, flags),
                                                     std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_many(std::span<send_entry> entries, Token&& token)
{
    return async_send_many(entries, 0, std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_many(std::span<receive_entry> entries,
                                                   message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::receive_many_operation(entries, flags), std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_many(std::span<receive_entry> entries,
                                                   Token&& token)
{
    return async_receive_many(entries, 0, std::forward<Token>(token));
}

// Asynchronous operations --------------------------------------------------

template <typename Executor>
template <typename Signature, typename Operation, typename Token>
auto datagram_socket<Executor>::start(Operation&& operation, Token&& token)
{
    return asio::async_initiate<Token, Signature>(
        detail::reactive_initiation<Executor, Signature>(*this), token,
        std::forward<Operation>(operation));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send(const ConstBufferSequence& buffers,
                                           message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::send_operation<ConstBufferSequence>(buffers, std::nullopt, {}, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send(const ConstBufferSequence& buffers, Token&& token)
{
    return async_send(buffers, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to(const ConstBufferSequence& buffers,
                                              const endpoint_type& destination,
                                              message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::send_operation<ConstBufferSequence>(buffers, destination, {}, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to(const ConstBufferSequence& buffers,
                                              const endpoint_type& destination, Token&& token)
{
    return async_send_to(buffers, destination, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_with_fds(const ConstBufferSequence& buffers,
                                                    std::span<const int> fds,
                                                    message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::send_operation<ConstBufferSequence>(buffers, std::nullopt, fds, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_with_fds(const ConstBufferSequence& buffers,
                                                    std::span<const int> fds, Token&& token)
{
    return async_send_with_fds(buffers, fds, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to_with_fds(const ConstBufferSequence& buffers,
                                                       const endpoint_type& destination,
                                                       std::span<const int> fds,
                                                       message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::send_operation<ConstBufferSequence>(buffers, destination, fds, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to_with_fds(const ConstBufferSequence& buffers,
                                                       const endpoint_type& destination,
                                                       std::span<const int> fds, Token&& token)
{
    return async_send_to_with_fds(buffers, destination, fds, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive(const MutableBufferSequence& buffers,
                                              message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::receive_operation<MutableBufferSequence, false>(buffers, nullptr, {}, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive(const MutableBufferSequence& buffers, Token&& token)
{
    return async_receive(buffers, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_from(const MutableBufferSequence& buffers,
                                                   endpoint_type& sender, message_flags flags,
                                                   Token&& token)
{
    return start<void(std::error_code, std::size_t)>(
        detail::receive_operation<MutableBufferSequence, false>(buffers, &sender, {}, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_from(const MutableBufferSequence& buffers,
                                                   endpoint_type& sender, Token&& token)
{
    return async_receive_from(buffers, sender, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_with_fds(const MutableBufferSequence& buffers,
                                                       std::span<file_descriptor> fds,
                                                       message_flags flags, Token&& token)
{
    return start<void(std::error_code, receive_result)>(
        detail::receive_operation<MutableBufferSequence, true>(buffers, nullptr, fds, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_with_fds(const MutableBufferSequence& buffers,
                                                       std::span<file_descriptor> fds,
                                                       Token&& token)
{
    return async_receive_with_fds(buffers, fds, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_from_with_fds(const MutableBufferSequence& buffers,
                                                            std::span<file_descriptor> fds,
                                                            endpoint_type& sender,
                                                            message_flags flags, Token&& token)
{
    return start<void(std::error_code, receive_result)>(
        detail::receive_operation<MutableBufferSequence, true>(buffers, &sender, fds, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_from_with_fds(const MutableBufferSequence& buffers,
                                                            std::span<file_descriptor> fds,
                                                            endpoint_type& sender, Token&& token)
{
    return async_receive_from_with_fds(buffers, fds, sender, 0, std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code)> Token>
auto datagram_socket<Executor>::async_wait(wait_type what, Token&& token)
{
    // A failed registration leaves the descriptor out of socket_, whose wait
    // then completes with bad_descriptor, as on a closed socket.
    std::error_code ignored;
    register_with_reactor(ignored);
    return socket_.async_wait(what, std::forward<Token>(token));
}

// Pairs --------------------------------------------------------------------

template <typename Executor>
void connect_pair(datagram_socket<Executor>& first, datagram_socket<Executor>& second)
{
    std::error_code ec;
    connect_pair(first, second, ec);
    detail::throw_if(ec, "connect_pair");
}

template <typename Executor>
void connect_pair(datagram_socket<Executor>& first, datagram_socket<Executor>& second,
                  std::error_code& ec)
{
    if (first.is_open() || second.is_open()) {
        ec = asio::error::already_open;
        return;
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
        ec = detail::last_error();
        return;
    }
    first.assign(fds[0], ec);
    if (!ec)
        second.assign(fds[1], ec);
    if (ec) {
        std::error_code ignored;
        if (first.is_open())
            first.close(ignored);
        else
            ::close(fds[0]);
        ::close(fds[1]);
    }
}

} // namespace unixdgram

#endif // UNIXDGRAM_IMPL_DATAGRAM_SOCKET_HPP
