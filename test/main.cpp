//
// main.cpp — doctest's implementation and the test main(), which reports with
// the TAP reporter of tap_reporter.hpp unless asked otherwise.
//
// Every test executable links this file. By default it reports in TAP 13 so
// that `meson test` (protocol: 'tap') lists each doctest case on its own.
//
// Distributed under the Boost Software License, Version 1.0.
//
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tap_reporter.hpp"

#include <initializer_list>
#include <string_view>

namespace {

REGISTER_REPORTER("tap", 1, unixdgram_test::tap_reporter);

// True when ARG is a doctest option whose name is one of NAMES. doctest
// accepts an option with any number of leading dashes and an optional "dt-"
// prefix, and a value after '='.
bool is_option(std::string_view arg, std::initializer_list<std::string_view> names)
{
    const auto name_start = arg.find_first_not_of('-');
    if (name_start == 0 || name_start == std::string_view::npos)
        return false;
    arg.remove_prefix(name_start);
    if (arg.starts_with("dt-"))
        arg.remove_prefix(3);
    arg = arg.substr(0, arg.find('='));
    for (std::string_view name : names)
        if (arg == name)
            return true;
    return false;
}

} // namespace

int main(int argc, char** argv)
{
    // TAP unless the command line picks reporters itself or asks a question
    // (help, version, listings, a count): those answers are for people, and
    // doctest's console reporter gives them.
    bool use_tap = true;
    for (int i = 1; i < argc; ++i) {
        if (is_option(argv[i], {"reporters", "r", "help", "h", "?", "version", "v", "count", "c",
                                "list-test-cases", "ltc", "list-test-suites", "lts",
                                "list-reporters", "lr"}))
            use_tap = false;
    }

    doctest::Context context;
    if (use_tap)
        context.setOption("reporters", "tap");
    context.applyCommandLine(argc, argv);
    return context.run();
}
