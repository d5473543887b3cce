//
// unixdgram_test.hpp — the one header every test includes.
//
// It brings in doctest and teaches it to print std::error_code with its
// category, value and message, so a failed CHECK(ec == ...) says
// "system:11 (Resource temporarily unavailable)" rather than a bare number.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_HPP
#define UNIXDGRAM_TEST_HPP

#include <doctest/doctest.h>

#include <string>
#include <system_error>

namespace doctest {

template <>
struct StringMaker<std::error_code> {
    static String convert(const std::error_code& ec)
    {
        const std::string text = std::string(ec.category().name()) + ":" +
                                 std::to_string(ec.value()) + " (" + ec.message() + ")";
        return String(text.c_str());
    }
};

} // namespace doctest

#endif // UNIXDGRAM_TEST_HPP
