//
// test_descriptors.cpp — send_control::fds and the descriptors receive_message
// hands over, in every form: passing them, max_fds_per_datagram, a datagram
// of no bytes, and peeking.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <string_view>
#include <utility>
#include <vector>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

TEST_CASE_TEMPLATE_DEFINE("send_message passes descriptors that receive_message hands over", Form,
                          pass_descriptors)
{
    message_fixture f;
    const std::string_view message = "with descriptors";
    pipe_ends pipe = make_pipe();
    file_descriptor file = file_with_content("file content");
    const std::array<int, 2> fds_to_send{pipe.read_end.get(), file.get()};
    std::array<char, 64> storage{};
    // The third entry holds a descriptor from before: the receive closes it.
    pipe_ends earlier = make_pipe();
    std::array<file_descriptor, 3> fds;
    fds[2] = std::move(earlier.write_end);
    socket_type* from = nullptr;
    socket_type* to = nullptr;
    const endpoint* destination = nullptr;
    endpoint sender;
    endpoint* sender_wanted = nullptr;

    SUBCASE("to the connected peer")
    {
        from = &f.a;
        to = &f.b;
    }
    SUBCASE("to a destination endpoint, naming the sender")
    {
        from = &f.client;
        to = &f.server;
        destination = &f.server_endpoint;
        sender_wanted = &sender;
    }
    const send_outcome sent =
        send_message_in<Form>(f, *from, asio::buffer(message), destination, {.fds = fds_to_send});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == message.size());
    const receive_outcome got =
        receive_message_in<Form>(f, *to, asio::buffer(storage), sender_wanted, fds);
    REQUIRE_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == message);
    REQUIRE(got.value.fds.size() == 2);
    CHECK(got.value.fds.data() == fds.data());
    CHECK_FALSE(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    if (sender_wanted)
        CHECK(sender.path() == f.client_name);

    REQUIRE(fds[0]);
    REQUIRE(fds[1]);
    CHECK(is_cloexec(fds[0].get()));
    CHECK(is_cloexec(fds[1].get()));
    CHECK(fds[0].get() != pipe.read_end.get());
    write_all(pipe.write_end.get(), "through the pipe");
    CHECK(read_some(fds[0].get()) == "through the pipe");
    CHECK(read_some(fds[1].get()) == "file content");
    CHECK_FALSE(fds[2]);
    CHECK(all_writers_gone(earlier.read_end.get()));
}
TEST_CASE_TEMPLATE_APPLY(pass_descriptors, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE("send_message refuses more than max_fds_per_datagram descriptors", Form,
                          refuse_too_many_fds)
{
    message_fixture f;
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram + 1, null_file.get());
    call_counter counter(f.a.native_handle());
    const send_outcome sent = send_message_in<Form>(
        f, f.a, asio::buffer(std::string_view("too many")), nullptr, {.fds = fds_to_send});
    CHECK(sent.ec == unixdgram::error::too_many_fds);
    CHECK(counter.since().total() == 0);
    CHECK(f.b.bytes_readable() == 0);
    // The socket is still usable.
    REQUIRE_FALSE(send_message_in<Form>(f, f.a, asio::buffer(std::string_view("fine")), nullptr,
                                        {.fds = std::span(fds_to_send).first(1)})
                      .ec);
    CHECK(f.b.bytes_readable() == 4);
}
TEST_CASE_TEMPLATE_APPLY(refuse_too_many_fds, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE("a datagram of zero bytes carries descriptors through send_message", Form,
                          empty_datagram_with_fds)
{
    message_fixture f;
    file_descriptor file = file_with_content("no bytes, one file");
    const std::array<int, 1> fds_to_send{file.get()};
    const send_outcome sent =
        send_message_in<Form>(f, f.a, asio::const_buffer(), nullptr, {.fds = fds_to_send});
    REQUIRE_FALSE(sent.ec);
    CHECK(sent.value == 0);
    std::array<char, 8> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got =
        receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, fds);
    REQUIRE_FALSE(got.ec);
    CHECK(got.value.bytes == 0);
    CHECK_FALSE(got.value.truncated);
    REQUIRE(got.value.fds.size() == 1);
    CHECK(read_some(fds[0].get()) == "no bytes, one file");
}
TEST_CASE_TEMPLATE_APPLY(empty_datagram_with_fds, completion_forms_and_try);

TEST_CASE_FIXTURE(message_fixture,
                  "receive_message with message_peek leaves the datagram queued, and each look "
                  "hands over descriptors of its own")
{
    file_descriptor file = file_with_content("peeked");
    const std::array<int, 1> fds_to_send{file.get()};
    a.send_message(asio::buffer(std::string_view("look")), nullptr, {.fds = fds_to_send});
    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> peeked;
    const receive_result peek =
        b.receive_message(asio::buffer(storage), nullptr, peeked, socket_type::message_peek);
    CHECK(text_of(storage, peek.bytes) == "look");
    REQUIRE(peek.fds.size() == 1);
    CHECK(same_file(peeked[0].get(), file.get()));
    CHECK(b.bytes_readable() == 4);

    std::array<file_descriptor, 1> taken;
    completion<receive_result> receiving;
    receiving.start([&](auto handler) {
        b.async_receive_message(asio::buffer(storage), nullptr, taken, 0, handler);
    });
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result.bytes) == "look");
    REQUIRE(receiving.result.fds.size() == 1);
    CHECK(same_file(taken[0].get(), file.get()));
    CHECK(taken[0].get() != peeked[0].get());
    CHECK(b.bytes_readable() == 0);
}
