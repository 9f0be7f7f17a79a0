#pragma once
/// \class coronet::stream_reader
/// `coronet::stream_reader<S>`: buffered reads from a byte stream, like asyncio's
/// StreamReader.
///
///     coronet::stream_reader reader(conn);                   // 64 KiB, allocated once
///     auto line = co_await reader.read_line(1024);           // result<std::string_view>
///     auto head = co_await reader.read_exactly(4);           // result<std::span<const std::byte>>
///     if (!line && line.error() == coronet::error::line_too_long) ...
///
/// The reader owns a buffer of a fixed capacity, allocated once by the
/// constructor; it never grows. Every read returns a view into that buffer,
/// valid until the next read on the same reader starts (copy what you keep).
/// The stream is borrowed: it must outlive the reader. A reader may be moved
/// while no read is pending. Each read is a task: one coroutine frame per call.
///
/// Errors (besides the stream's own: connection_reset, operation_canceled, ...):
///
///     error::end_of_stream     the peer closed the stream before any byte of the read;
///     error::unexpected_eof    it closed after some of them (truncated line or block);
///     error::line_too_long     read_until / read_line found no delimiter within the limit;
///     error::buffer_too_small  read_exactly / fill asked for more than capacity().
///
/// A read that fails consumes nothing: every byte it received stays buffered
/// (see buffered()) for the next read. After line_too_long, consume() skips
/// bytes, or close the connection.
///
/// Cancellation: a read is a task; cancelling its scope, a timeout (with_timeout
/// gives error::timed_out) or closing the stream cancels the recv it waits on
/// and the read fails; the bytes that had arrived stay buffered, so the next
/// read sees them: a timed-out read_exactly(10) that had received 6 bytes
/// leaves those 6 to the next read. One read at a time per reader: starting a
/// read while another is pending throws std::logic_error.

#include "coronet/net/byte_stream.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string_view>

namespace coronet {

namespace detail {

/// The reader's storage: `capacity` bytes, allocated once; bytes
/// [begin, end) are buffered. The non-template half of stream_reader.
class read_buffer {
public:
    explicit read_buffer(std::size_t capacity);

    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return end_ - begin_; }
    std::span<const std::byte> data() const noexcept { return {data_.get() + begin_, size()}; }
    /// Drops the first min(n, size()) buffered bytes.
    void consume(std::size_t n) noexcept;
    /// Free space behind the buffered bytes, moving them to the front first
    /// (this invalidates views handed out before). Never empty when size() < capacity().
    std::span<std::byte> prepare() noexcept;
    /// Applies a recv into prepare()'s space: an error, EOF (0 bytes: the
    /// eof error below) or n more bytes buffered (no error).
    std::error_code received(const result<std::size_t>& r) noexcept;
    /// end_of_stream when nothing is buffered, else unexpected_eof.
    std::error_code eof_error() const noexcept;
    /// The end offset of the first `delim` that ends within the first
    /// `limit` buffered bytes, searching from offset `from`; npos if none.
    std::size_t find(std::string_view delim, std::size_t from, std::size_t limit) const noexcept;

    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    bool eof = false;  ///< the stream reported EOF; no more recv
    bool busy = false; ///< a read is in progress

private:
    std::unique_ptr<std::byte[]> data_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// Marks a reader busy for one read; throws std::logic_error if it already is.
class read_guard {
public:
    explicit read_guard(read_buffer& b);
    ~read_guard() { b_.busy = false; }
    read_guard(const read_guard&) = delete;
    read_guard& operator=(const read_guard&) = delete;

private:
    read_buffer& b_;
};

inline std::string_view as_text(std::span<const std::byte> s) noexcept {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

} // namespace detail

template <byte_stream S>
class stream_reader {
public:
    /// What block reads return: a view into the reader's buffer.
    using bytes = std::span<const std::byte>;
    /// The buffer size when the constructor is given none: 64 KiB.
    static constexpr std::size_t default_capacity = 64 * 1024;
    /// "No limit but the buffer's" for the `max` arguments below.
    static constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();

    /// Reads from `stream` through a buffer of `capacity` bytes (at least 1),
    /// allocated here once. Throws std::bad_alloc, std::invalid_argument for 0.
    explicit stream_reader(S& stream, std::size_t capacity = default_capacity)
        : stream_(&stream), buf_(capacity) {}

    /// The stream read from.
    S& stream() const noexcept { return *stream_; }
    /// The buffer's fixed size: the longest line, block or frame it can return.
    std::size_t capacity() const noexcept { return buf_.capacity(); }
    /// Bytes received and not yet consumed (valid until the next read).
    bytes buffered() const noexcept { return buf_.data(); }
    /// Discards the first min(n, buffered().size()) buffered bytes.
    void consume(std::size_t n) noexcept { buf_.consume(n); }
    /// True once the peer closed the stream and every byte was consumed.
    bool at_eof() const noexcept { return buf_.eof && buf_.size() == 0; }

    /// co_await → result<bytes>: what is buffered, at most `max` (>= 1)
    /// bytes; if nothing is, waits for one recv. An empty view means EOF, as
    /// with recv. Errors: invalid_argument (max 0), the stream's errors.
    task<result<bytes>> read_some(std::size_t max = no_limit);

    /// co_await → result<bytes>: exactly `n` bytes. Errors: end_of_stream,
    /// unexpected_eof (fewer arrived; they stay buffered), buffer_too_small
    /// (n > capacity()), the stream's errors.
    task<result<bytes>> read_exactly(std::size_t n);

    /// co_await → result<bytes>: waits until at least `n` bytes are buffered
    /// and returns all buffered bytes, consuming nothing (a peek). Errors as
    /// read_exactly.
    task<result<bytes>> fill(std::size_t n);

    /// co_await → result<std::string_view>: the bytes up to and including
    /// the first `delim` (non-empty; may be several bytes, e.g. "\r\n"), at
    /// most min(max, capacity()) bytes in all. Errors: line_too_long (no
    /// delimiter within that limit; nothing consumed), end_of_stream,
    /// unexpected_eof (EOF before the delimiter), invalid_argument (empty
    /// delim), the stream's errors. `delim` must outlive the read.
    task<result<std::string_view>> read_until(std::string_view delim, std::size_t max = no_limit);

    /// read_until("\n", max): one line including its '\n'. A last line
    /// without '\n' is unexpected_eof; it stays in buffered().
    task<result<std::string_view>> read_line(std::size_t max = no_limit) {
        return read_until("\n", max);
    }

private:
    S* stream_;
    detail::read_buffer buf_;
};

template <byte_stream S>
task<result<typename stream_reader<S>::bytes>> stream_reader<S>::read_some(std::size_t max) {
    detail::read_guard guard(buf_);
    if (max == 0) co_return errno_code(EINVAL);
    if (buf_.size() == 0 && !buf_.eof) {
        std::error_code e = buf_.received(co_await stream_->recv(buf_.prepare()));
        if (e && !buf_.eof) co_return e;
    }
    bytes out = buf_.data().first(std::min(max, buf_.size())); // empty at EOF
    buf_.consume(out.size());
    co_return out;
}

template <byte_stream S>
task<result<typename stream_reader<S>::bytes>> stream_reader<S>::fill(std::size_t n) {
    detail::read_guard guard(buf_);
    if (n > buf_.capacity()) co_return make_error_code(error::buffer_too_small);
    while (buf_.size() < n) { // each turn buffers >= 1 byte or returns
        if (buf_.eof) co_return buf_.eof_error();
        if (auto e = buf_.received(co_await stream_->recv(buf_.prepare()))) co_return e;
    }
    co_return buf_.data();
}

template <byte_stream S>
task<result<typename stream_reader<S>::bytes>> stream_reader<S>::read_exactly(std::size_t n) {
    detail::read_guard guard(buf_);
    if (n > buf_.capacity()) co_return make_error_code(error::buffer_too_small);
    while (buf_.size() < n) { // each turn buffers >= 1 byte or returns
        if (buf_.eof) co_return buf_.eof_error();
        if (auto e = buf_.received(co_await stream_->recv(buf_.prepare()))) co_return e;
    }
    bytes out = buf_.data().first(n);
    buf_.consume(n);
    co_return out;
}

template <byte_stream S>
task<result<std::string_view>> stream_reader<S>::read_until(std::string_view delim,
                                                            std::size_t max) {
    detail::read_guard guard(buf_);
    if (delim.empty()) co_return errno_code(EINVAL);
    const std::size_t limit = std::min(max, buf_.capacity());
    std::size_t scanned = 0; // offsets before this hold no complete delimiter
    for (;;) {               // each turn buffers >= 1 byte (at most `limit`) or returns
        std::size_t end = buf_.find(delim, scanned, limit);
        if (end != detail::read_buffer::npos) {
            std::string_view out = detail::as_text(buf_.data().first(end));
            buf_.consume(end);
            co_return out;
        }
        if (buf_.size() >= limit) co_return make_error_code(error::line_too_long);
        scanned = buf_.size() - std::min(buf_.size(), delim.size() - 1);
        if (buf_.eof) co_return buf_.eof_error();
        if (auto e = buf_.received(co_await stream_->recv(buf_.prepare()))) co_return e;
    }
}

} // namespace coronet
