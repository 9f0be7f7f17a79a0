#pragma once
// coronet::http::request_parser: an HTTP/1.1 request-head parser with limits,
// independent of sockets (net/http_server.hpp feeds it from a stream_reader).
//
//   coronet::http::request_parser parser;                  // default limits
//   auto done = parser.parse(bytes_so_far);                 // result<bool>
//   if (!done) answer coronet::http::status_of(done.error()) and close;
//   else if (*done) use parser.request(): method, target, headers, ...;
//   else receive more bytes and call parse() again with all of them.
//
// Incremental: parse() is given every byte received since the request began,
// a longer view of the same bytes each call (they may have moved: only their
// offsets are remembered). Each call looks only at the bytes it has not seen,
// line by line, and checks the limits as soon as a line (or the lack of one)
// breaks them, so an oversized or malformed head is refused before it is all
// there. reset() starts the next request.
//
// What it accepts (RFC 9112): CRLF or bare LF line ends, empty lines before
// the request line (skipped), "METHOD SP target SP HTTP/1.x" with single
// spaces, header lines "name: value" (token names, no space before the colon,
// no obsolete line folding, no control bytes but HTAB in values, optional
// whitespace around the value trimmed). HTTP/1.1 needs exactly one Host, and
// a request with any Transfer-Encoding is refused (501, see request_error):
// the body's length must be given by Content-Length.
//
// No allocation while parsing: the header table is allocated once by the
// constructor (limits.max_headers entries).

#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

/// HTTP/1.1 for servers: request_parser reads a request head,
/// response_head formats an answer's, read_request() and write_response()
/// (net/http_server.hpp) serve requests on a stream_reader and
/// stream_writer, target_path() and read_file_beneath() (net/http_files.hpp)
/// serve static files.
namespace coronet::http {

/// Why a request was refused; status_of() gives the HTTP status to answer.
/// Every one of these ends the connection: after it, the server cannot
/// know where the next request would start (or will not read it).
enum class request_error {
    bad_request_line = 1,            ///< 400: not "METHOD SP target SP HTTP/x.y"
    bad_header = 2,                  ///< 400: a malformed header line (see above)
    bad_host = 3,                    ///< 400: HTTP/1.1 without exactly one Host, or two Hosts
    bad_content_length = 4,          ///< 400: not a decimal number, or two that differ
    request_line_too_long = 5,       ///< 414: longer than limits.max_request_line
    headers_too_large = 6,           ///< 431: the head is longer than limits.max_head
    too_many_headers = 7,            ///< 431: more than limits.max_headers header lines
    body_too_large = 8,              ///< 413: Content-Length above limits.max_body
    unsupported_transfer_coding = 9, ///< 501: the request has a Transfer-Encoding
    unsupported_expectation = 10,    ///< 417: an Expect other than 100-continue
    unsupported_version = 11,        ///< 505: not HTTP/1.x
    request_timeout = 12, ///< 408: the request did not arrive in time (net/http_server.hpp)
};

/// The "coronet.http" category of request_error; message() describes each
/// code, like "invalid Content-Length".
const std::error_category& request_error_category() noexcept;

/// The std::error_code for `e`, in request_error_category() (also found by
/// std::error_code's constructor from a request_error).
inline std::error_code make_error_code(request_error e) noexcept {
    return {static_cast<int>(e), request_error_category()};
}

/// The HTTP status that answers `e` (400, 408, 413, 414, 417, 431, 501, 505)
/// when it is a request_error; 0 for any other error (end of stream, a reset,
/// an idle timeout...), where the connection is closed without an answer.
int status_of(std::error_code e) noexcept;

/// How much of a request the parser (and read_request) accepts.
struct request_limits {
    std::size_t max_request_line = 8 * 1024; ///< bytes, line end included
    std::size_t max_head = 8 * 1024;         ///< request line + headers + blank line
    std::size_t max_headers = 64;            ///< header lines
    std::uint64_t max_body = 56 * 1024;      ///< Content-Length (at most 2^59)
};

/// One header line: the name as sent, the value without surrounding whitespace.
struct header {
    std::string_view name;  ///< e.g. "Content-Type" (case as sent; compare with iequals())
    std::string_view value; ///< e.g. "text/plain" (may be empty)
};

/// A parsed request head. Every view points into the bytes given to parse().
struct request {
    std::string_view method;          ///< e.g. "GET" (case-sensitive, as sent)
    std::string_view target;          ///< as sent, e.g. "/a%20b?x=1"
    int version_minor = 1;            ///< `HTTP/1.<minor>`: 0 or 1 (a higher minor counts as 1)
    std::span<const header> headers;  ///< every header line, in the order sent (names repeat)
    std::uint64_t content_length = 0; ///< body bytes after the head (0 without Content-Length)
    bool keep_alive = true;           ///< another request may follow on the connection
    bool expect_continue = false;     ///< "Expect: 100-continue" (HTTP/1.1) and a body follows
    std::size_t head_size = 0;        ///< bytes of the head, blank line included
    std::string_view body;            ///< set by read_request (net/http_server.hpp), else empty

    /// The value of the first header named `name` (ASCII case-insensitive).
    std::optional<std::string_view> find(std::string_view name) const noexcept;
};

/// True when `a` and `b` are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Parses one HTTP/1.1 request head at a time, incrementally, within
/// request_limits. Reused for each request on a connection: reset() between
/// them. It does no I/O and never waits (read_request() in
/// net/http_server.hpp feeds it); it belongs to one connection, not to be
/// shared between threads.
///
/// It accepts (RFC 9112) CRLF or bare LF line ends, empty lines before the
/// request line, `METHOD SP target SP HTTP/1.x` with single spaces, and
/// header lines `name: value` (a token name, no space before the colon, no
/// obsolete line folding, no control byte but HTAB in the value). HTTP/1.1
/// needs exactly one Host; a body's length must be given by Content-Length
/// (any Transfer-Encoding is refused). Anything else is a request_error.
///
///     coronet::http::request_parser parser;
///     auto done = parser.parse(bytes_so_far); // every byte since the request began
///     if (!done) status = coronet::http::status_of(done.error()); // refuse, close
///     else if (*done) serve(parser.request());
///     else receive more and call parse() again.
class request_parser {
public:
    /// Allocates the header table (limits.max_headers entries). Throws
    /// std::bad_alloc, std::invalid_argument when max_request_line,
    /// max_head or max_headers is 0.
    explicit request_parser(request_limits limits = {});

    /// The limits in force: those given, with max_head capped at 2^32 - 1
    /// and max_body at 2^59.
    const request_limits& limits() const noexcept { return limits_; }

    /// Parses the head at the start of `data` (every byte received since
    /// the request began; see the top of this file). → true: complete,
    /// request() holds it (bytes past request().head_size are not looked
    /// at); false: incomplete, call again with more bytes. Errors: the
    /// request_error values; after one, parse() returns it again until
    /// reset(). Once complete, a call with the same head at a new address
    /// only re-points request()'s views there (std::logic_error is thrown if
    /// `data` is then shorter than the head).
    result<bool> parse(std::string_view data);

    /// The head of the last complete parse(); views valid while its bytes are.
    const http::request& request() const noexcept { return req_; }
    /// The same head, modifiable (read_request() sets its body).
    http::request& request() noexcept { return req_; }

    /// Forgets the current request, for the next one on the connection.
    void reset() noexcept;

private:
    struct field {
        std::uint32_t name, name_size, value, value_size; // offsets into the data
    };
    std::error_code fail(request_error e) noexcept;
    std::error_code request_line(std::string_view line, std::size_t at) noexcept;
    std::error_code header_line(std::string_view line, std::size_t at) noexcept;
    std::error_code finish(std::string_view data) noexcept;
    void point_views(std::string_view data) noexcept;

    request_limits limits_;
    std::vector<field> fields_;   // capacity max_headers, never exceeded
    std::vector<header> headers_; // the views of fields_ into the last data
    http::request req_;
    std::size_t line_start_ = 0; // where the first line not yet complete starts
    std::size_t method_size_ = 0, target_at_ = 0, target_size_ = 0;
    bool have_request_line_ = false;
    bool complete_ = false;
    std::error_code error_;
};

} // namespace coronet::http

template <>
struct std::is_error_code_enum<coronet::http::request_error> : std::true_type {};
