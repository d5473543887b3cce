//
// tap_reporter.cpp — the TAP 13 reporter declared in tap_reporter.hpp.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "tap_reporter.hpp"

#include <iostream>
#include <sstream>
#include <string_view>

namespace unixdgram_test {

namespace {

// A TAP description ends at the first '#' and at the end of the line;
// the protocol escapes '#' with a backslash, and a name cannot span lines.
std::string describe(const doctest::TestCaseData& test_case)
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

std::string assertion_location(const char* file, int line)
{
    return std::string(doctest::skipPathFromFilename(file)) + ":" + std::to_string(line) + ": ";
}

void describe_outcome(std::ostream& text, const doctest::AssertData& assertion)
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
void append_active_contexts(std::ostream& text)
{
    const int count = doctest::IReporter::get_num_active_contexts();
    const doctest::IContextScope* const* contexts = doctest::IReporter::get_active_contexts();
    for (int i = 0; i < count; ++i) {
        text << "\n  with ";
        contexts[i]->stringify(&text);
    }
}

// Flushed line by line, like the results: if the process dies, what was said
// is in the log.
void write_diagnostic(std::string_view line)
{
    std::cerr << "# " << line << std::endl;
}

} // namespace

tap_reporter::tap_reporter(const doctest::ContextOptions& options)
    : options_(options), results_(*options.cout)
{
}

void tap_reporter::report_query(const doctest::QueryData&) {}

void tap_reporter::test_run_start()
{
    write_line("TAP version 13");
}

void tap_reporter::test_run_end(const doctest::TestRunStats&)
{
    write_line("1.." + std::to_string(reported_cases_));
}

void tap_reporter::test_case_start(const doctest::TestCaseData& test_case)
{
    current_case_ = &test_case;
    current_case_named_ = false;
    subcase_path_.clear();
}

void tap_reporter::test_case_reenter(const doctest::TestCaseData&)
{
    subcase_path_.clear();
}

void tap_reporter::test_case_end(const doctest::CurrentTestCaseStats& stats)
{
    namespace reason = doctest::TestCaseFailureReason;
    if (stats.failure_flags & reason::Timeout)
        diagnose("exceeded its time limit of " + std::to_string(current_case_->m_timeout) + " s");
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

void tap_reporter::test_case_exception(const doctest::TestCaseException& exception)
{
    std::ostringstream text;
    text << (exception.is_crash ? "CRASHED: " : "threw an exception: ")
         << exception.error_string.c_str();
    for (int i = doctest::IReporter::get_num_stringified_contexts(); i > 0; --i)
        text << "\n  with " << doctest::IReporter::get_stringified_contexts()[i - 1].c_str();
    diagnose(text.str());
}

void tap_reporter::subcase_start(const doctest::SubcaseSignature& subcase)
{
    const std::lock_guard lock(mutex_);
    subcase_path_.emplace_back(subcase.m_name.c_str());
}

void tap_reporter::subcase_end()
{
    const std::lock_guard lock(mutex_);
    if (!subcase_path_.empty())
        subcase_path_.pop_back();
}

void tap_reporter::log_assert(const doctest::AssertData& assertion)
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

void tap_reporter::log_message(const doctest::MessageData& message)
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

void tap_reporter::test_case_skipped(const doctest::TestCaseData& test_case)
{
    // doctest also calls this for cases left out by a filter or a range;
    // those are not part of this run and get no line. Only a skip()
    // decorator makes a case that TAP should count as skipped.
    if (!test_case.m_skip || options_.no_skip)
        return;
    const std::lock_guard lock(mutex_);
    ++reported_cases_;
    write_line("ok " + std::to_string(reported_cases_) + " - " + describe(test_case) + " # SKIP");
}

void tap_reporter::diagnose(const std::string& text)
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

void tap_reporter::write_line(const std::string& line)
{
    results_ << line << std::endl;
}

} // namespace unixdgram_test
