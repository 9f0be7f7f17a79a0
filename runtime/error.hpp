#pragma once
// coronet's own error codes, in the "coronet" category.
//
//   if (r.error() == coronet::error::timed_out) ...
//
// timed_out also compares equal to std::errc::timed_out, so generic code that
// checks the standard condition keeps working; it is still distinct from the
// kernel's ETIMEDOUT (a TCP connect that the kernel gave up on).

#include <system_error>

namespace coronet {

enum class error {
    timed_out = 1,      ///< a with_timeout / timeout_at deadline expired
    channel_closed = 2, ///< send on a closed channel, or receive on a closed, empty one
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace coronet

template <>
struct std::is_error_code_enum<coronet::error> : std::true_type {};
