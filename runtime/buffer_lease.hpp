#pragma once
/// \class coronet::buffer_lease
/// coronet::buffer_lease: received bytes that live in a buffer borrowed from
/// the loop's receive pool (see stream_socket::recv_pooled).
///
///     auto data = co_await conn.recv_pooled();        // result<buffer_lease>
///     if (!data || data->empty()) co_return;           // error, or EOF
///     co_await conn.send_all(data->bytes());
///     // the buffer goes back to the pool when `data` is destroyed or released
///
/// A lease is move-only. It must be released (or destroyed) on the loop's
/// thread before the loop is destroyed; holding many leases for long starves
/// the pool, and pooled receives then wait until a buffer comes back.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace coronet {

namespace detail {
class backend;
}

class buffer_lease {
public:
    /// An empty lease: no buffer (what a pooled receive returns at EOF).
    buffer_lease() noexcept = default;
    /// For backends' awaitables: `size` bytes at `data` in pool buffer `id`.
    buffer_lease(detail::backend& owner, std::uint16_t id, std::byte* data,
                 std::size_t size) noexcept
        : owner_(&owner), data_(data), size_(size), id_(id) {}
    /// Takes over `o`'s buffer; `o` becomes empty.
    buffer_lease(buffer_lease&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)), id_(o.id_) {}
    /// Gives this lease's buffer back, then takes over `o`'s.
    buffer_lease& operator=(buffer_lease&& o) noexcept {
        if (this != &o) {
            release();
            owner_ = std::exchange(o.owner_, nullptr);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            id_ = o.id_;
        }
        return *this;
    }
    ~buffer_lease() { release(); }

    /// The received bytes (writable: a lease may be edited in place).
    std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
    /// The first byte: bytes().data().
    std::byte* data() const noexcept { return data_; }
    /// How many bytes: bytes().size().
    std::size_t size() const noexcept { return size_; }
    /// True for no bytes (what a pooled receive returns at EOF).
    bool empty() const noexcept { return size_ == 0; }
    /// Drops the first `n` bytes from the view (e.g. after a partial send);
    /// the buffer stays leased until release. `n` is clamped to size().
    void consume(std::size_t n) noexcept {
        n = n < size_ ? n : size_;
        data_ += n;
        size_ -= n;
    }
    /// Gives the buffer back to the pool now. Idempotent.
    void release() noexcept {
        if (owner_ != nullptr) give_back();
        data_ = nullptr;
        size_ = 0;
    }

private:
    void give_back() noexcept;
    detail::backend* owner_ = nullptr;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint16_t id_ = 0;
};

} // namespace coronet
