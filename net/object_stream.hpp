#pragma once
/// \file
/// Typed messages: C++ values as JSON in length-prefixed frames (pickle done
/// the portable way).
///
///     struct point { std::string name; int x, y; };
///     NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(point, name, x, y)   // next to the type
///
///     co_await coronet::send_object(conn, point{"p", 1, 2});          // result<void>
///     coronet::stream_reader reader(conn);
///     auto p = co_await coronet::recv_object<point>(reader, 65'000);   // result<point>
///
/// Any type nlohmann::json converts (to_json / from_json, usually written with
/// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE; standard containers, strings, numbers
/// and nested records work as they are; nlohmann::json itself for dynamic data).
///
/// Wire format: one frame of net/framing.hpp (4-byte big-endian length, then
/// the payload) whose payload is one JSON text (RFC 8259) in UTF-8, compact,
/// no trailing newline. Any language reads it; Python with the standard
/// library only:
///
///     body = json.dumps(obj).encode();  sock.sendall(struct.pack(">I", len(body)) + body)
///     n, = struct.unpack(">I", recv_exactly(sock, 4));  obj = json.loads(recv_exactly(sock, n))
///
/// Errors (besides framing's and the stream's, see framing.hpp):
///
///     error::invalid_json   the payload is not valid JSON; or, when sending, the
///                           value cannot be encoded (a string that is not UTF-8);
///     error::type_mismatch  valid JSON without the shape of T (missing field,
///                           wrong type): nlohmann's exceptions become this result.
///
/// A bad payload was read whole: the stream is still in sync, so the next
/// recv_object works (unlike frame_too_large, after which it is not).
/// Exceptions other than nlohmann::json::exception thrown by a user's
/// to_json / from_json are not mapped: they propagate from send_object (which
/// encodes at once) or from co_await recv_object, like any task's exception.
///
/// Cancellation: as recv_message / send_message (framing.hpp): a cancelled
/// recv_object consumes nothing; the next one reads the whole message.

#include "coronet/net/byte_stream.hpp"
#include "coronet/net/framing.hpp"
#include "coronet/net/stream_reader.hpp"
#include "coronet/net/stream_writer.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>

namespace coronet {

/// `value` as compact JSON text (UTF-8). Errors: invalid_json (not encodable).
template <class T>
result<std::string> encode_object(const T& value) {
    try {
        return nlohmann::json(value).dump();
    } catch (const nlohmann::json::exception&) {
        return make_error_code(error::invalid_json);
    }
}

/// Parses JSON text into a T. Errors: invalid_json, type_mismatch.
template <class T>
result<T> decode_object(std::span<const std::byte> text) {
    const char* p = reinterpret_cast<const char*>(text.data());
    auto j = nlohmann::json::parse(p, p + text.size(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error_code(error::invalid_json);
    try {
        return j.template get<T>();
    } catch (const nlohmann::json::exception&) {
        return make_error_code(error::type_mismatch);
    }
}

namespace detail {
template <class Stream>
task<result<void>> send_encoded(Stream& s, result<std::string> text) {
    if (!text) co_return text.error();
    co_return co_await send_message(s, std::string_view(*text));
}
} // namespace detail

/// co_await → result<void>: sends `value` as one JSON frame. The value is
/// encoded when send_object is called, so it need not outlive the call.
template <byte_stream S, class T>
task<result<void>> send_object(S& stream, const T& value) {
    return detail::send_encoded(stream, encode_object(value));
}

/// co_await → result<void>: the same through a writer: buffered, then flushed.
template <byte_stream S, class T>
task<result<void>> send_object(stream_writer<S>& writer, const T& value) {
    return detail::send_encoded(writer, encode_object(value));
}

/// co_await → result<T>: receives one frame of at most `max_frame` bytes and
/// decodes it as a T. Errors: see above.
template <class T, byte_stream S>
task<result<T>> recv_object(stream_reader<S>& reader, std::size_t max_frame) {
    auto msg = co_await recv_message(reader, max_frame);
    if (!msg) co_return msg.error();
    co_return decode_object<T>(*msg);
}

} // namespace coronet
