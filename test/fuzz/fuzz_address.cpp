//
// fuzz_address.cpp — libFuzzer harness for the conversion from a sockaddr_un
// the kernel filled to an endpoint (detail::endpoint_from_sockaddr), and for
// make_endpoint, over every address length from 0 to sizeof(sockaddr_un) and
// arbitrary bytes.
//
// Input: byte 0 picks the address length (modulo sizeof(sockaddr_un) + 1);
// the rest fills sun_path (the bytes past the input stay zero, as the kernel
// leaves them) and is also given to make_endpoint as a name.
//
// Checked for each input:
//   - nothing throws (both functions are noexcept: an exception would end in
//     std::terminate, which libFuzzer reports as a crash);
//   - a length up to offsetof(sun_path) gives the empty endpoint, no error;
//   - otherwise the name is the address's bytes: all of them for an abstract
//     name (a leading NUL), up to the first NUL for a path, never more than
//     sun_path holds;
//   - the endpoint holds exactly that name: path(), size() and the bytes
//     behind data() agree with it, and converting its own sockaddr back
//     gives it again (round trip; for a path given to make_endpoint with a
//     NUL inside, the part before the NUL, which is what the kernel reads);
//   - the one error is ENAMETOOLONG, only for the name no endpoint holds
//     (an abstract name of all 108 bytes ending in NUL), with an empty
//     endpoint;
//   - make_endpoint is exact the same way for names up to 108 bytes and
//     refuses longer ones.
//
// Distributed under the Boost Software License, Version 1.0.
//
#include <unixdgram.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include <sys/socket.h>
#include <sys/un.h>

namespace {

constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t room = sizeof(sockaddr_un::sun_path);

[[noreturn]] void fail(const char* what, std::size_t length)
{
    std::fprintf(stderr, "fuzz_address: %s (address length %zu)\n", what, length);
    std::abort();
}

bool is_name_too_long(const std::error_code& ec)
{
    return ec.value() == ENAMETOOLONG && ec.category() == asio::error::get_system_category();
}

// The name no endpoint holds: Asio's resize() takes its trailing NUL for a
// terminator.
bool unholdable(std::string_view name)
{
    return name.size() == room && name.front() == '\0' && name.back() == '\0';
}

// `endpoint` holds exactly `name`.
// `length`: the address length, or the name's for make_endpoint, to report.
void check_exact(const unixdgram::endpoint& endpoint, std::string_view name, std::size_t length)
{
    if (endpoint.path() != name)
        fail("path() differs from the name", length);
    if (endpoint.size() != path_offset + name.size())
        fail("size() differs from the name's length", length);
    const auto* held = reinterpret_cast<const sockaddr_un*>(endpoint.data());
    if (held->sun_family != AF_UNIX)
        fail("the endpoint's family is not AF_UNIX", length);
    if (std::memcmp(held->sun_path, name.data(), name.size()) != 0)
        fail("the bytes behind data() differ from the name", length);
    // What the kernel makes of the endpoint's address: a path ends at its
    // first NUL (make_endpoint keeps the bytes it is given, as Asio does).
    std::string_view seen = name;
    if (!seen.empty() && seen.front() != '\0')
        seen = seen.substr(0, ::strnlen(seen.data(), seen.size()));
    std::error_code ec;
    const unixdgram::endpoint again = unixdgram::detail::endpoint_from_sockaddr(
        *held, static_cast<socklen_t>(endpoint.size()), ec);
    if (ec || again.path() != seen || again.size() != path_offset + seen.size())
        fail("converting the endpoint's own address back gives another name", length);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    const std::size_t length = data[0] % (sizeof(sockaddr_un) + 1);
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, rest.data(), std::min(rest.size(), room));

    std::error_code ec = std::make_error_code(std::errc::interrupted); // must be overwritten
    const unixdgram::endpoint endpoint =
        unixdgram::detail::endpoint_from_sockaddr(address, static_cast<socklen_t>(length), ec);
    if (length <= path_offset) {
        if (ec || endpoint != unixdgram::endpoint() || endpoint.size() != path_offset)
            fail("a nameless address is not the empty endpoint", length);
    } else {
        std::string_view name(address.sun_path, std::min(length - path_offset, room));
        if (name.front() != '\0')
            name = name.substr(0, ::strnlen(name.data(), name.size()));
        if (ec) {
            if (!is_name_too_long(ec) || !unholdable(name))
                fail("an error other than ENAMETOOLONG for the one unholdable name", length);
            if (endpoint != unixdgram::endpoint())
                fail("an error left a name in the endpoint", length);
        } else {
            if (unholdable(name))
                fail("the unholdable name was not reported", length);
            check_exact(endpoint, name, length);
        }
    }

    // make_endpoint of the same bytes taken as a name.
    const std::string_view name = rest;
    const unixdgram::endpoint made = unixdgram::make_endpoint(name, ec);
    if (name.size() > room || unholdable(name)) {
        if (!is_name_too_long(ec) || made != unixdgram::endpoint())
            fail("make_endpoint took a name no endpoint holds", name.size());
    } else if (ec) {
        fail("make_endpoint refused a name that fits", name.size());
    } else if (name.size() == room && name.back() == '\0') {
        // A 108-byte path ending in NUL is the 107-byte path it names.
        check_exact(made, name.substr(0, room - 1), name.size());
    } else {
        check_exact(made, name, name.size());
    }
    return 0;
}
