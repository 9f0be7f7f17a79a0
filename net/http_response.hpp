#pragma once
// coronet::http::response_head: an HTTP/1.1 response's status line and
// headers, formatted into a fixed buffer (no allocation).
//
//   coronet::http::response_head head(200, body.size(), "text/plain; charset=utf-8");
//   co_await writer.write(head.text());   // then the body (none for HEAD)
//
// The head is "HTTP/1.1 STATUS REASON", Date (RFC 9110 IMF-fixdate, UTC),
// Content-Length, Content-Type (when given), "Connection: close" when the
// connection ends after this response, then the blank line. net/http_server.hpp
// writes responses with it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace coronet::http {

/// The reason phrase of `status` ("OK", "Not Found", ...), "" for a code it
/// does not know (the status line is then "HTTP/1.1 599 ").
std::string_view reason_phrase(int status) noexcept;

/// `t` as an HTTP date, like "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
/// The text for the current second is cached per thread.
std::string_view http_date(std::time_t t) noexcept;

/// The head of one HTTP/1.1 response, formatted once by the constructor
/// into a buffer inside the object (no allocation): the status line, Date,
/// Content-Length, Content-Type when given, "Connection: close" unless
/// keep-alive, and the blank line. Writing it is the caller's (it does no
/// I/O and never waits).
///
///     coronet::http::response_head head(404, body.size(), "text/plain");
///     co_await writer.write(head.text());
///     co_await writer.write(body);
class response_head {
public:
    /// The longest content type accepted.
    static constexpr std::size_t max_content_type = 128;

    /// Formats the head for `status` with a body of `content_length` bytes;
    /// `keep_alive` false adds "Connection: close". Throws
    /// std::invalid_argument when `status` is not 100..999, or
    /// `content_type` is longer than max_content_type or holds a control
    /// byte (no header can be smuggled in through it).
    response_head(int status, std::uint64_t content_length, std::string_view content_type = {},
                  bool keep_alive = true);

    /// The formatted head, blank line included (valid while this object is).
    std::string_view text() const noexcept { return {buf_.data(), size_}; }

private:
    void append(std::string_view s) noexcept;
    std::array<char, 320> buf_;
    std::size_t size_ = 0;
};

} // namespace coronet::http
