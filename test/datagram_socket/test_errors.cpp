//
// test_errors.cpp — what every operation on a closed socket reports,
// and how the library's error codes compare with Asio's and the standard's.
//
// One of the sources of the test_datagram_socket executable; what they share
// is in datagram_socket_test.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "datagram_socket_test.hpp"

using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

TEST_CASE_FIXTURE(io_fixture, "every operation on a closed socket fails with bad_descriptor")
{
    socket_type closed(io);
    const unixdgram::endpoint somewhere = unixdgram::make_endpoint(unique_abstract_name("closed"));
    file_descriptor null_file = open_dev_null();
    const std::array<int, 1> fds_to_send{null_file.get()};
    std::array<file_descriptor, 1> fds;
    std::array<char, 16> storage{};
    const std::string_view message = "closed";
    unixdgram::endpoint sender;
    const errno_is bad_descriptor{EBADF};

    SUBCASE("error_code forms")
    {
        std::error_code ec;
        auto check_fails = [&](const char* operation) {
            CAPTURE(operation);
            CHECK(ec == bad_descriptor);
            ec.clear();
        };
        closed.bind(somewhere, ec);
        check_fails("bind");
        closed.connect(somewhere, ec);
        check_fails("connect");
        closed.disconnect(ec);
        check_fails("disconnect");
        closed.shutdown(socket_type::shutdown_type::shutdown_both, ec);
        check_fails("shutdown");
        closed.local_endpoint(ec);
        check_fails("local_endpoint");
        closed.remote_endpoint(ec);
        check_fails("remote_endpoint");
        closed.set_option(socket_type::receive_buffer_size(4096), ec);
        check_fails("set_option");
        socket_type::receive_buffer_size receive_size;
        closed.get_option(receive_size, ec);
        check_fails("get_option");
        closed.bytes_readable(ec);
        check_fails("bytes_readable");
        closed.peer_credentials(ec);
        check_fails("peer_credentials");
        closed.non_blocking(true, ec);
        check_fails("non_blocking");
        closed.cancel(ec);
        check_fails("cancel");
        closed.release(ec);
        check_fails("release");
        closed.send(asio::buffer(message), 0, ec);
        check_fails("send");
        closed.send_to(asio::buffer(message), somewhere, 0, ec);
        check_fails("send_to");
        closed.send_with_fds(asio::buffer(message), fds_to_send, 0, ec);
        check_fails("send_with_fds");
        closed.send_to_with_fds(asio::buffer(message), somewhere, fds_to_send, 0, ec);
        check_fails("send_to_with_fds");
        closed.receive(asio::buffer(storage), 0, ec);
        check_fails("receive");
        closed.receive_from(asio::buffer(storage), sender, 0, ec);
        check_fails("receive_from");
        closed.receive_with_fds(asio::buffer(storage), fds, 0, ec);
        check_fails("receive_with_fds");
        closed.receive_from_with_fds(asio::buffer(storage), sender, fds, 0, ec);
        check_fails("receive_from_with_fds");
    }
    SUBCASE("throwing forms")
    {
        CHECK(thrown_by([&] { closed.bind(somewhere); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.connect(somewhere); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.disconnect(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.shutdown(socket_type::shutdown_type::shutdown_send); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.local_endpoint(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.remote_endpoint(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.set_option(socket_type::debug(false)); }) == bad_descriptor);
        CHECK(thrown_by([&] {
                  socket_type::debug option;
                  closed.get_option(option);
              }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.bytes_readable(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.peer_credentials(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.non_blocking(true); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.cancel(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.release(); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.send(asio::buffer(message)); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.send_to(asio::buffer(message), somewhere); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.send_with_fds(asio::buffer(message), fds_to_send); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] {
                  closed.send_to_with_fds(asio::buffer(message), somewhere, fds_to_send);
              }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.receive(asio::buffer(storage)); }) == bad_descriptor);
        CHECK(thrown_by([&] { closed.receive_from(asio::buffer(storage), sender); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] { closed.receive_with_fds(asio::buffer(storage), fds); }) ==
              bad_descriptor);
        CHECK(thrown_by([&] {
                  closed.receive_from_with_fds(asio::buffer(storage), sender, fds);
              }) == bad_descriptor);
    }
    SUBCASE("asynchronous forms")
    {
        completion<std::size_t> sending;
        completion<std::size_t> sending_to;
        completion<std::size_t> sending_fds;
        completion<std::size_t> sending_fds_to;
        completion<std::size_t> receiving;
        completion<std::size_t> receiving_from;
        completion<unixdgram::receive_result> receiving_fds;
        completion<unixdgram::receive_result> receiving_fds_from;
        completion<nothing> waiting;
        sending.start([&](auto handler) { closed.async_send(asio::buffer(message), handler); });
        sending_to.start(
            [&](auto handler) { closed.async_send_to(asio::buffer(message), somewhere, handler); });
        sending_fds.start([&](auto handler) {
            closed.async_send_with_fds(asio::buffer(message), fds_to_send, handler);
        });
        sending_fds_to.start([&](auto handler) {
            closed.async_send_to_with_fds(asio::buffer(message), somewhere, fds_to_send, handler);
        });
        receiving.start(
            [&](auto handler) { closed.async_receive(asio::buffer(storage), handler); });
        receiving_from.start([&](auto handler) {
            closed.async_receive_from(asio::buffer(storage), sender, handler);
        });
        receiving_fds.start([&](auto handler) {
            closed.async_receive_with_fds(asio::buffer(storage), fds, handler);
        });
        receiving_fds_from.start([&](auto handler) {
            closed.async_receive_from_with_fds(asio::buffer(storage), sender, fds, handler);
        });
        waiting.start(
            [&](auto handler) { closed.async_wait(socket_type::wait_type::wait_read, handler); });
        run();
        CHECK(sending.calls == 1);
        CHECK(sending.ec == bad_descriptor);
        CHECK(sending_to.calls == 1);
        CHECK(sending_to.ec == bad_descriptor);
        CHECK(sending_fds.calls == 1);
        CHECK(sending_fds.ec == bad_descriptor);
        CHECK(sending_fds_to.calls == 1);
        CHECK(sending_fds_to.ec == bad_descriptor);
        CHECK(receiving.calls == 1);
        CHECK(receiving.ec == bad_descriptor);
        CHECK(receiving_from.calls == 1);
        CHECK(receiving_from.ec == bad_descriptor);
        CHECK(receiving_fds.calls == 1);
        CHECK(receiving_fds.ec == bad_descriptor);
        CHECK(receiving_fds_from.calls == 1);
        CHECK(receiving_fds_from.ec == bad_descriptor);
        CHECK(waiting.calls == 1);
        CHECK(waiting.ec == bad_descriptor);
    }
    CHECK_FALSE(closed.is_open());
}

// Standalone Asio 1.22 cannot make this hold: its "asio.system" category maps
// no value to std::errc, and ASIO_HAS_STD_ERROR_CODE, which would turn the
// mapping on, does not compile (chriskohlhoff/asio#143). Should Asio be fixed,
// this case reports an unexpected pass; drop the decorator then.
TEST_CASE_FIXTURE(pair_fixture,
                  "asio::error::operation_aborted compares equal to std::errc::operation_canceled" *
                      doctest::should_fail())
{
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    b.cancel();
    run();
    REQUIRE(receiving.calls == 1);
    REQUIRE(receiving.ec == asio::error::operation_aborted);
    CHECK(receiving.ec == std::errc::operation_canceled);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "errors from socket operations compare equal to Asio's error constants")
{
    // The Asio idiom, ec == asio::error::would_block, holds only for codes in
    // Asio's own "asio.system" category, so every errno value must come in
    // that category, whichever layer (Asio or the library) found it.
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { b.async_receive(asio::buffer(storage), handler); });
    b.cancel();
    run();
    REQUIRE(receiving.calls == 1);
    CHECK(receiving.ec == asio::error::operation_aborted);

    b.non_blocking(true);
    std::error_code ec;
    b.receive(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::would_block);
    std::array<file_descriptor, 1> fds;
    b.receive_with_fds(asio::buffer(storage), fds, 0, ec);
    CHECK(ec == asio::error::would_block);

    socket_type closed(io);
    closed.local_endpoint(ec);
    CHECK(ec == asio::error::bad_descriptor);
    closed.send(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::bad_descriptor);

    a.shutdown(socket_type::shutdown_type::shutdown_send);
    a.send(asio::buffer(storage), 0, ec);
    CHECK(ec == asio::error::broken_pipe);

    CHECK(thrown_by([] { unixdgram::make_endpoint(std::string(200, 'x')); }) ==
          asio::error::name_too_long);
}
