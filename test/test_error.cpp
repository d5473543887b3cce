//
// test_error.cpp — unixdgram::error, its category and its conversions.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram/error.hpp>

#include <set>
#include <string>
#include <system_error>
#include <type_traits>

namespace {

constexpr unixdgram::error all_errors[] = {
    unixdgram::error::too_many_fds,
    unixdgram::error::message_truncated,
    unixdgram::error::not_a_unix_datagram_socket,
};

} // namespace

TEST_CASE("error values start at 1 so that no error is the success value 0")
{
    CHECK(static_cast<int>(unixdgram::error::too_many_fds) == 1);
    std::set<int> values;
    for (unixdgram::error value : all_errors) {
        CHECK(static_cast<int>(value) != 0);
        values.insert(static_cast<int>(value));
    }
    CHECK(values.size() == std::size(all_errors));
}

TEST_CASE("the error category is named unixdgram and is a single object")
{
    CHECK(std::string(unixdgram::error_category().name()) == "unixdgram");
    CHECK(&unixdgram::error_category() == &unixdgram::error_category());
    CHECK(unixdgram::error_category() != std::system_category());
    CHECK(unixdgram::error_category() != std::generic_category());
}

TEST_CASE("every error has its own non-empty message")
{
    std::set<std::string> messages;
    for (unixdgram::error value : all_errors) {
        std::string message = unixdgram::error_category().message(static_cast<int>(value));
        CAPTURE(message);
        CHECK_FALSE(message.empty());
        CHECK(message.find("unknown") == std::string::npos);
        messages.insert(message);
    }
    CHECK(messages.size() == std::size(all_errors));
}

TEST_CASE("an unknown error value still has a message")
{
    CHECK_FALSE(unixdgram::error_category().message(0).empty());
    CHECK_FALSE(unixdgram::error_category().message(9999).empty());
    CHECK_FALSE(unixdgram::error_category().message(-1).empty());
}

TEST_CASE("make_error_code gives a code in the unixdgram category with the enum's value")
{
    for (unixdgram::error value : all_errors) {
        std::error_code ec = unixdgram::make_error_code(value);
        CHECK(ec.value() == static_cast<int>(value));
        CHECK(&ec.category() == &unixdgram::error_category());
        CHECK(static_cast<bool>(ec));
        CHECK(ec.message() == unixdgram::error_category().message(static_cast<int>(value)));
    }
}

TEST_CASE("the error enum converts implicitly to std::error_code")
{
    static_assert(std::is_error_code_enum_v<unixdgram::error>);
    static_assert(std::is_convertible_v<unixdgram::error, std::error_code>);
    static_assert(!std::is_error_condition_enum_v<unixdgram::error>);

    std::error_code ec = unixdgram::error::too_many_fds;
    CHECK(ec == unixdgram::error::too_many_fds);
    CHECK(ec != unixdgram::error::message_truncated);
    CHECK(unixdgram::error::message_truncated ==
          std::error_code(unixdgram::error::message_truncated));

    ec = unixdgram::error::not_a_unix_datagram_socket;
    CHECK(ec == unixdgram::make_error_code(unixdgram::error::not_a_unix_datagram_socket));
}

TEST_CASE("library errors never equal system errors that share their number")
{
    for (unixdgram::error value : all_errors) {
        std::error_code ec = value;
        std::error_code same_number(static_cast<int>(value), std::system_category());
        CAPTURE(ec);
        CHECK(ec != same_number);
        CHECK(ec != std::error_condition(static_cast<int>(value), std::generic_category()));
        CHECK(ec != std::errc::operation_not_permitted);
        CHECK(ec != std::errc::no_such_file_or_directory);
        CHECK(ec != std::errc::no_such_process);
    }
}

TEST_CASE("std::system_error built from a library error carries its code and message")
{
    std::system_error failure(unixdgram::error::message_truncated, "receive");
    CHECK(failure.code() == unixdgram::error::message_truncated);
    std::string what = failure.what();
    CHECK(what.find("receive") != std::string::npos);
    CHECK(what.find(unixdgram::make_error_code(unixdgram::error::message_truncated).message()) !=
          std::string::npos);
}
