//
// message_forms.cpp — send_message_in and receive_message_in (see
// message_test.hpp), compiled once for every form and buffer sequence the
// tests use.
//
// One of the sources of the test_message executable.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>

namespace unixdgram_test {

template <typename Form, typename Buffers>
send_outcome send_message_in(message_fixture& fixture, socket_type& socket, const Buffers& buffers,
                             const endpoint* destination, const send_control& control)
{
    return Form::run(fixture, send_message_operation(socket, buffers, destination, control));
}

template <typename Form, typename Buffers>
receive_outcome receive_message_in(message_fixture& fixture, socket_type& socket,
                                   const Buffers& buffers, endpoint* sender,
                                   std::span<unixdgram::file_descriptor> fds)
{
    return Form::run(fixture, receive_message_operation(socket, buffers, sender, fds));
}

using two_const_buffers = std::array<asio::const_buffer, 2>;
using two_mutable_buffers = std::array<asio::mutable_buffer, 2>;

#define UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(Form)                                              \
    template send_outcome send_message_in<Form>(message_fixture&, socket_type&,                    \
                                                const asio::const_buffer&, const endpoint*,        \
                                                const send_control&);                              \
    template send_outcome send_message_in<Form>(message_fixture&, socket_type&,                    \
                                                const two_const_buffers&, const endpoint*,         \
                                                const send_control&);                              \
    template receive_outcome receive_message_in<Form>(message_fixture&, socket_type&,              \
                                                      const asio::mutable_buffer&, endpoint*,      \
                                                      std::span<unixdgram::file_descriptor>);      \
    template receive_outcome receive_message_in<Form>(message_fixture&, socket_type&,              \
                                                      const two_mutable_buffers&, endpoint*,       \
                                                      std::span<unixdgram::file_descriptor>);

UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(throwing_form)
UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(error_code_form)
UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(try_form)
UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(callback_form)
UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(use_future_form)
UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM(use_awaitable_form)

#undef UNIXDGRAM_TEST_INSTANTIATE_MESSAGE_FORM

} // namespace unixdgram_test
