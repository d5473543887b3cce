//
// test_options.cpp — socket options and controls: debug, buffer sizes,
// bytes_readable, non_blocking.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"

using namespace std::chrono_literals;
using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Options and controls
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(pair_fixture, "the debug option can be set and read back")
{
    a.set_option(socket_type::debug(false));
    socket_type::debug option(true);
    a.get_option(option);
    CHECK_FALSE(option.value());

    // Turning SO_DEBUG on needs CAP_NET_ADMIN.
    std::error_code ec;
    a.set_option(socket_type::debug(true), ec);
    if (ec == errno_is{EACCES} || ec == errno_is{EPERM}) {
        MESSAGE("SO_DEBUG cannot be turned on without CAP_NET_ADMIN: " << ec.message());
        return;
    }
    REQUIRE_FALSE(ec);
    a.get_option(option, ec);
    CHECK_FALSE(ec);
    CHECK(option.value());
}

TEST_CASE_FIXTURE(pair_fixture, "buffer size options can be set and read back")
{
    // Linux doubles what it is given to make room for its bookkeeping.
    SUBCASE("throwing form")
    {
        a.set_option(socket_type::send_buffer_size(65536));
        a.set_option(socket_type::receive_buffer_size(32768));
        socket_type::send_buffer_size send_size;
        socket_type::receive_buffer_size receive_size;
        a.get_option(send_size);
        a.get_option(receive_size);
        CHECK(send_size.value() >= 65536);
        CHECK(receive_size.value() >= 32768);
        CHECK(send_size.value() != receive_size.value());
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        a.set_option(socket_type::send_buffer_size(40000), ec);
        CHECK_FALSE(ec);
        ec = std::make_error_code(std::errc::io_error);
        socket_type::send_buffer_size send_size;
        a.get_option(send_size, ec);
        CHECK_FALSE(ec);
        CHECK(send_size.value() >= 40000);
        CHECK(send_size.value() <= 80000);
    }
}

TEST_CASE_FIXTURE(pair_fixture, "bytes_readable is the size of the next datagram")
{
    CHECK(b.bytes_readable() == 0);
    a.send(asio::buffer(std::string_view("five!")));
    a.send(asio::buffer(std::string_view("seven!!")));
    CHECK(b.bytes_readable() == 5);
    std::error_code ec = std::make_error_code(std::errc::io_error);
    CHECK(b.bytes_readable(ec) == 5);
    CHECK_FALSE(ec);

    std::array<char, 16> storage{};
    b.receive(asio::buffer(storage));
    CHECK(b.bytes_readable() == 7);
    b.receive(asio::buffer(storage));
    CHECK(b.bytes_readable() == 0);
}

TEST_CASE_FIXTURE(
    pair_fixture,
    "non_blocking makes synchronous receives on an empty socket fail with would_block")
{
    CHECK_FALSE(b.non_blocking());
    SUBCASE("throwing form")
    {
        b.non_blocking(true);
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        b.non_blocking(true, ec);
        CHECK_FALSE(ec);
    }
    CHECK(b.non_blocking());

    // Should a receive block after all, this datagram ends the wait after the
    // safety net's time, so the test fails instead of hanging.
    std::promise<void> finished;
    std::thread safety_net([&a = a, finished = finished.get_future()] {
        if (finished.wait_for(safety_timeout) == std::future_status::timeout)
            ::send(a.native_handle(), "unblock", 7, MSG_NOSIGNAL);
    });

    std::array<char, 16> storage{};
    std::array<file_descriptor, 1> fds;
    unixdgram::endpoint sender;
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_from(asio::buffer(storage), sender, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    ec.clear();
    b.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
    CHECK(ec == errno_is{EAGAIN});
    CHECK(thrown_by([&] { b.receive(asio::buffer(storage)); }) == errno_is{EAGAIN});
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    finished.set_value();
    safety_net.join();

    b.non_blocking(false);
    CHECK_FALSE(b.non_blocking());
}

TEST_CASE_FIXTURE(pair_fixture, "asynchronous operations wait even when non_blocking is set")
{
    b.non_blocking(true);
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    io.poll();
    CHECK(receiving.calls == 0);

    a.send(asio::buffer(std::string_view("later")));
    run();
    REQUIRE(receiving.calls == 1);
    CHECK_FALSE(receiving.ec);
    CHECK(text_of(storage, receiving.result) == "later");
}
