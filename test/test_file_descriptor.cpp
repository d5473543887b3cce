//
// test_file_descriptor.cpp — the move-only owner of one descriptor.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include "unixdgram_test.hpp"

#include <unixdgram/file_descriptor.hpp>

#include <asio/error.hpp>

#include <cerrno>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

using namespace unixdgram_test;
using unixdgram::file_descriptor;

namespace {

/// Opens /dev/null as a bare descriptor number, for a test to hand to a
/// file_descriptor; `cloexec` chooses whether it is close-on-exec.
int open_raw_dev_null(bool cloexec = true)
{
    int fd = ::open("/dev/null", O_RDONLY | (cloexec ? O_CLOEXEC : 0));
    REQUIRE(fd >= 0);
    return fd;
}

} // namespace

static_assert(!std::is_copy_constructible_v<file_descriptor>);
static_assert(!std::is_copy_assignable_v<file_descriptor>);
static_assert(std::is_nothrow_move_constructible_v<file_descriptor>);
static_assert(std::is_nothrow_move_assignable_v<file_descriptor>);
static_assert(std::is_nothrow_swappable_v<file_descriptor>);
static_assert(std::is_nothrow_default_constructible_v<file_descriptor>);
static_assert(!std::is_convertible_v<int, file_descriptor>, "adopting a descriptor is explicit");
static_assert(!std::is_convertible_v<file_descriptor, bool>, "operator bool is explicit");
static_assert(std::is_constructible_v<bool, file_descriptor>);

TEST_CASE_FIXTURE(fd_count_fixture, "a default-constructed file_descriptor owns nothing")
{
    file_descriptor empty;
    CHECK(empty.get() == -1);
    CHECK_FALSE(empty);
    CHECK(empty.release() == -1);
}

TEST_CASE_FIXTURE(fd_count_fixture, "a negative number makes an empty file_descriptor")
{
    file_descriptor from_minus_one(-1);
    file_descriptor from_minus_five(-5);
    CHECK(from_minus_one.get() == -1);
    CHECK(from_minus_five.get() == -1);
    CHECK_FALSE(from_minus_five);
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "a file_descriptor closes the descriptor it owns when destroyed")
{
    int fd = open_raw_dev_null();
    {
        file_descriptor owner(fd);
        CHECK(owner.get() == fd);
        CHECK(static_cast<bool>(owner));
        CHECK(is_open_fd(fd));
    }
    CHECK_FALSE(is_open_fd(fd));
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "moving a file_descriptor transfers ownership and empties the source")
{
    int fd = open_raw_dev_null();
    file_descriptor source(fd);

    file_descriptor constructed(std::move(source));
    CHECK(constructed.get() == fd);
    CHECK(source.get() == -1); // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK_FALSE(source);

    file_descriptor assigned;
    assigned = std::move(constructed);
    CHECK(assigned.get() == fd);
    CHECK(constructed.get() == -1); // NOLINT(bugprone-use-after-move)
    CHECK(is_open_fd(fd));
}

TEST_CASE_FIXTURE(fd_count_fixture, "move assignment closes the descriptor the target held")
{
    int old_fd = open_raw_dev_null();
    int new_fd = open_raw_dev_null();
    file_descriptor target(old_fd);
    file_descriptor source(new_fd);

    target = std::move(source);
    CHECK(target.get() == new_fd);
    CHECK_FALSE(is_open_fd(old_fd));
    CHECK(is_open_fd(new_fd));
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "assigning a file_descriptor to itself keeps the descriptor open")
{
    int fd = open_raw_dev_null();
    file_descriptor owner(fd);
    file_descriptor& same = owner;
    owner = std::move(same);
    CHECK(owner.get() == fd);
    CHECK(is_open_fd(fd));
}

TEST_CASE_FIXTURE(fd_count_fixture, "release gives up ownership without closing")
{
    int fd = open_raw_dev_null();
    int released = -1;
    {
        file_descriptor owner(fd);
        released = owner.release();
        CHECK(owner.get() == -1);
        CHECK_FALSE(owner);
    }
    CHECK(released == fd);
    CHECK(is_open_fd(fd));
    CHECK(::close(fd) == 0);
}

TEST_CASE_FIXTURE(fd_count_fixture, "reset closes the old descriptor and takes the new one")
{
    int first = open_raw_dev_null();
    int second = open_raw_dev_null();
    file_descriptor owner(first);

    owner.reset(second);
    CHECK(owner.get() == second);
    CHECK_FALSE(is_open_fd(first));
    CHECK(is_open_fd(second));

    owner.reset();
    CHECK(owner.get() == -1);
    CHECK_FALSE(is_open_fd(second));

    int third = open_raw_dev_null();
    owner.reset(third);
    owner.reset(-7);
    CHECK(owner.get() == -1);
    CHECK_FALSE(is_open_fd(third));
}

TEST_CASE_FIXTURE(fd_count_fixture, "close closes the descriptor and empties the object")
{
    int fd = open_raw_dev_null();
    file_descriptor owner(fd);

    SUBCASE("throwing form")
    {
        owner.close();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        owner.close(ec);
        CHECK_FALSE(ec);
    }
    CHECK(owner.get() == -1);
    CHECK_FALSE(is_open_fd(fd));
}

TEST_CASE_FIXTURE(fd_count_fixture, "close on an empty file_descriptor reports EBADF")
{
    file_descriptor empty;

    SUBCASE("throwing form")
    {
        try {
            empty.close();
            FAIL("close on an empty file_descriptor did not throw");
        } catch (const std::system_error& failure) {
            CHECK(failure.code() == asio::error::bad_descriptor);
            CHECK(&failure.code().category() == &asio::error::get_system_category());
        }
    }
    SUBCASE("error_code form")
    {
        std::error_code ec;
        empty.close(ec);
        CHECK(ec == asio::error::bad_descriptor);
        CHECK(&ec.category() == &asio::error::get_system_category());
    }
    CHECK(empty.get() == -1);
}

TEST_CASE_FIXTURE(
    fd_count_fixture,
    "close reports EBADF for a descriptor closed behind its back and empties the object")
{
    int fd = open_raw_dev_null();
    file_descriptor owner(fd);
    REQUIRE(::close(fd) == 0);

    std::error_code ec;
    owner.close(ec);
    CHECK(ec == asio::error::bad_descriptor);
    CHECK(owner.get() == -1);
}

TEST_CASE_FIXTURE(fd_count_fixture, "dup makes a close-on-exec descriptor for the same file")
{
    // The original is deliberately not close-on-exec: dup must set the flag
    // rather than copy it.
    file_descriptor original(open_raw_dev_null(false));
    REQUIRE_FALSE(is_cloexec(original.get()));

    file_descriptor copy;
    SUBCASE("throwing form")
    {
        copy = original.dup();
    }
    SUBCASE("error_code form")
    {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        copy = original.dup(ec);
        CHECK_FALSE(ec);
    }
    REQUIRE(copy);
    CHECK(copy.get() != original.get());
    CHECK(same_file(copy.get(), original.get()));
    CHECK(is_cloexec(copy.get()));
    CHECK_FALSE(is_cloexec(original.get()));

    // The copy is independent: closing it leaves the original open.
    int copy_number = copy.get();
    copy.close();
    CHECK_FALSE(is_open_fd(copy_number));
    CHECK(is_open_fd(original.get()));
}

TEST_CASE_FIXTURE(fd_count_fixture, "dup of an empty file_descriptor reports EBADF")
{
    file_descriptor empty;

    SUBCASE("throwing form")
    {
        try {
            file_descriptor copy = empty.dup();
            FAIL("dup of an empty file_descriptor returned " << copy.get());
        } catch (const std::system_error& failure) {
            CHECK(failure.code() == asio::error::bad_descriptor);
        }
    }
    SUBCASE("error_code form")
    {
        std::error_code ec;
        file_descriptor copy = empty.dup(ec);
        CHECK(ec == asio::error::bad_descriptor);
        CHECK_FALSE(copy);
    }
}

TEST_CASE_FIXTURE(fd_count_fixture, "dup clears the error code of an earlier failure")
{
    file_descriptor original(open_raw_dev_null());
    std::error_code ec = std::make_error_code(std::errc::bad_file_descriptor);
    file_descriptor copy = original.dup(ec);
    CHECK_FALSE(ec);
    CHECK(copy);
}

TEST_CASE_FIXTURE(fd_count_fixture, "swap exchanges the descriptors")
{
    int fd = open_raw_dev_null();
    file_descriptor owner(fd);
    file_descriptor empty;

    swap(owner, empty);
    CHECK(owner.get() == -1);
    CHECK(empty.get() == fd);

    using std::swap;
    int other_fd = open_raw_dev_null();
    file_descriptor other(other_fd);
    swap(empty, other);
    CHECK(empty.get() == other_fd);
    CHECK(other.get() == fd);
    CHECK(is_open_fd(fd));
    CHECK(is_open_fd(other_fd));
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "adopt takes an inherited descriptor by number and makes it close-on-exec")
{
    // Inherited: open without close-on-exec, as a parent leaves it.
    int fd = ::open("/dev/null", O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE_FALSE(is_cloexec(fd));

    std::error_code ec = std::make_error_code(std::errc::io_error);
    file_descriptor adopted = file_descriptor::adopt(fd, ec);
    CHECK_FALSE(ec);
    CHECK(adopted.get() == fd);
    CHECK(is_cloexec(fd));
    adopted.reset();
    CHECK_FALSE(is_open_fd(fd));

    // The throwing form, on one already close-on-exec.
    int second = open_raw_dev_null();
    file_descriptor thrown = file_descriptor::adopt(second);
    CHECK(thrown.get() == second);
    CHECK(is_cloexec(second));
}

TEST_CASE_FIXTURE(fd_count_fixture,
                  "adopt of a number that is not open or negative reports EBADF and owns nothing")
{
    int closed = open_raw_dev_null();
    ::close(closed);
    for (int number : {closed, -1, -42}) {
        CAPTURE(number);
        std::error_code ec;
        file_descriptor adopted = file_descriptor::adopt(number, ec);
        CHECK(ec == errno_is{EBADF});
        CHECK_FALSE(adopted);
        CHECK(thrown_by([&] { (void)file_descriptor::adopt(number); }) == errno_is{EBADF});
    }
    try {
        (void)file_descriptor::adopt(closed);
    } catch (const std::system_error& failure) {
        CHECK(std::string_view(failure.what()).find("file_descriptor::adopt") !=
              std::string_view::npos);
    }
}
