#pragma once
/// \file
/// Length-prefixed messages over any byte stream.
///
///     co_await coronet::send_message(conn, payload);       // result<void>
///     coronet::stream_reader reader(conn);
///     auto msg = co_await coronet::recv_message(reader, 65'000);
///     if (msg) use(*msg);   // std::span<const std::byte>, valid until the next read
///
/// Wire format: each frame is a 4-byte unsigned length N in big-endian
/// (network) byte order, followed by exactly N payload bytes. No magic, no
/// version, no padding; N = 0 is a valid, empty message. The largest frame the
/// format can carry is 2^32 - 1 bytes. In Python:
///
///     sock.sendall(struct.pack(">I", len(payload)) + payload)
///
/// Receiving is bounded twice: by max_frame (the protocol's limit) and by the
/// reader's capacity (the frame, header included, must fit in its buffer). A
/// header announcing more is an error; nothing is consumed and nothing is
/// closed: the connection is left to the caller, who usually answers with an
/// error and closes it (the stream is no longer in sync).
///
/// Errors of recv_message (besides the stream's):
///
///     error::end_of_stream    the peer closed the stream between frames (clean end);
///     error::unexpected_eof   it closed inside a header or payload (truncated frame);
///     error::frame_too_large  the header announces more than max_frame bytes;
///     error::buffer_too_small header + payload exceed the reader's capacity.
///
/// send_message fails with frame_too_large for payloads over 2^32 - 1 bytes.
///
/// Cancellation: like the reader's reads, a cancelled or timed-out
/// recv_message consumes nothing: the partial frame stays buffered and the
/// next recv_message returns the whole frame. A cancelled send_message may have
/// sent part of the frame: close the stream (or send through a stream_writer,
/// whose flush resumes exactly).

#include "coronet/net/byte_stream.hpp"
#include "coronet/net/stream_reader.hpp"
#include "coronet/net/stream_writer.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace coronet {

/// Size of the length prefix in front of every frame.
inline constexpr std::size_t frame_header_size = 4;
/// The largest payload the wire format can describe.
inline constexpr std::size_t max_frame_payload = 0xFFFF'FFFF;

/// The header for a payload of `n` bytes (n <= max_frame_payload).
std::array<std::byte, frame_header_size> encode_frame_header(std::size_t n) noexcept;
/// The payload length a header announces.
std::size_t decode_frame_header(std::span<const std::byte, frame_header_size> h) noexcept;

namespace detail {
/// Validates the header at the front of `buffered` (>= 4 bytes): the payload
/// length, or frame_too_large / buffer_too_small.
result<std::size_t> check_frame_header(std::span<const std::byte> buffered, std::size_t max_frame,
                                       std::size_t capacity) noexcept;
/// Frames up to this size are sent with one send_all from a copy on the frame.
inline constexpr std::size_t small_frame = 4096;
} // namespace detail

/// co_await → result<void>: sends one frame (header + payload) on `stream`.
/// Small frames go out in one send; larger ones as header, then payload.
/// `payload` must stay valid until the send completes (await it at once).
/// Errors: frame_too_large (over max_frame_payload), the stream's. Cancelled,
/// it may have sent part of the frame: close the stream.
template <byte_stream S>
task<result<void>> send_message(S& stream, std::span<const std::byte> payload) {
    if (payload.size() > max_frame_payload) co_return make_error_code(error::frame_too_large);
    auto header = encode_frame_header(payload.size());
    if (payload.size() <= detail::small_frame - frame_header_size) {
        std::array<std::byte, detail::small_frame> frame;
        std::memcpy(frame.data(), header.data(), header.size());
        if (!payload.empty())
            std::memcpy(frame.data() + frame_header_size, payload.data(), payload.size());
        co_return co_await stream.send_all(
            std::span<const std::byte>(frame).first(frame_header_size + payload.size()));
    }
    if (auto r = co_await stream.send_all(header); !r) co_return r;
    co_return co_await stream.send_all(payload);
}
/// send_message for text: the bytes of `payload` as one frame.
template <byte_stream S>
task<result<void>> send_message(S& stream, std::string_view payload) {
    return send_message(stream, std::as_bytes(std::span(payload.data(), payload.size())));
}

/// co_await → result<void>: buffers one frame in `writer` without flushing
/// (to batch several messages into one send). Errors: frame_too_large, as
/// writer.write(). Cancellation: as writer.write().
template <byte_stream S>
task<result<void>> write_message(stream_writer<S>& writer, std::span<const std::byte> payload) {
    if (payload.size() > max_frame_payload) co_return make_error_code(error::frame_too_large);
    auto header = encode_frame_header(payload.size());
    if (auto r = co_await writer.write(header); !r) co_return r;
    co_return co_await writer.write(payload);
}

/// co_await → result<void>: write_message, then writer.flush(). Cancelled,
/// the unsent bytes stay in the writer: the next flush() sends them.
template <byte_stream S>
task<result<void>> send_message(stream_writer<S>& writer, std::span<const std::byte> payload) {
    if (auto r = co_await write_message(writer, payload); !r) co_return r;
    co_return co_await writer.flush();
}
/// send_message through a writer, for text.
template <byte_stream S>
task<result<void>> send_message(stream_writer<S>& writer, std::string_view payload) {
    return send_message(writer, std::as_bytes(std::span(payload.data(), payload.size())));
}

/// co_await → result<std::span<const std::byte>>: the next frame's payload,
/// a view into the reader's buffer valid until its next read. Errors: those
/// in the file comment, and the stream's. Cancelled (its scope, a timeout),
/// it consumes nothing: the next recv_message returns the whole frame.
template <byte_stream S>
task<result<std::span<const std::byte>>> recv_message(stream_reader<S>& reader,
                                                      std::size_t max_frame) {
    if (reader.buffered().size() < frame_header_size) {
        if (auto h = co_await reader.fill(frame_header_size); !h) co_return h.error();
    }
    auto n = detail::check_frame_header(reader.buffered(), max_frame, reader.capacity());
    if (!n) co_return n.error();
    const std::size_t total = frame_header_size + *n;
    if (reader.buffered().size() < total) {
        if (auto all = co_await reader.fill(total); !all) co_return all.error();
    }
    auto payload = reader.buffered().subspan(frame_header_size, *n);
    reader.consume(total);
    co_return payload;
}

} // namespace coronet
