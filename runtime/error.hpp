#pragma once
/// \file
/// coronet's own error codes, in the "coronet" category.
///
///     if (r.error() == coronet::error::timed_out) ...
///
/// timed_out also compares equal to std::errc::timed_out, so generic code that
/// checks the standard condition keeps working; it is still distinct from the
/// kernel's ETIMEDOUT (a TCP connect that the kernel gave up on). Likewise
/// frame_too_large compares equal to std::errc::message_size.

#include <system_error>

namespace coronet {

/// coronet's error codes: compare a result's error() with them.
enum class error {
    timed_out = 1,      ///< a with_timeout / timeout_at deadline expired
    channel_closed = 2, ///< send on a closed channel, or receive on a closed, empty one
    // Buffered streams, framing and object streams (net/stream_reader.hpp,
    // net/framing.hpp, net/object_stream.hpp):
    end_of_stream = 3,    ///< the peer closed the stream before the first byte of a read
    unexpected_eof = 4,   ///< the peer closed the stream in the middle of a line or frame
    line_too_long = 5,    ///< read_until / read_line: no delimiter within the limit
    buffer_too_small = 6, ///< a read needs more bytes than the reader's buffer holds
    frame_too_large = 7,  ///< a frame's length exceeds the limit (or 2^32 - 1 when sending)
    invalid_json = 8,     ///< a message is not valid JSON (or a value cannot be encoded as JSON)
    type_mismatch = 9,    ///< valid JSON that does not have the shape of the requested type
    loop_closed = 10,     ///< a message to a loop (loop_handle, spawn_on, run_on) after it stopped
    // Channels and broadcasts (runtime/sync/channel.hpp, runtime/sync/broadcast.hpp):
    channel_full = 11,        ///< try_send on a full channel: nothing was sent
    subscriber_overflow = 12, ///< a subscriber's queue was full: it was cut off
    data_pending = 13, ///< forget_loop: the loop holds received data for the socket: take it first
};

/// The "coronet" category; message() describes each code.
const std::error_category& error_category() noexcept;

/// The std::error_code for `e` (what `result<T>` holds; also found by
/// std::error_code's constructor from an `error`).
inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace coronet

namespace std {
template <>
struct is_error_code_enum<coronet::error> : true_type {};
} // namespace std
