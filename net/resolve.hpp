#pragma once
/// \file
/// Name resolution: host names to socket addresses without blocking the loop.
///
///     auto addrs = co_await coronet::resolve("localhost", 8080);
///     if (!addrs) fmt::print("{}\n", addrs.error().message());  // "Name or service not known"
///     for (const socket_address& a : *addrs) ...                 // in getaddrinfo's order
///
///     auto conn = co_await coronet::tcp_stream::connect("localhost", 8080);  // tries each
///
/// resolve() runs getaddrinfo(3) (AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG) on the
/// loop's worker pool (run_blocking, thread_pool.hpp); a numeric host
/// ("127.0.0.1", "::1", "[::1]") is converted at once and never touches the
/// pool. The addresses come in getaddrinfo's order (RFC 6724: usually IPv6
/// first where IPv6 works), without duplicates. AI_ADDRCONFIG leaves out a
/// family this machine has no non-loopback address for, as most clients want.
///
/// Errors are in the "getaddrinfo" category (resolve_category()) with
/// gai_strerror's messages: `r.error() == coronet::resolve_error::host_not_found`.
/// EAI_SYSTEM becomes the errno it carries (generic category); an empty host or
/// one containing a NUL byte is std::errc::invalid_argument.
///
/// Cancellation: a resolve still queued for a worker is dropped; a lookup that
/// already runs cannot be interrupted, so resolve() returns operation_canceled
/// at once and the lookup's answer is discarded when it ends
/// (cancel_policy::abandon): a timeout around resolve() fires on time.

#include "coronet/net/address.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <cstdint>
#include <netdb.h>
#include <string>
#include <system_error>
#include <vector>

namespace coronet {

/// getaddrinfo's failures (the EAI_* values), in resolve_category().
enum class resolve_error {
    host_not_found = EAI_NONAME,       ///< the name does not exist (or names no address)
    no_address = EAI_NODATA,           ///< the name exists but has no address
    try_again = EAI_AGAIN,             ///< temporary failure: no answer from the name server
    failed = EAI_FAIL,                 ///< permanent name server failure
    family_not_supported = EAI_FAMILY, ///< no address of a usable family
    out_of_memory = EAI_MEMORY,
};

/// The "getaddrinfo" error category; message() is gai_strerror's text.
const std::error_category& resolve_category() noexcept;

/// The std::error_code for `e`, in resolve_category().
inline std::error_code make_error_code(resolve_error e) noexcept {
    return {static_cast<int>(e), resolve_category()};
}

/// The error_code for a getaddrinfo return value `eai` (non-zero);
/// EAI_SYSTEM becomes `saved_errno` in the generic category.
std::error_code gai_error_code(int eai, int saved_errno) noexcept;

/// co_await → result<std::vector<socket_address>> (never empty on success):
/// the addresses of `host` with `port`, in getaddrinfo's order. Errors:
/// resolve_error (host_not_found, try_again, ...), an errno (EAI_SYSTEM),
/// invalid_argument (an empty host, or one with a NUL byte). Cancelled (its
/// scope, a timeout): operation_canceled at once; a lookup already running
/// is abandoned (cancel_policy::abandon). More in the file comment.
task<result<std::vector<socket_address>>> resolve(std::string host, std::uint16_t port);

/// The same lookup, blocking the calling thread: for a worker thread, or for
/// a program before its loop starts (command-line parsing).
result<std::vector<socket_address>> resolve_blocking(const std::string& host, std::uint16_t port);

} // namespace coronet

namespace std {
template <>
struct is_error_code_enum<coronet::resolve_error> : true_type {};
} // namespace std
