//
// test_descriptors.cpp — passing descriptors: how many a datagram may
// carry, truncation, and that a received descriptor is handed over or closed.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"
#include "socket_operations.hpp"

using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Limits and truncation
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture,
                  "a send with more than 253 descriptors fails with too_many_fds and sends nothing")
{
    const std::string b_name = unique_abstract_name("b");
    b.bind(unixdgram::make_endpoint(b_name));
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram + 1, null_file.get());
    const std::string_view message = "too many";

    SUBCASE("send_with_fds, error_code form")
    {
        std::error_code ec;
        CHECK(a.send_with_fds(asio::buffer(message), fds_to_send, 0, ec) == 0);
        CHECK(ec == unixdgram::error::too_many_fds);
    }
    SUBCASE("send_with_fds, throwing form")
    {
        CHECK(thrown_by([&] { a.send_with_fds(asio::buffer(message), fds_to_send); }) ==
              unixdgram::error::too_many_fds);
    }
    SUBCASE("send_to_with_fds, error_code form")
    {
        std::error_code ec;
        a.send_to_with_fds(asio::buffer(message), unixdgram::make_endpoint(b_name), fds_to_send, 0,
                           ec);
        CHECK(ec == unixdgram::error::too_many_fds);
    }
    SUBCASE("async_send_with_fds")
    {
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
        });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == unixdgram::error::too_many_fds);
        CHECK(sending.result == 0);
    }
    SUBCASE("async_send_to_with_fds")
    {
        const unixdgram::endpoint destination = unixdgram::make_endpoint(b_name);
        completion<std::size_t> sending;
        sending.start([&](auto handler) {
            a.async_send_to_with_fds(asio::buffer(message), destination, fds_to_send, handler);
        });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == unixdgram::error::too_many_fds);
    }
    CHECK(b.bytes_readable() == 0);
    b.non_blocking(true);
    std::array<char, 16> storage{};
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == errno_is{EAGAIN});
}

TEST_CASE_FIXTURE(pair_fixture, "a datagram may carry 253 descriptors")
{
    file_descriptor null_file = open_dev_null();
    const std::vector<int> fds_to_send(unixdgram::max_fds_per_datagram, null_file.get());
    CHECK(a.send_with_fds(asio::buffer(std::string_view("many")), fds_to_send) == 4);

    std::array<char, 16> storage{};
    std::vector<file_descriptor> fds(unixdgram::max_fds_per_datagram);
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 4);
    REQUIRE(result.fds.size() == unixdgram::max_fds_per_datagram);
    CHECK_FALSE(result.control_truncated);
    CHECK(count_open_fds() == fds_before + unixdgram::max_fds_per_datagram);
    CHECK(std::all_of(fds.begin(), fds.end(), [&](const file_descriptor& fd) {
        return fd && same_file(fd.get(), null_file.get()) && is_cloexec(fd.get());
    }));
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds reports truncation in its result")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.read_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("0123456789")), fds_to_send);
    std::array<char, 4> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result;

    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        result = b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
        CHECK_FALSE(ec);
    }
    SUBCASE("async form")
    {
        outcome<unixdgram::receive_result> received =
            callback_form::run(*this, receive_with_fds_operation(b, asio::buffer(storage), fds));
        CHECK_FALSE(received.ec);
        result = std::move(received.value);
    }
    SUBCASE("receive_from_with_fds")
    {
        unixdgram::endpoint sender;
        result = b.receive_from_with_fds(asio::buffer(storage), sender, fds);
    }
    CHECK(result.truncated);
    CHECK_FALSE(result.control_truncated);
    CHECK(result.bytes == storage.size());
    CHECK(std::string_view(storage.data(), storage.size()) == "0123");
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), pipe.read_end.get()));
    CHECK(b.bytes_readable() == 0);
}

// ---------------------------------------------------------------------------
// Passing descriptors
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "a datagram of zero bytes can carry descriptors")
{
    file_descriptor file = file_with_content("zero-byte carrier");
    const std::array<int, 1> fds_to_send{file.get()};
    CHECK(a.send_with_fds(asio::const_buffer(), fds_to_send) == 0);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    CHECK(result.bytes == 0);
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(read_some(fds[0].get()) == "zero-byte carrier");
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "several descriptors arrive in order, refer to the same files and are close-on-exec")
{
    pipe_ends pipe = make_pipe();
    file_descriptor file = file_with_content("third");
    file_descriptor null_file = open_dev_null();
    const std::array<int, 4> fds_to_send{pipe.read_end.get(), pipe.write_end.get(), file.get(),
                                         null_file.get()};
    CHECK(a.send_with_fds(asio::buffer(std::string_view("four")), fds_to_send) == 4);
    // The sender keeps its descriptors.
    for (int fd : fds_to_send)
        CHECK(is_open_fd(fd));

    std::array<char, 16> storage{};
    std::array<file_descriptor, 6> fds;
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.fds.size() == fds_to_send.size());
    CHECK_FALSE(result.control_truncated);
    for (std::size_t index = 0; index < fds_to_send.size(); ++index) {
        CAPTURE(index);
        CHECK(same_file(result.fds[index].get(), fds_to_send[index]));
        CHECK(is_cloexec(result.fds[index].get()));
        CHECK(result.fds[index].get() != fds_to_send[index]);
    }
    CHECK_FALSE(fds[4]);
    CHECK_FALSE(fds[5]);
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds closes the descriptors beyond the room given")
{
    // The surplus descriptor is a pipe's write end: once every copy of it is
    // closed, the read end reports end of file.
    file_descriptor file = file_with_content("kept");
    pipe_ends pipe = make_pipe();
    file_descriptor null_file = open_dev_null();
    std::vector<int> fds_to_send{file.get(), pipe.write_end.get()};
    bool asynchronous = false;
    // Room for one int rounds up to CMSG_SPACE for two, so the kernel hands
    // over both of two descriptors without reporting MSG_CTRUNC.
    SUBCASE("two sent, room for one, synchronous") {}
    SUBCASE("two sent, room for one, asynchronous")
    {
        asynchronous = true;
    }
    SUBCASE("three sent, room for one, synchronous")
    {
        fds_to_send.push_back(null_file.get());
    }
    SUBCASE("three sent, room for one, asynchronous")
    {
        fds_to_send.push_back(null_file.get());
        asynchronous = true;
    }
    a.send_with_fds(asio::buffer(std::string_view("surplus")), fds_to_send);

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result;
    if (!asynchronous) {
        result = b.receive_with_fds(asio::buffer(storage), fds);
    } else {
        outcome<unixdgram::receive_result> received =
            callback_form::run(*this, receive_with_fds_operation(b, asio::buffer(storage), fds));
        CHECK_FALSE(received.ec);
        result = std::move(received.value);
    }
    CHECK(result.bytes == 7);
    REQUIRE(result.fds.size() == 1);
    CHECK(result.control_truncated);
    CHECK(same_file(fds[0].get(), file.get()));
    CHECK(count_open_fds() == fds_before + 1);

    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}

TEST_CASE_FIXTURE(pair_fixture, "receive_with_fds into an empty span closes every descriptor")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.write_end.get()};
    a.send_with_fds(asio::buffer(std::string_view("no room")), fds_to_send);

    std::array<char, 16> storage{};
    const std::size_t fds_before = count_open_fds();
    unixdgram::receive_result result =
        b.receive_with_fds(asio::buffer(storage), std::span<file_descriptor>());
    CHECK(text_of(storage, result.bytes) == "no room");
    CHECK(result.fds.empty());
    CHECK(result.control_truncated);
    CHECK(count_open_fds() == fds_before);
    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}

TEST_CASE_FIXTURE(pair_fixture,
                  "receive_with_fds closes the earlier contents of the entries it fills")
{
    file_descriptor old_file = file_with_content("old");
    file_descriptor new_file = file_with_content("new");
    std::array<file_descriptor, 1> fds{old_file.dup()};
    const std::array<int, 1> fds_to_send{new_file.get()};
    a.send_with_fds(asio::buffer(std::string_view("replace")), fds_to_send);

    const std::size_t fds_before = count_open_fds();
    std::array<char, 16> storage{};
    unixdgram::receive_result result = b.receive_with_fds(asio::buffer(storage), fds);
    REQUIRE(result.fds.size() == 1);
    CHECK(same_file(fds[0].get(), new_file.get()));
    CHECK_FALSE(same_file(fds[0].get(), old_file.get()));
    CHECK(count_open_fds() == fds_before);
}

TEST_CASE_FIXTURE(pair_fixture, "a plain receive discards the descriptors a datagram carried")
{
    pipe_ends pipe = make_pipe();
    const std::array<int, 1> fds_to_send{pipe.write_end.get()};
    const std::size_t fds_before = count_open_fds();
    a.send_with_fds(asio::buffer(std::string_view("ignored fd")), fds_to_send);

    std::array<char, 16> storage{};
    SUBCASE("receive")
    {
        CHECK(text_of(storage, b.receive(asio::buffer(storage))) == "ignored fd");
    }
    SUBCASE("async_receive_from")
    {
        unixdgram::endpoint sender;
        const outcome<std::size_t> received =
            callback_form::run(*this, receive_from_operation(b, asio::buffer(storage), sender));
        CHECK_FALSE(received.ec);
        CHECK(text_of(storage, received.value) == "ignored fd");
    }
    CHECK(count_open_fds() == fds_before);
    pipe.write_end.close();
    CHECK(read_some(pipe.read_end.get()).empty());
}
