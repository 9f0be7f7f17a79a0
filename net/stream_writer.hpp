#pragma once
/// \class coronet::stream_writer
/// `coronet::stream_writer<S>`: buffered writes to a byte stream, like asyncio's
/// StreamWriter with a bounded buffer.
///
///     coronet::stream_writer writer(conn);        // 64 KiB, allocated once
///     co_await writer.write("HELO ");              // buffered: no syscall
///     co_await writer.write(name);
///     if (auto r = co_await writer.flush(); !r) ... // one send for everything
///
/// write() copies into a buffer of a fixed capacity; when the bytes do not fit,
/// it first sends what is buffered and waits until the kernel took it all
/// (backpressure: a writer never holds more than capacity() bytes). A write
/// larger than the whole buffer is sent directly after the buffered bytes.
/// flush() (alias drain()) sends everything buffered. Bytes still buffered
/// when the writer is destroyed are discarded: flush before. The stream is
/// borrowed: it must outlive the writer. A writer may be moved while no write
/// is pending. Each call is a task: one coroutine frame per call. The bytes
/// passed to write() must stay valid until it completes (await it at once).
///
/// Errors: the stream's (broken_pipe, connection_reset, operation_canceled...).
/// A write of at most capacity() bytes is all-or-nothing: when it fails, none
/// of its bytes were taken and it can be retried. A failed write larger than
/// capacity() may have sent part of its bytes: close the stream.
///
/// Cancellation: cancelling the scope, a timeout (error::timed_out) or closing
/// the stream cancels the pending send. What the kernel accepted before is
/// dropped from the buffer and the rest stays buffered (for streams whose
/// send_all awaitable reports bytes_sent(), as coronet's do), so the next
/// flush() resumes exactly where the cancelled one stopped: no byte is lost or
/// sent twice. One write or flush at a time per writer: starting one while
/// another is pending throws std::logic_error.

#include "coronet/net/byte_stream.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>

namespace coronet {

template <byte_stream S>
class stream_writer {
public:
    /// The buffer size when the constructor is given none: 64 KiB.
    static constexpr std::size_t default_capacity = 64 * 1024;

    /// Writes to `stream` through a buffer of `capacity` bytes (at least 1),
    /// allocated here once. Throws std::bad_alloc, std::invalid_argument for 0.
    explicit stream_writer(S& stream, std::size_t capacity = default_capacity)
        : stream_(&stream), capacity_(capacity) {
        if (capacity == 0) throw std::invalid_argument("stream_writer: capacity must be >= 1");
        data_ = std::make_unique_for_overwrite<std::byte[]>(capacity);
    }

    /// The stream written to.
    S& stream() const noexcept { return *stream_; }
    /// The buffer's fixed size: the most a writer holds before it sends.
    std::size_t capacity() const noexcept { return capacity_; }
    /// Bytes written and not yet sent.
    std::span<const std::byte> buffered() const noexcept { return {data_.get(), size_}; }

    /// co_await → result<void>: `data` is buffered (or, past capacity(),
    /// sent). Waits only when the buffer is full. Errors: see above.
    task<result<void>> write(std::span<const std::byte> data);
    /// write for text: the bytes of `s`.
    task<result<void>> write(std::string_view s) {
        return write(std::as_bytes(std::span(s.data(), s.size())));
    }

    /// co_await → result<void>: every buffered byte was sent. On failure the
    /// unsent bytes stay buffered (see the cancellation note above).
    task<result<void>> flush();
    /// asyncio's name for flush().
    task<result<void>> drain() { return flush(); }

private:
    class guard {
    public:
        explicit guard(stream_writer& w) : w_(w) {
            if (w_.busy_) throw std::logic_error("stream_writer: a write is already in progress");
            w_.busy_ = true;
        }
        ~guard() { w_.busy_ = false; }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;

    private:
        stream_writer& w_;
    };

    task<result<void>> send_buffered();
    void drop_front(std::size_t n) noexcept {
        n = std::min(n, size_);
        std::memmove(data_.get(), data_.get() + n, size_ - n);
        size_ -= n;
    }
    void append(std::span<const std::byte> d) noexcept {
        if (!d.empty()) std::memcpy(data_.get() + size_, d.data(), d.size());
        size_ += d.size();
    }

    S* stream_;
    std::unique_ptr<std::byte[]> data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
    bool busy_ = false;
};

template <byte_stream S>
task<result<void>> stream_writer<S>::write(std::span<const std::byte> data) {
    guard g(*this);
    if (data.size() <= capacity_ - size_) {
        append(data);
        co_return result<void>{};
    }
    if (auto r = co_await send_buffered(); !r) co_return r; // nothing of `data` taken yet
    if (data.size() <= capacity_) {
        append(data);
        co_return result<void>{};
    }
    co_return co_await stream_->send_all(data);
}

template <byte_stream S>
task<result<void>> stream_writer<S>::flush() {
    guard g(*this);
    co_return co_await send_buffered();
}

template <byte_stream S>
task<result<void>> stream_writer<S>::send_buffered() {
    if (size_ == 0) co_return result<void>{};
    auto send = stream_->send_all(buffered());
    result<void> r = co_await send;
    if (r) {
        size_ = 0;
    } else if constexpr (requires { send.bytes_sent(); }) {
        drop_front(send.bytes_sent()); // keep exactly what the kernel did not take
    }
    co_return r;
}

} // namespace coronet
