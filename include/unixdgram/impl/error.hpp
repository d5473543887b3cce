//
// unixdgram/impl/error.hpp
//
// Distributed under the Boost Software License, Version 1.0.
//
#ifndef UNIXDGRAM_IMPL_ERROR_HPP
#define UNIXDGRAM_IMPL_ERROR_HPP

#include <string>

namespace unixdgram {
namespace detail {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "unixdgram"; }

    std::string message(int value) const override
    {
        switch (static_cast<error>(value)) {
        case error::too_many_fds:
            return "too many file descriptors for one datagram";
        case error::message_truncated:
            return "datagram truncated: it was longer than the buffer";
        case error::not_a_unix_datagram_socket:
            return "descriptor is not an AF_UNIX datagram socket";
        }
        return "unknown unixdgram error";
    }
};

} // namespace detail

inline const std::error_category& error_category() noexcept
{
    static const detail::error_category_impl category;
    return category;
}

inline std::error_code make_error_code(error value) noexcept
{
    return {static_cast<int>(value), error_category()};
}

} // namespace unixdgram

#endif // UNIXDGRAM_IMPL_ERROR_HPP
