//
// main.cpp — doctest's implementation, a TAP reporter and the test main().
//
// Every test executable links this file. By default it reports in TAP 13 so
// that `meson test` (protocol: 'tap') lists each doctest case on its own.
//
// Distributed under the Boost Software License, Version 1.0.
//
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <initializer_list>
#include <iostream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// TAP 13. The results go to the context's output stream (stdout, or --out):
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
class tap_reporter final : public doctest::IReporter {
public:
    explicit tap_reporter(const doctest::ContextOptions& options)
        : options_(options), results_(*options.cout)
    {
    }

    void report_query(const doctest::QueryData&) override {}

    void test_run_start() override { write_line("TAP version 13"); }

    void test_run_end(const doctest::TestRunStats&) override
    {
        write_line("1.." + std::to_string(reported_cases_));
    }

    void test_case_start(const doctest::TestCaseData& test_case) override
    {
        current_case_ = &test_case;
        current_case_named_ = false;
        subcase_path_.clear();
    }

    void test_case_reenter(const doctest::TestCaseData&) override { subcase_path_.clear(); }

    void test_case_end(const doctest::CurrentTestCaseStats& stats) override
    {
        namespace reason = doctest::TestCaseFailureReason;
        if (stats.failure_flags & reason::Timeout)
            diagnose("exceeded its time limit of " + std::to_string(current_case_->m_timeout) +
                     " s");
        if (stats.failure_flags & reason::ShouldHaveFailedButDidnt)
            diagnose("should have failed but did not");
        if (stats.failure_flags & reason::DidntFailExactlyNumTimes)
            diagnose("did not fail exactly " + std::to_string(current_case_->m_expected_failures) +
                     " times");
        if (stats.failure_flags & reason::TooManyFailedAsserts)
            diagnose("aborted: too many failed assertions");

        const std::lock_guard lock(mutex_);
        ++reported_cases_;
        write_line((stats.testCaseSuccess ? "ok " : "not ok ") + std::to_string(reported_cases_) +
                   " - " + describe(*current_case_));
        current_case_ = nullptr;
    }

    void test_case_exception(const doctest::TestCaseException& exception) override
    {
        std::ostringstream text;
        text << (exception.is_crash ? "CRASHED: " : "threw an exception: ")
             << exception.error_string.c_str();
        for (int i = doctest::IReporter::get_num_stringified_contexts(); i > 0; --i)
            text << "\n  with " << doctest::IReporter::get_stringified_contexts()[i - 1].c_str();
        diagnose(text.str());
    }

    void subcase_start(const doctest::SubcaseSignature& subcase) override
    {
        const std::lock_guard lock(mutex_);
        subcase_path_.emplace_back(subcase.m_name.c_str());
    }

    void subcase_end() override
    {
        const std::lock_guard lock(mutex_);
        if (!subcase_path_.empty())
            subcase_path_.pop_back();
    }

    void log_assert(const doctest::AssertData& assertion) override
    {
        if (!assertion.m_failed && !options_.success)
            return;
        std::ostringstream text;
        text << assertion_location(assertion.m_file, assertion.m_line)
             << (assertion.m_failed ? doctest::failureString(assertion.m_at) : "SUCCESS") << ": "
             << doctest::assertString(assertion.m_at) << "( " << assertion.m_expr << " ) ";
        describe_outcome(text, assertion);
        append_active_contexts(text);
        diagnose(text.str());
    }

    void log_message(const doctest::MessageData& message) override
    {
        std::ostringstream text;
        text << assertion_location(message.m_file, message.m_line)
             << ((message.m_severity & doctest::assertType::is_warn)
                     ? "MESSAGE"
                     : doctest::failureString(message.m_severity))
             << ": " << message.m_string.c_str();
        append_active_contexts(text);
        diagnose(text.str());
    }

    void test_case_skipped(const doctest::TestCaseData& test_case) override
    {
        // doctest also calls this for cases left out by a filter or a range;
        // those are not part of this run and get no line. Only a skip()
        // decorator makes a case that TAP should count as skipped.
        if (!test_case.m_skip || options_.no_skip)
            return;
        const std::lock_guard lock(mutex_);
        ++reported_cases_;
        write_line("ok " + std::to_string(reported_cases_) + " - " + describe(test_case) +
                   " # SKIP");
    }

private:
    // A TAP description ends at the first '#' and at the end of the line;
    // the protocol escapes '#' with a backslash, and a name cannot span lines.
    static std::string describe(const doctest::TestCaseData& test_case)
    {
        std::string description;
        for (const char* c = test_case.m_name; *c != '\0'; ++c) {
            if (*c == '#')
                description += "\\#";
            else if (*c == '\n' || *c == '\r')
                description += ' ';
            else
                description += *c;
        }
        return description;
    }

    static std::string assertion_location(const char* file, int line)
    {
        return std::string(doctest::skipPathFromFilename(file)) + ":" + std::to_string(line) + ": ";
    }

    static void describe_outcome(std::ostream& text, const doctest::AssertData& assertion)
    {
        namespace at = doctest::assertType;
        const bool throws_as = (assertion.m_at & at::is_throws_as) != 0;
        const bool throws_with = (assertion.m_at & at::is_throws_with) != 0;
        if (throws_as)
            text << "expected " << assertion.m_exception_type << "; ";
        if (throws_with)
            text << "expected the message \"" << assertion.m_exception_string.c_str() << "\"; ";

        if ((assertion.m_at & at::is_throws) != 0) {
            text << (assertion.m_threw ? "threw as expected" : "did NOT throw at all");
        } else if (throws_as || throws_with) {
            if (!assertion.m_threw)
                text << "did NOT throw at all";
            else if (assertion.m_failed)
                text << "threw a different exception: " << assertion.m_exception.c_str();
            else
                text << "threw as expected";
        } else if ((assertion.m_at & at::is_nothrow) != 0) {
            if (assertion.m_threw)
                text << "THREW: " << assertion.m_exception.c_str();
            else
                text << "did not throw";
        } else if (assertion.m_threw) {
            text << "THREW: " << assertion.m_exception.c_str();
        } else {
            text << (assertion.m_failed ? "is NOT correct!" : "is correct!")
                 << "\n  values: " << doctest::assertString(assertion.m_at) << "( "
                 << assertion.m_decomp.c_str() << " )";
        }
    }

    // INFO() and CAPTURE() in scope at the assertion.
    static void append_active_contexts(std::ostream& text)
    {
        const int count = doctest::IReporter::get_num_active_contexts();
        const doctest::IContextScope* const* contexts = doctest::IReporter::get_active_contexts();
        for (int i = 0; i < count; ++i) {
            text << "\n  with ";
            contexts[i]->stringify(&text);
        }
    }

    // Writes TEXT as TAP diagnostic lines on stderr, after the name of the
    // test case (once per case) and the subcase path.
    void diagnose(const std::string& text)
    {
        if (current_case_ != nullptr && current_case_->m_no_output)
            return;
        const std::lock_guard lock(mutex_);
        if (current_case_ != nullptr && !current_case_named_) {
            write_diagnostic(std::string("test case \"") + current_case_->m_name + '"');
            current_case_named_ = true;
        }
        if (!subcase_path_.empty()) {
            std::string path = "in subcase";
            const char* separator = " \"";
            for (const std::string& name : subcase_path_) {
                path += separator + name + '"';
                separator = " > \"";
            }
            write_diagnostic(path);
        }
        std::string_view rest = text;
        while (true) {
            const auto end = rest.find('\n');
            write_diagnostic(rest.substr(0, end));
            if (end == std::string_view::npos)
                break;
            rest.remove_prefix(end + 1);
        }
    }

    // Both are flushed line by line: if the process dies, what was said is in the log.
    void write_line(const std::string& line) { results_ << line << std::endl; }
    static void write_diagnostic(std::string_view line) { std::cerr << "# " << line << std::endl; }

    const doctest::ContextOptions& options_;
    std::ostream& results_;
    std::mutex mutex_;
    const doctest::TestCaseData* current_case_ = nullptr;
    bool current_case_named_ = false;
    std::vector<std::string> subcase_path_;
    int reported_cases_ = 0;
};

REGISTER_REPORTER("tap", 1, tap_reporter);

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
