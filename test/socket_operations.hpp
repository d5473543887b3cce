//
// socket_operations.hpp — the sends and receives of a datagram socket as
// operations of completion_forms.hpp, written once: each keeps a copy of
// its buffers, spans and send_control and a pointer to its socket and to
// the endpoints it names, which must outlive the operation.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_SOCKET_OPERATIONS_HPP
#define UNIXDGRAM_TEST_SOCKET_OPERATIONS_HPP

#include "completion_forms.hpp"

#include <unixdgram/file_descriptor.hpp>
#include <unixdgram/message.hpp>

#include <span>
#include <system_error>
#include <utility>

namespace unixdgram_test {

template <typename Socket, typename Buffers>
auto send_operation(Socket& socket, Buffers buffers)
{
    return operation{[to = &socket, buffers](auto&&... tail) {
                         return to->send(buffers, std::forward<decltype(tail)>(tail)...);
                     },
                     [to = &socket, buffers](auto&& token) {
                         return to->async_send(buffers, std::forward<decltype(token)>(token));
                     }};
}

template <typename Socket, typename Buffers>
auto send_to_operation(Socket& socket, Buffers buffers,
                       const typename Socket::endpoint_type& destination)
{
    return operation{[to = &socket, buffers, at = &destination](auto&&... tail) {
                         return to->send_to(buffers, *at, std::forward<decltype(tail)>(tail)...);
                     },
                     [to = &socket, buffers, at = &destination](auto&& token) {
                         return to->async_send_to(buffers, *at,
                                                  std::forward<decltype(token)>(token));
                     }};
}

template <typename Socket, typename Buffers>
auto send_with_fds_operation(Socket& socket, Buffers buffers, std::span<const int> fds)
{
    return operation{
        [to = &socket, buffers, fds](auto&&... tail) {
            return to->send_with_fds(buffers, fds, std::forward<decltype(tail)>(tail)...);
        },
        [to = &socket, buffers, fds](auto&& token) {
            return to->async_send_with_fds(buffers, fds, std::forward<decltype(token)>(token));
        }};
}

template <typename Socket, typename Buffers>
auto send_to_with_fds_operation(Socket& socket, Buffers buffers,
                                const typename Socket::endpoint_type& destination,
                                std::span<const int> fds)
{
    return operation{[to = &socket, buffers, at = &destination, fds](auto&&... tail) {
                         return to->send_to_with_fds(buffers, *at, fds,
                                                     std::forward<decltype(tail)>(tail)...);
                     },
                     [to = &socket, buffers, at = &destination, fds](auto&& token) {
                         return to->async_send_to_with_fds(buffers, *at, fds,
                                                           std::forward<decltype(token)>(token));
                     }};
}

/// send_message, with its single attempt (try_send_message) too.
template <typename Socket, typename Buffers>
auto send_message_operation(Socket& socket, Buffers buffers,
                            const typename Socket::endpoint_type* destination,
                            unixdgram::send_control control)
{
    return operation{[to = &socket, buffers, destination, control](auto&&... tail) {
                         return to->send_message(buffers, destination, control,
                                                 std::forward<decltype(tail)>(tail)...);
                     },
                     [to = &socket, buffers, destination, control](auto&& token) {
                         return to->async_send_message(buffers, destination, control, 0,
                                                       std::forward<decltype(token)>(token));
                     },
                     [to = &socket, buffers, destination,
                      control](typename Socket::message_flags flags, std::error_code& ec) {
                         return to->try_send_message(buffers, destination, control, flags, ec);
                     }};
}

template <typename Socket, typename Buffers>
auto receive_operation(Socket& socket, Buffers buffers)
{
    return operation{[at = &socket, buffers](auto&&... tail) {
                         return at->receive(buffers, std::forward<decltype(tail)>(tail)...);
                     },
                     [at = &socket, buffers](auto&& token) {
                         return at->async_receive(buffers, std::forward<decltype(token)>(token));
                     }};
}

template <typename Socket, typename Buffers>
auto receive_from_operation(Socket& socket, Buffers buffers, typename Socket::endpoint_type& sender)
{
    return operation{
        [at = &socket, buffers, from = &sender](auto&&... tail) {
            return at->receive_from(buffers, *from, std::forward<decltype(tail)>(tail)...);
        },
        [at = &socket, buffers, from = &sender](auto&& token) {
            return at->async_receive_from(buffers, *from, std::forward<decltype(token)>(token));
        }};
}

template <typename Socket, typename Buffers>
auto receive_with_fds_operation(Socket& socket, Buffers buffers,
                                std::span<unixdgram::file_descriptor> fds)
{
    return operation{
        [at = &socket, buffers, fds](auto&&... tail) {
            return at->receive_with_fds(buffers, fds, std::forward<decltype(tail)>(tail)...);
        },
        [at = &socket, buffers, fds](auto&& token) {
            return at->async_receive_with_fds(buffers, fds, std::forward<decltype(token)>(token));
        }};
}

template <typename Socket, typename Buffers>
auto receive_from_with_fds_operation(Socket& socket, Buffers buffers,
                                     typename Socket::endpoint_type& sender,
                                     std::span<unixdgram::file_descriptor> fds)
{
    return operation{[at = &socket, buffers, from = &sender, fds](auto&&... tail) {
                         return at->receive_from_with_fds(buffers, *from, fds,
                                                          std::forward<decltype(tail)>(tail)...);
                     },
                     [at = &socket, buffers, from = &sender, fds](auto&& token) {
                         return at->async_receive_from_with_fds(
                             buffers, *from, fds, std::forward<decltype(token)>(token));
                     }};
}

/// receive_message, with its single attempt (try_receive_message) too.
/// `sender` may be null.
template <typename Socket, typename Buffers>
auto receive_message_operation(Socket& socket, Buffers buffers,
                               typename Socket::endpoint_type* sender,
                               std::span<unixdgram::file_descriptor> fds)
{
    return operation{[at = &socket, buffers, sender, fds](auto&&... tail) {
                         return at->receive_message(buffers, sender, fds,
                                                    std::forward<decltype(tail)>(tail)...);
                     },
                     [at = &socket, buffers, sender, fds](auto&& token) {
                         return at->async_receive_message(buffers, sender, fds, 0,
                                                          std::forward<decltype(token)>(token));
                     },
                     [at = &socket, buffers, sender, fds](typename Socket::message_flags flags,
                                                          std::error_code& ec) {
                         return at->try_receive_message(buffers, sender, fds, flags, ec);
                     }};
}

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_SOCKET_OPERATIONS_HPP
