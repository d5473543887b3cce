//
// unixdgram/impl/datagram_socket.hpp
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_IMPL_DATAGRAM_SOCKET_HPP
#define UNIXDGRAM_IMPL_DATAGRAM_SOCKET_HPP

#include <unixdgram/detail/batch_ops.hpp>
#include <unixdgram/detail/reactive_op.hpp>
#include <unixdgram/detail/run_blocking.hpp>
#include <unixdgram/detail/socket_impl.hpp>
#include <unixdgram/detail/socket_ops.hpp>

#include <asio/compose.hpp>
#include <asio/detail/socket_ops.hpp>

#include <algorithm>
#include <fcntl.h>
#include <memory>
#include <new>
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

// Runs the std::error_code& form `call` and throws what it reports: the
// throwing form of every operation.
template <typename Call>
auto or_throw(const char* what, Call&& call)
{
    std::error_code ec;
    if constexpr (std::is_void_v<decltype(call(ec))>) {
        call(ec);
        throw_if(ec, what);
    } else {
        auto result = call(ec);
        throw_if(ec, what);
        return result;
    }
}

} // namespace detail

inline void post_queued_completions() noexcept
{
    detail::completion_runner::post_queued();
}

inline endpoint make_endpoint(std::string_view path)
{
    return detail::or_throw("make_endpoint",
                            [&](std::error_code& ec) { return make_endpoint(path, ec); });
}

inline endpoint make_endpoint(std::string_view path, std::error_code& ec) noexcept
{
    return detail::endpoint_from_name(path.data(), path.size(), ec);
}

// Construction and lifetime ------------------------------------------------

template <typename Executor>
datagram_socket<Executor>::datagram_socket(const executor_type& ex) : executor_(ex)
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
datagram_socket<Executor>::datagram_socket(datagram_socket&& other) noexcept
    : executor_(other.executor_), impl_(std::move(other.impl_))
{
}

template <typename Executor>
datagram_socket<Executor>& datagram_socket<Executor>::operator=(datagram_socket&& other) noexcept
{
    if (this != &other) {
        impl_ = std::move(other.impl_);
        executor_ = other.executor_;
    }
    return *this;
}

template <typename Executor>
datagram_socket<Executor>::~datagram_socket() = default;

template <typename Executor>
typename datagram_socket<Executor>::executor_type datagram_socket<Executor>::get_executor() noexcept
{
    return executor_;
}

// A socket gets its state when first opened (and again after a move took it
// away); reopening a closed socket reuses it.
template <typename Executor>
bool datagram_socket<Executor>::make_impl(std::error_code& ec)
{
    if (impl_)
        return true;
    try {
        impl_ = std::make_shared<detail::socket_impl<Executor>>(executor_);
        return true;
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return false;
    }
}

template <typename Executor>
void datagram_socket<Executor>::open()
{
    detail::or_throw("open", [&](std::error_code& ec) { open(ec); });
}

template <typename Executor>
void datagram_socket<Executor>::open(std::error_code& ec)
{
    if (is_open()) {
        ec = asio::error::already_open;
        return;
    }
    if (!make_impl(ec))
        return;
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ec = detail::last_error();
        return;
    }
    impl_->unregistered.reset(fd);
    ec.clear();
}

template <typename Executor>
void datagram_socket<Executor>::assign(native_handle_type fd)
{
    detail::or_throw("assign", [&](std::error_code& ec) { assign(fd, ec); });
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
    if (!make_impl(ec))
        return;
    impl_->unregistered.reset(fd);
    ec.clear();
}

template <typename Executor>
bool datagram_socket<Executor>::is_open() const noexcept
{
    return impl_ && impl_->is_open();
}

template <typename Executor>
void datagram_socket<Executor>::close()
{
    detail::or_throw("close", [&](std::error_code& ec) { close(ec); });
}

template <typename Executor>
void datagram_socket<Executor>::close(std::error_code& ec)
{
    ec.clear();
    if (!impl_)
        return;
    impl_->waits.close();
    if (impl_->unregistered)
        impl_->unregistered.close(ec);
    else
        impl_->socket.close(ec);
}

template <typename Executor>
typename datagram_socket<Executor>::native_handle_type datagram_socket<Executor>::release()
{
    return detail::or_throw("release", [&](std::error_code& ec) { return release(ec); });
}

template <typename Executor>
typename datagram_socket<Executor>::native_handle_type
datagram_socket<Executor>::release(std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return -1;
    }
    impl_->waits.close();
    if (impl_->unregistered) {
        ec.clear();
        return impl_->unregistered.release();
    }
    return impl_->socket.release(ec);
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
    detail::or_throw("cancel", [&](std::error_code& ec) { cancel(ec); });
}

template <typename Executor>
void datagram_socket<Executor>::cancel(std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    impl_->waits.cancel();
    if (impl_->unregistered)
        ec.clear(); // nothing can be waiting on a descriptor the reactor never saw
    else
        impl_->socket.cancel(ec);
}

// Addresses ----------------------------------------------------------------

template <typename Executor>
void datagram_socket<Executor>::bind(const endpoint_type& local)
{
    detail::or_throw("bind", [&](std::error_code& ec) { bind(local, ec); });
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
    detail::or_throw("connect", [&](std::error_code& ec) { connect(peer, ec); });
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
    detail::or_throw("disconnect", [&](std::error_code& ec) { disconnect(ec); });
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
    detail::or_throw("shutdown", [&](std::error_code& ec) { shutdown(what, ec); });
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
    return detail::or_throw("local_endpoint",
                            [&](std::error_code& ec) { return local_endpoint(ec); });
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type
datagram_socket<Executor>::local_endpoint(std::error_code& ec) const
{
    return detail::socket_name(::getsockname, descriptor(), ec);
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type datagram_socket<Executor>::remote_endpoint() const
{
    return detail::or_throw("remote_endpoint",
                            [&](std::error_code& ec) { return remote_endpoint(ec); });
}

template <typename Executor>
typename datagram_socket<Executor>::endpoint_type
datagram_socket<Executor>::remote_endpoint(std::error_code& ec) const
{
    return detail::socket_name(::getpeername, descriptor(), ec);
}

// Options and controls -----------------------------------------------------

template <typename Executor>
template <typename SettableSocketOption>
void datagram_socket<Executor>::set_option(const SettableSocketOption& option)
{
    detail::or_throw("set_option", [&](std::error_code& ec) { set_option(option, ec); });
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
    detail::or_throw("get_option", [&](std::error_code& ec) { get_option(option, ec); });
}

template <typename Executor>
template <typename GettableSocketOption>
void datagram_socket<Executor>::get_option(GettableSocketOption& option, std::error_code& ec) const
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
    return impl_ ? impl_->descriptor() : -1;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::bytes_readable() const
{
    return detail::or_throw("bytes_readable",
                            [&](std::error_code& ec) { return bytes_readable(ec); });
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
    return detail::or_throw("peer_credentials",
                            [&](std::error_code& ec) { return peer_credentials(ec); });
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
file_descriptor datagram_socket<Executor>::peer_pidfd() const
{
    return detail::or_throw("peer_pidfd", [&](std::error_code& ec) { return peer_pidfd(ec); });
}

template <typename Executor>
file_descriptor datagram_socket<Executor>::peer_pidfd(std::error_code& ec) const
{
    int pidfd = -1;
    socklen_t length = sizeof(pidfd);
    if (::getsockopt(descriptor(), SOL_SOCKET, detail::so_peerpidfd, &pidfd, &length) != 0) {
        ec = detail::peer_pidfd_error(errno);
        return {};
    }
    ec.clear();
    return file_descriptor(pidfd);
}

template <typename Executor>
bool datagram_socket<Executor>::non_blocking() const noexcept
{
    return impl_ && impl_->user_non_blocking;
}

template <typename Executor>
void datagram_socket<Executor>::non_blocking(bool mode)
{
    detail::or_throw("non_blocking", [&](std::error_code& ec) { non_blocking(mode, ec); });
}

template <typename Executor>
void datagram_socket<Executor>::non_blocking(bool mode, std::error_code& ec)
{
    if (!is_open()) {
        ec = asio::error::bad_descriptor;
        return;
    }
    impl_->user_non_blocking = mode;
    ec.clear();
}

// The blocking loop --------------------------------------------------------

// Every blocking send and receive, batches included, runs in the one
// blocking loop (detail/run_blocking.hpp).
template <typename Executor>
template <typename Operation>
void datagram_socket<Executor>::run_blocking(Operation& operation, std::error_code& ec,
                                             detail::first_step first)
{
    if (!impl_) {
        ec = asio::error::bad_descriptor;
        return;
    }
    detail::run_blocking(impl_->descriptor(), operation, &impl_->waits,
                         {.first = first, .may_wait = !impl_->user_non_blocking}, ec);
}

// Messages -----------------------------------------------------------------

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_message(const ConstBufferSequence& buffers,
                                                    const endpoint_type* destination,
                                                    const send_control& control,
                                                    message_flags flags)
{
    return detail::or_throw("send_message", [&](std::error_code& ec) {
        return send_message(buffers, destination, control, flags, ec);
    });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_message(const ConstBufferSequence& buffers,
                                                    const endpoint_type* destination,
                                                    const send_control& control,
                                                    message_flags flags, std::error_code& ec)
{
    return send_message_from(detail::first_step::attempt, buffers, destination, control, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_message_from(detail::first_step first,
                                                         const ConstBufferSequence& buffers,
                                                         const endpoint_type* destination,
                                                         const send_control& control,
                                                         message_flags flags, std::error_code& ec)
{
    detail::send_operation<ConstBufferSequence, const endpoint_type*> operation(
        buffers, destination, control, flags);
    run_blocking(operation, ec, first);
    return operation.sent;
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::try_send_message(const ConstBufferSequence& buffers,
                                                        const endpoint_type* destination,
                                                        const send_control& control,
                                                        message_flags flags,
                                                        std::error_code& ec) noexcept
{
    detail::send_operation<ConstBufferSequence, const endpoint_type*> operation(
        buffers, destination, control, flags);
    operation.attempt(native_handle(), ec);
    return operation.sent;
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_message(const ConstBufferSequence& buffers,
                                                   const endpoint_type* destination,
                                                   const send_control& control, message_flags flags,
                                                   Token&& token)
{
    return async_send_message_from(detail::first_step::attempt, buffers, destination, control,
                                   flags, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence, typename Token>
auto datagram_socket<Executor>::async_send_message_from(detail::first_step first,
                                                        const ConstBufferSequence& buffers,
                                                        const endpoint_type* destination,
                                                        const send_control& control,
                                                        message_flags flags, Token&& token)
{
    std::optional<endpoint_type> copied_destination;
    if (destination)
        copied_destination.emplace(*destination);
    return start<void(std::error_code, std::size_t)>(
        detail::send_operation<ConstBufferSequence, std::optional<endpoint_type>>(
            buffers, std::move(copied_destination), control, flags),
        std::forward<Token>(token), first);
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t
datagram_socket<Executor>::send_message(after_would_block_t, const ConstBufferSequence& buffers,
                                        const endpoint_type* destination,
                                        const send_control& control, message_flags flags)
{
    return detail::or_throw("send_message", [&](std::error_code& ec) {
        return send_message(after_would_block, buffers, destination, control, flags, ec);
    });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_message(after_would_block_t,
                                                    const ConstBufferSequence& buffers,
                                                    const endpoint_type* destination,
                                                    const send_control& control,
                                                    message_flags flags, std::error_code& ec)
{
    return send_message_from(detail::first_step::wait, buffers, destination, control, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_message(after_would_block_t,
                                                   const ConstBufferSequence& buffers,
                                                   const endpoint_type* destination,
                                                   const send_control& control, message_flags flags,
                                                   Token&& token)
{
    return async_send_message_from(detail::first_step::wait, buffers, destination, control, flags,
                                   std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_message(const MutableBufferSequence& buffers,
                                                          endpoint_type* sender,
                                                          std::span<file_descriptor> fds,
                                                          message_flags flags)
{
    return detail::or_throw("receive_message", [&](std::error_code& ec) {
        return receive_message(buffers, sender, fds, flags, ec);
    });
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_message(const MutableBufferSequence& buffers,
                                                          endpoint_type* sender,
                                                          std::span<file_descriptor> fds,
                                                          message_flags flags, std::error_code& ec)
{
    detail::receive_operation<MutableBufferSequence, true> operation(buffers, sender, fds, flags);
    run_blocking(operation, ec);
    return std::move(operation.result);
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::try_receive_message(const MutableBufferSequence& buffers,
                                                              endpoint_type* sender,
                                                              std::span<file_descriptor> fds,
                                                              message_flags flags,
                                                              std::error_code& ec) noexcept
{
    detail::receive_operation<MutableBufferSequence, true> operation(buffers, sender, fds, flags);
    operation.attempt(native_handle(), ec);
    return std::move(operation.result);
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_message(const MutableBufferSequence& buffers,
                                                      endpoint_type* sender,
                                                      std::span<file_descriptor> fds,
                                                      message_flags flags, Token&& token)
{
    return start<void(std::error_code, receive_result)>(
        detail::receive_operation<MutableBufferSequence, true>(buffers, sender, fds, flags),
        std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_message(after_would_block_t,
                                                          const MutableBufferSequence& buffers,
                                                          endpoint_type* sender,
                                                          std::span<file_descriptor> fds,
                                                          message_flags flags)
{
    return detail::or_throw("receive_message", [&](std::error_code& ec) {
        return receive_message(after_would_block, buffers, sender, fds, flags, ec);
    });
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_message(after_would_block_t,
                                                          const MutableBufferSequence& buffers,
                                                          endpoint_type* sender,
                                                          std::span<file_descriptor> fds,
                                                          message_flags flags, std::error_code& ec)
{
    detail::receive_operation<MutableBufferSequence, true> operation(buffers, sender, fds, flags);
    run_blocking(operation, ec, detail::first_step::wait);
    return std::move(operation.result);
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_message(after_would_block_t,
                                                      const MutableBufferSequence& buffers,
                                                      endpoint_type* sender,
                                                      std::span<file_descriptor> fds,
                                                      message_flags flags, Token&& token)
{
    return start<void(std::error_code, receive_result)>(
        detail::receive_operation<MutableBufferSequence, true>(buffers, sender, fds, flags),
        std::forward<Token>(token), detail::first_step::wait);
}

// The named sends and receives: messages with parts left out ----------------

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send(const ConstBufferSequence& buffers, message_flags flags)
{
    return detail::or_throw("send", [&](std::error_code& ec) { return send(buffers, flags, ec); });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send(const ConstBufferSequence& buffers, message_flags flags,
                                            std::error_code& ec)
{
    return send_message(buffers, nullptr, {}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send(const ConstBufferSequence& buffers, message_flags flags,
                                           Token&& token)
{
    return async_send_message(buffers, nullptr, {}, flags, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send(const ConstBufferSequence& buffers, Token&& token)
{
    return async_send(buffers, 0, std::forward<Token>(token));
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to(const ConstBufferSequence& buffers,
                                               const endpoint_type& destination,
                                               message_flags flags)
{
    return detail::or_throw(
        "send_to", [&](std::error_code& ec) { return send_to(buffers, destination, flags, ec); });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to(const ConstBufferSequence& buffers,
                                               const endpoint_type& destination,
                                               message_flags flags, std::error_code& ec)
{
    return send_message(buffers, &destination, {}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to(const ConstBufferSequence& buffers,
                                              const endpoint_type& destination, message_flags flags,
                                              Token&& token)
{
    return async_send_message(buffers, &destination, {}, flags, std::forward<Token>(token));
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
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_with_fds(const ConstBufferSequence& buffers,
                                                     std::span<const int> fds, message_flags flags)
{
    return detail::or_throw("send_with_fds", [&](std::error_code& ec) {
        return send_with_fds(buffers, fds, flags, ec);
    });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_with_fds(const ConstBufferSequence& buffers,
                                                     std::span<const int> fds, message_flags flags,
                                                     std::error_code& ec)
{
    return send_message(buffers, nullptr, {.fds = fds}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_with_fds(const ConstBufferSequence& buffers,
                                                    std::span<const int> fds, message_flags flags,
                                                    Token&& token)
{
    return async_send_message(buffers, nullptr, {.fds = fds}, flags, std::forward<Token>(token));
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
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to_with_fds(const ConstBufferSequence& buffers,
                                                        const endpoint_type& destination,
                                                        std::span<const int> fds,
                                                        message_flags flags)
{
    return detail::or_throw("send_to_with_fds", [&](std::error_code& ec) {
        return send_to_with_fds(buffers, destination, fds, flags, ec);
    });
}

template <typename Executor>
template <typename ConstBufferSequence>
std::size_t datagram_socket<Executor>::send_to_with_fds(const ConstBufferSequence& buffers,
                                                        const endpoint_type& destination,
                                                        std::span<const int> fds,
                                                        message_flags flags, std::error_code& ec)
{
    return send_message(buffers, &destination, {.fds = fds}, flags, ec);
}

template <typename Executor>
template <typename ConstBufferSequence,
          asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_to_with_fds(const ConstBufferSequence& buffers,
                                                       const endpoint_type& destination,
                                                       std::span<const int> fds,
                                                       message_flags flags, Token&& token)
{
    return async_send_message(buffers, &destination, {.fds = fds}, flags,
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

// receive and receive_from take the bytes alone: recvfrom(2), which costs
// less than recvmsg, and no control data.
template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive(const MutableBufferSequence& buffers,
                                               message_flags flags)
{
    return detail::or_throw("receive",
                            [&](std::error_code& ec) { return receive(buffers, flags, ec); });
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive(const MutableBufferSequence& buffers,
                                               message_flags flags, std::error_code& ec)
{
    detail::receive_operation<MutableBufferSequence, false> operation(buffers, nullptr, {}, flags);
    run_blocking(operation, ec);
    detail::report_truncation(operation.result, ec);
    return operation.result.bytes;
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
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive_from(const MutableBufferSequence& buffers,
                                                    endpoint_type& sender, message_flags flags)
{
    return detail::or_throw("receive_from", [&](std::error_code& ec) {
        return receive_from(buffers, sender, flags, ec);
    });
}

template <typename Executor>
template <typename MutableBufferSequence>
std::size_t datagram_socket<Executor>::receive_from(const MutableBufferSequence& buffers,
                                                    endpoint_type& sender, message_flags flags,
                                                    std::error_code& ec)
{
    detail::receive_operation<MutableBufferSequence, false> operation(buffers, &sender, {}, flags);
    run_blocking(operation, ec);
    detail::report_truncation(operation.result, ec);
    return operation.result.bytes;
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
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_with_fds(const MutableBufferSequence& buffers,
                                                           std::span<file_descriptor> fds,
                                                           message_flags flags)
{
    return detail::or_throw("receive_with_fds", [&](std::error_code& ec) {
        return receive_with_fds(buffers, fds, flags, ec);
    });
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_with_fds(const MutableBufferSequence& buffers,
                                                           std::span<file_descriptor> fds,
                                                           message_flags flags, std::error_code& ec)
{
    return receive_message(buffers, nullptr, fds, flags, ec);
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_with_fds(const MutableBufferSequence& buffers,
                                                       std::span<file_descriptor> fds,
                                                       message_flags flags, Token&& token)
{
    return async_receive_message(buffers, nullptr, fds, flags, std::forward<Token>(token));
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
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_from_with_fds(
    const MutableBufferSequence& buffers, endpoint_type& sender, std::span<file_descriptor> fds,
    message_flags flags)
{
    return detail::or_throw("receive_from_with_fds", [&](std::error_code& ec) {
        return receive_from_with_fds(buffers, sender, fds, flags, ec);
    });
}

template <typename Executor>
template <typename MutableBufferSequence>
receive_result datagram_socket<Executor>::receive_from_with_fds(
    const MutableBufferSequence& buffers, endpoint_type& sender, std::span<file_descriptor> fds,
    message_flags flags, std::error_code& ec)
{
    return receive_message(buffers, &sender, fds, flags, ec);
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_from_with_fds(const MutableBufferSequence& buffers,
                                                            endpoint_type& sender,
                                                            std::span<file_descriptor> fds,
                                                            message_flags flags, Token&& token)
{
    return async_receive_message(buffers, &sender, fds, flags, std::forward<Token>(token));
}

template <typename Executor>
template <typename MutableBufferSequence,
          asio::completion_token_for<void(std::error_code, receive_result)> Token>
auto datagram_socket<Executor>::async_receive_from_with_fds(const MutableBufferSequence& buffers,
                                                            endpoint_type& sender,
                                                            std::span<file_descriptor> fds,
                                                            Token&& token)
{
    return async_receive_from_with_fds(buffers, sender, fds, 0, std::forward<Token>(token));
}

// Batches ------------------------------------------------------------------

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(std::span<send_entry> entries, message_flags flags)
{
    return detail::or_throw("send_many",
                            [&](std::error_code& ec) { return send_many(entries, flags, ec); });
}

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(std::span<send_entry> entries, message_flags flags,
                                                 std::error_code& ec)
{
    detail::send_many_operation operation(entries, flags);
    run_blocking(operation, ec);
    return operation.sent;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(after_would_block_t, std::span<send_entry> entries,
                                                 message_flags flags)
{
    return detail::or_throw("send_many", [&](std::error_code& ec) {
        return send_many(after_would_block, entries, flags, ec);
    });
}

template <typename Executor>
std::size_t datagram_socket<Executor>::send_many(after_would_block_t, std::span<send_entry> entries,
                                                 message_flags flags, std::error_code& ec)
{
    detail::send_many_operation operation(entries, flags);
    run_blocking(operation, ec, detail::first_step::wait);
    return operation.sent;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::receive_many(std::span<receive_entry> entries,
                                                    message_flags flags)
{
    return detail::or_throw("receive_many",
                            [&](std::error_code& ec) { return receive_many(entries, flags, ec); });
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
std::size_t datagram_socket<Executor>::receive_many(after_would_block_t,
                                                    std::span<receive_entry> entries,
                                                    message_flags flags)
{
    return detail::or_throw("receive_many", [&](std::error_code& ec) {
        return receive_many(after_would_block, entries, flags, ec);
    });
}

template <typename Executor>
std::size_t datagram_socket<Executor>::receive_many(after_would_block_t,
                                                    std::span<receive_entry> entries,
                                                    message_flags flags, std::error_code& ec)
{
    detail::receive_many_operation operation(entries, flags);
    run_blocking(operation, ec, detail::first_step::wait);
    return operation.received;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::try_send_many(std::span<send_entry> entries,
                                                     message_flags flags,
                                                     std::error_code& ec) noexcept
{
    detail::send_many_operation operation(entries, flags);
    operation.attempt(native_handle(), ec);
    return operation.sent;
}

template <typename Executor>
std::size_t datagram_socket<Executor>::try_receive_many(std::span<receive_entry> entries,
                                                        message_flags flags,
                                                        std::error_code& ec) noexcept
{
    detail::receive_many_operation operation(entries, flags);
    operation.attempt(native_handle(), ec);
    return operation.received;
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_send_many(std::span<send_entry> entries, message_flags flags,
                                                Token&& token)
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
auto datagram_socket<Executor>::async_send_many(after_would_block_t, std::span<send_entry> entries,
                                                message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(detail::send_many_operation(entries, flags),
                                                     std::forward<Token>(token),
                                                     detail::first_step::wait);
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_many(std::span<receive_entry> entries,
                                                   message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(detail::receive_many_operation(entries, flags),
                                                     std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_many(std::span<receive_entry> entries, Token&& token)
{
    return async_receive_many(entries, 0, std::forward<Token>(token));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code, std::size_t)> Token>
auto datagram_socket<Executor>::async_receive_many(after_would_block_t,
                                                   std::span<receive_entry> entries,
                                                   message_flags flags, Token&& token)
{
    return start<void(std::error_code, std::size_t)>(detail::receive_many_operation(entries, flags),
                                                     std::forward<Token>(token),
                                                     detail::first_step::wait);
}

// Asynchronous machinery -----------------------------------------------------

template <typename Executor>
template <typename Signature, typename Operation, typename Token>
auto datagram_socket<Executor>::start(Operation&& operation, Token&& token,
                                      detail::first_step first)
{
    return asio::async_initiate<Token, Signature>(
        detail::reactive_initiation<Executor, Signature>(executor_, impl_, first), token,
        std::forward<Operation>(operation));
}

template <typename Executor>
template <asio::completion_token_for<void(std::error_code)> Token>
auto datagram_socket<Executor>::async_wait(wait_type what, Token&& token)
{
    // A failed registration leaves the descriptor out of the Asio socket,
    // whose wait then completes with bad_descriptor, as on a closed socket.
    std::error_code ignored;
    if (!make_impl(ignored))
        throw std::bad_alloc();
    impl_->register_with_reactor(ignored);
    return impl_->socket.async_wait(what, std::forward<Token>(token));
}

// Pairs --------------------------------------------------------------------

template <typename Executor>
void connect_pair(datagram_socket<Executor>& first, datagram_socket<Executor>& second)
{
    detail::or_throw("connect_pair", [&](std::error_code& ec) { connect_pair(first, second, ec); });
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
