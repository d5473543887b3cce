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
#include "socket_operations.hpp"

#include <functional>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

namespace {

/// An operation that has no asynchronous form, in the form that throws and
/// in the form that takes a std::error_code&.
struct synchronous_call {
    std::string_view operation;
    std::function<void()> throwing;
    std::function<void(std::error_code&)> with_error_code;
};

} // namespace

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

    SUBCASE("the sends and receives, in every form")
    {
        auto check_fails = [&](std::string_view name, auto&& op) {
            for_each_form<completion_forms>([&](auto form) {
                using form_type = decltype(form);
                const doctest::String form_name = doctest::toString<form_type>();
                CAPTURE(name);
                CAPTURE(form_name);
                CHECK(form_type::run(*this, op).ec == bad_descriptor);
            });
        };
        const auto data = asio::buffer(message);
        const auto room = asio::buffer(storage);
        check_fails("send", send_operation(closed, data));
        check_fails("send_to", send_to_operation(closed, data, somewhere));
        check_fails("send_with_fds", send_with_fds_operation(closed, data, fds_to_send));
        check_fails("send_to_with_fds",
                    send_to_with_fds_operation(closed, data, somewhere, fds_to_send));
        check_fails("receive", receive_operation(closed, room));
        check_fails("receive_from", receive_from_operation(closed, room, sender));
        check_fails("receive_with_fds", receive_with_fds_operation(closed, room, fds));
        check_fails("receive_from_with_fds",
                    receive_from_with_fds_operation(closed, room, sender, fds));
    }
    SUBCASE("the other operations, in each of their forms")
    {
        socket_type::receive_buffer_size receive_size;
        socket_type::debug debug_option;
        const synchronous_call calls[] = {
            {"bind", [&] { closed.bind(somewhere); },
             [&](std::error_code& ec) { closed.bind(somewhere, ec); }},
            {"connect", [&] { closed.connect(somewhere); },
             [&](std::error_code& ec) { closed.connect(somewhere, ec); }},
            {"disconnect", [&] { closed.disconnect(); },
             [&](std::error_code& ec) { closed.disconnect(ec); }},
            {"shutdown", [&] { closed.shutdown(socket_type::shutdown_type::shutdown_send); },
             [&](std::error_code& ec) {
                 closed.shutdown(socket_type::shutdown_type::shutdown_both, ec);
             }},
            {"local_endpoint", [&] { closed.local_endpoint(); },
             [&](std::error_code& ec) { closed.local_endpoint(ec); }},
            {"remote_endpoint", [&] { closed.remote_endpoint(); },
             [&](std::error_code& ec) { closed.remote_endpoint(ec); }},
            {"set_option", [&] { closed.set_option(socket_type::debug(false)); },
             [&](std::error_code& ec) {
                 closed.set_option(socket_type::receive_buffer_size(4096), ec);
             }},
            {"get_option", [&] { closed.get_option(debug_option); },
             [&](std::error_code& ec) { closed.get_option(receive_size, ec); }},
            {"bytes_readable", [&] { closed.bytes_readable(); },
             [&](std::error_code& ec) { closed.bytes_readable(ec); }},
            {"peer_credentials", [&] { closed.peer_credentials(); },
             [&](std::error_code& ec) { closed.peer_credentials(ec); }},
            {"non_blocking", [&] { closed.non_blocking(true); },
             [&](std::error_code& ec) { closed.non_blocking(true, ec); }},
            {"cancel", [&] { closed.cancel(); }, [&](std::error_code& ec) { closed.cancel(ec); }},
            {"release", [&] { closed.release(); },
             [&](std::error_code& ec) { closed.release(ec); }},
        };
        for (const synchronous_call& call : calls) {
            CAPTURE(call.operation);
            CHECK(thrown_by(call.throwing) == bad_descriptor);
            std::error_code ec;
            call.with_error_code(ec);
            CHECK(ec == bad_descriptor);
        }
        completion<nothing> waiting;
        waiting.start(
            [&](auto handler) { closed.async_wait(socket_type::wait_type::wait_read, handler); });
        run();
        CHECK(waiting.calls == 1);
        CHECK(waiting.ec == bad_descriptor);
    }
    CHECK_FALSE(closed.is_open());
}

namespace {

/// The error an async_receive of `sockets.b` that cancel() ended reports.
std::error_code error_of_a_cancelled_receive(pair_fixture& sockets)
{
    std::array<char, 16> storage{};
    completion<std::size_t> receiving;
    receiving.start([&](auto handler) { sockets.b.async_receive(asio::buffer(storage), handler); });
    sockets.b.cancel();
    sockets.run();
    REQUIRE(receiving.calls == 1);
    return receiving.ec;
}

} // namespace

// Standalone Asio 1.22 cannot make this hold: its "asio.system" category maps
// no value to std::errc, and ASIO_HAS_STD_ERROR_CODE, which would turn the
// mapping on, does not compile (chriskohlhoff/asio#143). Should Asio be fixed,
// this case reports an unexpected pass; drop the decorator then.
TEST_CASE_FIXTURE(pair_fixture,
                  "asio::error::operation_aborted compares equal to std::errc::operation_canceled" *
                      doctest::should_fail())
{
    const std::error_code ec = error_of_a_cancelled_receive(*this);
    REQUIRE(ec == asio::error::operation_aborted);
    CHECK(ec == std::errc::operation_canceled);
}

TEST_CASE_FIXTURE(pair_fixture,
                  "errors from socket operations compare equal to Asio's error constants")
{
    // The Asio idiom, ec == asio::error::would_block, holds only for codes in
    // Asio's own "asio.system" category, so every errno value must come in
    // that category, whichever layer (Asio or the library) found it.
    CHECK(error_of_a_cancelled_receive(*this) == asio::error::operation_aborted);

    std::array<char, 16> storage{};
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
