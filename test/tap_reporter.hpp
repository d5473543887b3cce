//
// tap_reporter.hpp — a doctest reporter that writes TAP 13.
//
// main.cpp registers it as "tap" and makes it the default, so that `meson
// test` (protocol: 'tap') lists each doctest case on its own.
//
// The results go to the context's output stream (stdout, or --out):
//
//   TAP version 13
//   not ok 1 - <test case name>
//   ok 2 - <test case name>
//   ok 3 - <test case name> # SKIP
//   1..3
//
// The diagnostics go to stderr as "# " lines, the way Perl's Test::More
// writes diag(): `meson test --print-errorlogs` shows a TAP test's stderr,
// not its stdout, and the lines stay valid TAP where the two streams are
// merged. They are written when the assertion fails, not held back to the
// result line, so a case that hangs or kills the process still leaves its
// story in the log:
//
//   # test case "<name>"
//   # in subcase "<outer>" > "<inner>"
//   # <file>:<line>: ERROR: CHECK( a == b ) is NOT correct!
//   #   values: CHECK( 1 == 2 )
//   #   with <what INFO() or CAPTURE() logged>
//
// A case is "not ok" when doctest counts it as failed, so decorators such as
// may_fail() and should_fail() keep their meaning.
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_TEST_TAP_REPORTER_HPP
#define UNIXDGRAM_TEST_TAP_REPORTER_HPP

#include <doctest/doctest.h>

#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace unixdgram_test {

class tap_reporter final : public doctest::IReporter {
public:
    explicit tap_reporter(const doctest::ContextOptions& options);

    void report_query(const doctest::QueryData&) override;
    void test_run_start() override;
    void test_run_end(const doctest::TestRunStats&) override;
    void test_case_start(const doctest::TestCaseData& test_case) override;
    void test_case_reenter(const doctest::TestCaseData&) override;
    void test_case_end(const doctest::CurrentTestCaseStats& stats) override;
    void test_case_exception(const doctest::TestCaseException& exception) override;
    void subcase_start(const doctest::SubcaseSignature& subcase) override;
    void subcase_end() override;
    void log_assert(const doctest::AssertData& assertion) override;
    void log_message(const doctest::MessageData& message) override;
    void test_case_skipped(const doctest::TestCaseData& test_case) override;

private:
    // Writes TEXT as TAP diagnostic lines on stderr, after the name of the
    // test case (once per case) and the subcase path.
    void diagnose(const std::string& text);
    void write_line(const std::string& line);

    const doctest::ContextOptions& options_;
    std::ostream& results_;
    std::mutex mutex_;
    const doctest::TestCaseData* current_case_ = nullptr;
    bool current_case_named_ = false;
    std::vector<std::string> subcase_path_;
    int reported_cases_ = 0;
};

} // namespace unixdgram_test

#endif // UNIXDGRAM_TEST_TAP_REPORTER_HPP
