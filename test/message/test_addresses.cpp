//
// test_addresses.cpp — send_message and receive_message between peers and to
// destinations, in every form: the connected peer, a destination endpoint,
// the sender's address, and a sender no endpoint can name.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <sys/socket.h>
#include <sys/un.h>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

TEST_CASE_TEMPLATE_DEFINE("send_message and receive_message carry a datagram to the connected peer",
                          Form, carry_to_peer)
{
    message_fixture f;
    std::array<char, 64> storage{};
    send_outcome sent;
    receive_outcome got;
    std::string_view expected;

    SUBCASE("in one buffer")
    {
        expected = "to the peer";
        sent = send_message_in<Form>(f, f.a, asio::buffer(expected), nullptr, {});
        got = receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, {});
    }
    SUBCASE("gathered from two buffers and scattered into two")
    {
        expected = "gathered, scattered";
        const std::array<asio::const_buffer, 2> pieces{asio::buffer(expected.substr(0, 9)),
                                                       asio::buffer(expected.substr(9))};
        sent = send_message_in<Form>(f, f.a, pieces, nullptr, {});
        const std::array<asio::mutable_buffer, 2> halves{asio::buffer(storage.data(), 5),
                                                         asio::buffer(storage.data() + 5, 59)};
        got = receive_message_in<Form>(f, f.b, halves, nullptr, {});
    }
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == expected.size());
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == expected);
    CHECK(got.value.fds.empty());
    CHECK_FALSE(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    CHECK_FALSE(got.value.sender_credentials.has_value());
    CHECK_FALSE(got.value.sender_pidfd);
    CHECK(f.b.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(carry_to_peer, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE(
    "send_message to a destination endpoint arrives there with the sender's address", Form,
    carry_to_destination)
{
    message_fixture f;
    const std::string_view message = "addressed";
    std::array<char, 64> storage{};
    endpoint sender = unixdgram::make_endpoint("stale address");
    socket_type* from = nullptr;
    std::string expected_sender;

    SUBCASE("from a named socket")
    {
        from = &f.client;
        expected_sender = f.client_name;
    }
    SUBCASE("from an unnamed socket")
    {
        from = &f.unnamed;
    }
    const send_outcome sent =
        send_message_in<Form>(f, *from, asio::buffer(message), &f.server_endpoint, {});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == message.size());
    const receive_outcome got =
        receive_message_in<Form>(f, f.server, asio::buffer(storage), &sender, {});
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == message);
    CHECK(sender.path() == expected_sender);
    if (expected_sender.empty())
        CHECK(sender == endpoint());
    CHECK(f.server.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(carry_to_destination, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message from a sender no endpoint can name hands over the datagram and its "
    "descriptors, then reports ENAMETOOLONG",
    Form, unnameable_sender)
{
    message_fixture f;
    // An abstract name of all 108 bytes whose last byte is NUL: Linux
    // reports it whole, and an endpoint cannot hold it.
    std::string name = full_length_abstract_name("unnameable");
    name.back() = '\0';
    file_descriptor raw = raw_socket_bound_to(name);
    file_descriptor file = file_with_content("from the unnameable");
    {
        const std::string_view text = "nameless";
        iovec piece{const_cast<char*>(text.data()), text.size()};
        alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, f.server_name.data(), f.server_name.size());
        message.msg_name = &address;
        message.msg_namelen =
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + f.server_name.size());
        message.msg_iov = &piece;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof(control);
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        const int fd = file.get();
        std::memcpy(CMSG_DATA(header), &fd, sizeof(fd));
        REQUIRE(::sendmsg(raw.get(), &message, 0) == static_cast<ssize_t>(text.size()));
    }
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    endpoint sender = unixdgram::make_endpoint("stale");
    const receive_outcome got =
        receive_message_in<Form>(f, f.server, asio::buffer(storage), &sender, fds);
    CHECK(got.ec == errno_is{ENAMETOOLONG});
    CHECK(sender == endpoint());
    // The datagram is taken, whatever form the report took: the bytes are in
    // the buffer and the descriptor in the caller's span.
    CHECK(f.server.bytes_readable() == 0);
    CHECK(text_of(storage, 8) == "nameless");
    REQUIRE(fds[0]);
    CHECK(read_some(fds[0].get()) == "from the unnameable");
    if constexpr (!std::is_same_v<Form, throwing_form> && !std::is_same_v<Form, use_future_form> &&
                  !std::is_same_v<Form, use_awaitable_form>) {
        // Where the result survives the error, it says what came.
        CHECK(got.value.bytes == 8);
        CHECK(got.value.fds.size() == 1);
    }
}
TEST_CASE_TEMPLATE_APPLY(unnameable_sender, completion_forms_and_try);
