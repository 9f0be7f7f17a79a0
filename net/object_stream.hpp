#pragma once
/// \file
/// Typed messages: C++ values as JSON in length-prefixed frames (pickle done
/// the portable way).
///
///     struct point { std::string name; int x, y; };
///     CORONET_DEFINE_OBJECT(point, name, x, y)                 // next to the type
///
///     co_await coronet::send_object(conn, point{"p", 1, 2});          // result<void>
///     coronet::stream_reader reader(conn);
///     auto p = co_await coronet::recv_object<point>(reader, 65'000);   // result<point>
///
/// Any type nlohmann::json converts (to_json / from_json; standard containers,
/// strings, numbers and nested records work as they are; nlohmann::json itself
/// for dynamic data). For a record read from a peer, write the conversions with
/// CORONET_DEFINE_OBJECT(Type, fields...): it is NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE
/// except that integer fields are range-checked (get_integer_to below), so
/// `{"x": 1e300}` is type_mismatch. nlohmann's own conversion casts without a
/// check, and a number that does not fit an integer field is undefined
/// behaviour (found by fuzz/object_stream_fuzz; nlohmann/json#5206: won't fix).
/// Integers inside containers (std::vector<int>) are still nlohmann's: hold
/// them as records, or check them in a hand-written from_json.
///
/// Wire format: one frame of net/framing.hpp (4-byte big-endian length, then
/// the payload) whose payload is one JSON text (RFC 8259) in UTF-8, compact,
/// no trailing newline. Any language reads it; Python with the standard
/// library only:
///     body = json.dumps(obj).encode();  sock.sendall(struct.pack(">I", len(body)) + body)
///     n, = struct.unpack(">I", recv_exactly(sock, 4));  obj = json.loads(recv_exactly(sock, n))
///
/// Errors (besides framing's and the stream's, see framing.hpp):
///     error::invalid_json   the payload is not valid JSON; or, when sending, the
///                           value cannot be encoded (a string that is not UTF-8);
///     error::type_mismatch  valid JSON without the shape of T (missing field,
///                           wrong type): nlohmann's exceptions become this result.
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

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

namespace coronet {

/// `out = j` for an integer field read from an untrusted peer: `j` must be a
/// JSON number with an integral value that I can represent (2.0 is 2; 2.5,
/// 1e300, -1 for an unsigned I, 2^64 are not). Otherwise throws
/// nlohmann::json::type_error, which decode_object / recv_object report as
/// error::type_mismatch. CORONET_DEFINE_OBJECT uses it for every integer field.
template <std::integral I>
requires(!std::same_as<I, bool>) void get_integer_to(const nlohmann::json& j, I& out) {
    bool fits = false;
    if (j.is_number_unsigned()) { // tested first: is_number_integer() is true for both
        auto v = j.get<std::uint64_t>();
        fits = std::in_range<I>(v);
        if (fits) out = static_cast<I>(v);
    } else if (j.is_number_integer()) {
        auto v = j.get<std::int64_t>();
        fits = std::in_range<I>(v);
        if (fits) out = static_cast<I>(v);
    } else if (j.is_number_float()) {
        // [min, max + 1) as exact powers of two: max itself may round up in a double.
        const double hi = std::ldexp(1.0, std::numeric_limits<I>::digits);
        const double lo = std::is_signed_v<I> ? -hi : 0.0;
        const double d = j.get<double>();
        fits = d == std::trunc(d) && d >= lo && d < hi; // false for NaN and infinities
        if (fits) out = static_cast<I>(d);
    }
    if (!fits)
        throw nlohmann::json::type_error::create(302, "expected an integer that fits the field",
                                                 &j);
}

namespace detail {
template <class T>
void get_field(const nlohmann::json& j, const char* name, T& out) {
    if constexpr (std::integral<T> && !std::same_as<T, bool>)
        get_integer_to(j.at(name), out);
    else
        j.at(name).get_to(out);
}
} // namespace detail

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

/// One field of the from_json that CORONET_DEFINE_OBJECT writes; not for
/// direct use.
#define CORONET_JSON_GET_FIELD(field)                                                              \
    ::coronet::detail::get_field(nlohmann_json_j, #field, nlohmann_json_t.field);
/// Defines to_json and from_json for a struct, like nlohmann's
/// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Type, fields...) (up to 63 fields):
/// each listed field (a public member) is the JSON member of the same name.
/// Every integer field (but bool) is read through get_integer_to, so a
/// number it cannot hold is rejected rather than cast. Write it after the
/// type, in its namespace (the conversions are found by argument-dependent
/// lookup):
///
///     namespace app {
///     struct point { std::string name; int x, y; };
///     CORONET_DEFINE_OBJECT(point, name, x, y)
///     }
///
/// Through decode_object / recv_object a missing field, a wrong type or an
/// integer out of range is error::type_mismatch (from_json itself throws
/// nlohmann::json::exception). to_json writes every listed field.
#define CORONET_DEFINE_OBJECT(Type, ...)                                                           \
    inline void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) {            \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                   \
    }                                                                                              \
    inline void from_json(const nlohmann::json& nlohmann_json_j, Type& nlohmann_json_t) {          \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(CORONET_JSON_GET_FIELD, __VA_ARGS__))             \
    }
