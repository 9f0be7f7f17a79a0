#pragma once
// HTTP/1.1 on coronet's buffered streams: read_request reads one request
// (head and body) within limits and timeouts, write_response answers it,
// reject answers a request that cannot be served and ends the connection.
//
//   coronet::http::request_limits limits;
//   coronet::stream_reader reader(conn, limits.max_head + limits.max_body);
//   coronet::stream_writer writer(conn);
//   coronet::http::request_parser parser(limits);
//   for (;;) {
//       auto req = co_await coronet::http::read_request(reader, writer, parser);
//       if (!req) {   // closed, idle too long, or a request to refuse (400, 408, 413, 431...)
//           if (int status = coronet::http::status_of(req.error()))
//               co_await coronet::http::reject(reader, writer, status);
//           co_return;
//       }
//       if (!co_await coronet::http::write_response(writer, **req, 200, "hi\n")) co_return;
//       if (!(*req)->keep_alive) co_return;
//   }
//
// Keep-alive and pipelining: requests are read in order from one reader, so
// several requests in one segment are answered in order. Responses stay in
// the writer until read_request has to wait for the network (or the writer is
// full), so the answers to pipelined requests leave together, and nothing
// waits unsent while the server waits for the client.

#include "coronet/net/byte_stream.hpp"
#include "coronet/net/http_request.hpp"
#include "coronet/net/http_response.hpp"
#include "coronet/net/stream_reader.hpp"
#include "coronet/net/stream_writer.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/task.hpp"
#include "coronet/runtime/timeout.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>
#include <string_view>

namespace coronet::http {

/// How long read_request waits.
struct timeouts {
    /// Between requests: a connection with no new request for this long is
    /// closed without an answer (error::timed_out).
    std::chrono::milliseconds idle{60'000};
    /// From a request's first byte until its head and body are in; a slower
    /// request is request_error::request_timeout (answer 408).
    std::chrono::milliseconds request{10'000};
};

namespace detail {
inline std::string_view text(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
/// "404 Not Found\n" in `out`.
inline std::string_view status_text(int status, std::span<char, 48> out) noexcept {
    const std::string_view reason = reason_phrase(status);
    const int n = std::snprintf(out.data(), out.size(), "%d %.*s\n", status,
                                static_cast<int>(reason.size()), reason.data());
    return {out.data(), static_cast<std::size_t>(std::max(n, 0))};
}
} // namespace detail

/// co_await → result<const request*>: the next request on the connection,
/// its head parsed by `parser` (reset first) and its Content-Length body in
/// request::body; every view is valid until the next read on `reader`. Sends
/// "100 Continue" before reading a body the client waits to send (Expect).
/// Flushes `writer` before it waits for the network. Errors: end_of_stream
/// (closed between requests), error::timed_out (idle timeout),
/// unexpected_eof (closed inside a request), request_error values (a request
/// to refuse: answer status_of(e) with reject()), buffer_too_small (the
/// reader cannot hold max_head + max_body bytes), the streams' errors. After
/// an error, answers to earlier requests may still be in `writer` (it was
/// not flushed because the failing request was already buffered): reject()
/// sends them before its own answer.
/// Cancellation: the read or flush it waits on is cancelled and it fails
/// with operation_canceled; what had arrived stays buffered in `reader`.
template <byte_stream S>
task<result<const request*>> read_request(stream_reader<S>& reader, stream_writer<S>& writer,
                                          request_parser& parser, timeouts limits = {}) {
    parser.reset();
    const request_limits& lim = parser.limits();
    if (lim.max_head + lim.max_body > reader.capacity()) // both fit, so fill() cannot fail
        co_return make_error_code(error::buffer_too_small);
    if (reader.buffered().empty()) {
        if (auto sent = co_await writer.flush(); !sent) co_return sent.error();
        auto first = co_await with_timeout(limits.idle, reader.fill(1));
        if (!first) co_return first.error(); // idle timeout, EOF, reset, cancelled
    }
    const auto deadline = clock::now() + std::chrono::ceil<clock::duration>(limits.request);
    auto wait_for = [&](std::size_t n) -> task<result<void>> {
        if (auto sent = co_await writer.flush(); !sent) co_return sent.error();
        auto more = co_await timeout_at(deadline, reader.fill(n));
        if (!more && more.error() == error::timed_out)
            co_return make_error_code(request_error::request_timeout);
        if (!more) co_return more.error();
        co_return result<void>{};
    };
    for (;;) {
        auto done = parser.parse(detail::text(reader.buffered()));
        if (!done) co_return done.error();
        if (*done) break;
        if (auto got = co_await wait_for(reader.buffered().size() + 1); !got) co_return got.error();
    }
    request& req = parser.request();
    const std::size_t total = req.head_size + static_cast<std::size_t>(req.content_length);
    if (reader.buffered().size() < total) {
        if (req.expect_continue) {
            if (auto w = co_await writer.write("HTTP/1.1 100 Continue\r\n\r\n"); !w)
                co_return w.error();
        }
        if (auto got = co_await wait_for(total); !got) co_return got.error();
        (void)parser.parse(detail::text(reader.buffered())); // the head moved: re-point the views
    }
    req.body = detail::text(reader.buffered()).substr(req.head_size, req.content_length);
    reader.consume(total); // the bytes stay in place until the next read
    co_return &req;
}

/// co_await → result<void>: writes a response to `req`: the head (status,
/// Date, Content-Length: body.size(), `content_type`, "Connection: close"
/// unless req.keep_alive) and, unless req is a HEAD request, `body`.
/// Flushes when the connection ends after it; otherwise the next
/// read_request does. Errors: the stream's; std::invalid_argument is thrown
/// for a bad status or content type (see response_head). Cancellation: as
/// stream_writer::write.
template <byte_stream S>
task<result<void>> write_response(stream_writer<S>& writer, const request& req, int status,
                                  std::string_view body,
                                  std::string_view content_type = "text/plain; charset=utf-8") {
    response_head head(status, body.size(), content_type, req.keep_alive);
    if (auto w = co_await writer.write(head.text()); !w) co_return w;
    if (req.method != "HEAD")
        if (auto w = co_await writer.write(body); !w) co_return w;
    if (!req.keep_alive) co_return co_await writer.flush();
    co_return result<void>{};
}

/// co_await → result<void>: write_response with a one-line text body that
/// names the status, like "404 Not Found\n".
template <byte_stream S>
task<result<void>> write_response(stream_writer<S>& writer, const request& req, int status) {
    char text[48];
    co_return co_await write_response(writer, req, status, detail::status_text(status, text));
}

/// co_await: answers `status` (such as status_of(error)) with
/// "Connection: close" and a one-line text body ("431 Request Header Fields
/// Too Large"), flushes, half-closes the stream (when it has shutdown()),
/// then reads and discards what the client still sends until it closes or
/// `linger` passes, so that the client reads the answer rather than a reset
/// caused by unread bytes. Then the caller closes. Errors are not reported:
/// the connection ends either way. Cancellation: ends the wait early.
template <byte_stream S>
task<> reject(stream_reader<S>& reader, stream_writer<S>& writer, int status,
              std::chrono::milliseconds linger = std::chrono::milliseconds(1000)) {
    char text[48];
    const std::string_view body = detail::status_text(status, text);
    response_head head(status, body.size(), "text/plain; charset=utf-8", false);
    if (!co_await writer.write(head.text()) || !co_await writer.write(body) ||
        !co_await writer.flush())
        co_return;
    if constexpr (requires { reader.stream().shutdown(); }) {
        if (!reader.stream().shutdown()) co_return;
    }
    const auto deadline = clock::now() + std::chrono::ceil<clock::duration>(linger);
    reader.consume(reader.buffered().size());
    for (std::size_t discarded = 0; discarded < (std::size_t{1} << 20);) { // at most 1 MiB
        auto got = co_await timeout_at(deadline, reader.read_some());
        if (!got || got->empty()) co_return; // closed, reset, or linger over
        discarded += got->size();
    }
}

} // namespace coronet::http
