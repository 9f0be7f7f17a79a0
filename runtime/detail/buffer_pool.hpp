#pragma once
// The loop's pool of receive buffers: `capacity` buffers of `buffer_size`
// bytes in one block, named by a 16-bit id (io_uring's buffer id).
//
// Address space is reserved at once but a page costs RSS only once the kernel has
// written into it, and ids are handed out most-recently-returned first, so
// the resident part grows with the number of buffers in use at the same time
// (active connections), not with the number of open sockets.
//
// With an io_uring buffer ring the free buffers live in the kernel's ring and
// take()/give() are not used; the backend reports what it hands out through
// note_taken()/note_returned() so in_use() stays true either way.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace coronet::detail {

class buffer_pool {
public:
    /// Reserves address space for `capacity` buffers of `buffer_size` bytes
    /// (page aligned, no commit charge). Throws std::bad_alloc when the
    /// address space cannot be reserved.
    buffer_pool(std::size_t buffer_size, std::uint16_t capacity);

    std::size_t buffer_size() const noexcept { return size_; }
    std::uint16_t capacity() const noexcept { return capacity_; }
    std::byte* data(std::uint16_t id) const noexcept { return memory_.get() + id * size_; }

    /// A free buffer, or nullopt when all are in use (free-list mode).
    std::optional<std::uint16_t> take() noexcept {
        if (free_count_ == 0) return std::nullopt;
        note_taken();
        return free_[--free_count_];
    }
    /// Returns a buffer taken with take().
    void give(std::uint16_t id) noexcept {
        free_[free_count_++] = id; // never past capacity
        note_returned();
    }

    /// Accounting for buffers handed out by a kernel buffer ring.
    void note_taken() noexcept {
        if (++in_use_ > peak_) peak_ = in_use_;
    }
    void note_returned() noexcept { --in_use_; }

    std::size_t in_use() const noexcept { return in_use_; }
    std::size_t peak() const noexcept { return peak_; }

private:
    struct free_block {
        std::size_t bytes;
        void operator()(std::byte* p) const noexcept;
    };
    std::size_t size_;
    std::uint16_t capacity_;
    std::unique_ptr<std::byte, free_block> memory_;
    std::unique_ptr<std::uint16_t[]> free_; // a stack: the warmest buffer is reused first
    std::size_t free_count_ = 0;
    std::size_t in_use_ = 0;
    std::size_t peak_ = 0;
};

} // namespace coronet::detail
