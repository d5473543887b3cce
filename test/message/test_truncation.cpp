//
// test_truncation.cpp — what receive_message reports when a datagram or its
// control data does not fit, in every form: truncated, control_truncated,
// and the descriptors it has no room for, which it closes.
//
// One of the sources of the test_message executable; what they share is in
// message_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "message_test.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message reports a truncated datagram in its result, not as an error", Form,
    report_truncation)
{
    message_fixture f;
    const std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz";
    std::array<char, 4> storage{};
    REQUIRE_FALSE(send_message_in<Form>(f, f.a, asio::buffer(alphabet), nullptr, {}).ec);
    receive_outcome got;
    std::string_view expected;
    SUBCASE("into one buffer")
    {
        got = receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, {});
        expected = "abcd";
    }
    SUBCASE("into two buffers")
    {
        const std::array<asio::mutable_buffer, 2> halves{asio::buffer(storage.data(), 1),
                                                         asio::buffer(storage.data() + 1, 3)};
        got = receive_message_in<Form>(f, f.b, halves, nullptr, {});
        expected = "abcd";
    }
    SUBCASE("into no room at all")
    {
        got = receive_message_in<Form>(f, f.b, asio::mutable_buffer(), nullptr, {});
    }
    CHECK_FALSE(got.ec);
    CHECK(got.value.bytes == expected.size());
    CHECK(text_of(storage, got.value.bytes) == expected);
    CHECK(got.value.truncated);
    CHECK_FALSE(got.value.control_truncated);
    // The rest of the datagram is gone, not left for the next receive.
    CHECK(f.b.bytes_readable() == 0);
}
TEST_CASE_TEMPLATE_APPLY(report_truncation, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message closes the descriptors it has no room for and reports control_truncated", Form,
    report_control_truncation)
{
    message_fixture f;
    // Each descriptor sent is the only other write end of a pipe, so that a
    // read of the pipe tells whether the received copy was closed.
    std::size_t sent_count = 0;
    std::size_t room = 0;
    SUBCASE("three descriptors, room for one")
    {
        sent_count = 3;
        room = 1;
    }
    SUBCASE("three descriptors, an empty span")
    {
        sent_count = 3;
        room = 0;
    }
    SUBCASE("more descriptors than the control buffer has room for, room for one")
    {
        sent_count = 40;
        room = 1;
    }
    std::vector<pipe_ends> pipes;
    std::vector<int> fds_to_send;
    for (std::size_t i = 0; i < sent_count; ++i) {
        pipes.push_back(make_pipe());
        fds_to_send.push_back(pipes.back().write_end.get());
    }
    REQUIRE_FALSE(send_message_in<Form>(f, f.a, asio::buffer(std::string_view("many")), nullptr,
                                        {.fds = fds_to_send})
                      .ec);
    for (pipe_ends& each : pipes)
        each.write_end.reset();

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got = receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr,
                                                         std::span(fds).first(room));
    CHECK_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "many");
    CHECK_FALSE(got.value.truncated);
    CHECK(got.value.control_truncated);
    REQUIRE(got.value.fds.size() == room);
    if (room == 1) {
        // The first descriptor sent is the one handed over.
        REQUIRE(fds[0]);
        write_all(fds[0].get(), "kept");
        CHECK(read_some(pipes[0].read_end.get()) == "kept");
    }
    for (std::size_t i = room; i < sent_count; ++i) {
        CAPTURE(i);
        CHECK(all_writers_gone(pipes[i].read_end.get()));
    }
}
TEST_CASE_TEMPLATE_APPLY(report_control_truncation, completion_forms_and_try);

TEST_CASE_TEMPLATE_DEFINE(
    "receive_message reports truncated bytes and truncated control data of one datagram together",
    Form, both_truncations)
{
    message_fixture f;
    pipe_ends first = make_pipe();
    pipe_ends second = make_pipe();
    const std::array<int, 2> fds_to_send{first.write_end.get(), second.write_end.get()};
    REQUIRE_FALSE(send_message_in<Form>(f, f.a, asio::buffer(std::string_view("longer than room")),
                                        nullptr, {.fds = fds_to_send})
                      .ec);
    first.write_end.reset();
    second.write_end.reset();
    std::array<char, 6> storage{};
    std::array<file_descriptor, 1> fds;
    const receive_outcome got =
        receive_message_in<Form>(f, f.b, asio::buffer(storage), nullptr, fds);
    CHECK_FALSE(got.ec);
    CHECK(text_of(storage, got.value.bytes) == "longer");
    CHECK(got.value.truncated);
    CHECK(got.value.control_truncated);
    REQUIRE(got.value.fds.size() == 1);
    write_all(fds[0].get(), "first");
    CHECK(read_some(first.read_end.get()) == "first");
    CHECK(all_writers_gone(second.read_end.get()));
}
TEST_CASE_TEMPLATE_APPLY(both_truncations, completion_forms_and_try);
