//
// credentials_test.hpp — credentials in tests: doctest prints them as
// "{pid 12, uid 0, gid 0}", and this process's own.
//
// Apart from unixdgram_test.hpp because that header includes no socket
// header of the library (see there).
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_CREDENTIALS_TEST_HPP
#define UNIXDGRAM_TEST_CREDENTIALS_TEST_HPP

#include "unixdgram_test.hpp"

#include <unixdgram/credentials.hpp>

#include <string>

#include <unistd.h>

namespace doctest {

template <>
struct StringMaker<unixdgram::credentials> {
    static String convert(const unixdgram::credentials& who)
    {
        const std::string text = "{pid " + std::to_string(who.pid) + ", uid " +
                                 std::to_string(who.uid) + ", gid " + std::to_string(who.gid) + "}";
        return String(text.c_str());
    }
};

} // namespace doctest

namespace unixdgram_test {

/// The credentials the kernel attaches to what this process sends.
inline unixdgram::credentials own_credentials()
{
    return {::getpid(), ::getuid(), ::getgid()};
}

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_CREDENTIALS_TEST_HPP
