// The io_uring backend (see io_uring_backend.hpp): the provided buffer ring
// behind pooled receives. The ring is probed at setup and registered on the
// first pooled receive; its buffers are the receive pool's. The kernel takes
// a buffer only when data lands, so sockets that wait hold none. -ENOBUFS
// (the ring ran dry) grows the ring by ring_growth buffers up to the pool's
// capacity; at capacity the socket is parked on a starved list and re-armed
// once per turn when leases come back.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>

namespace coronet::detail {

// Registers a buffer ring of `entries` at `mem` (page aligned); false if the
// kernel has no buffer rings (before 5.19).
static bool register_ring(io_uring& ring, void* mem, std::uint32_t entries, unsigned short group) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = entries;
    reg.bgid = group;
    return io_uring_register_buf_ring(&ring, &reg, 0) == 0;
}

// At setup: whether the kernel takes a buffer ring (a one-entry ring,
// registered and dropped). The pool itself is reserved on first use.
void io_uring_backend::probe_buffer_ring() {
    void* mem = std::aligned_alloc(4096, 4096);
    bool ok = mem != nullptr && register_ring(ring_, mem, 1, buffer_group);
    if (ok) io_uring_unregister_buf_ring(&ring_, buffer_group);
    std::free(mem);
    multishot_recv_ = ok;
    if (ok) add_feature("provided_buffers multishot_recv");
}

// The first pooled receive: reserve the pool, register its ring, provide a
// first batch of buffers. On failure pooled receives take the plain path.
void io_uring_backend::setup_buffer_ring() {
    buffer_pool& p = pool();
    std::uint32_t entries = std::bit_ceil(std::uint32_t(p.capacity()));
    std::size_t bytes = (entries * sizeof(io_uring_buf) + 4095) / 4096 * 4096;
    void* mem = std::aligned_alloc(4096, bytes);
    if (mem == nullptr || !register_ring(ring_, mem, entries, buffer_group)) {
        std::free(mem);
        multishot_recv_ = false;
        drop_feature("provided_buffers multishot_recv");
        return;
    }
    buf_ring_entries_ = entries;
    buf_ring_mask_ = io_uring_buf_ring_mask(entries);
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(buf_ring_);
    meta_.resize(p.capacity());
    for (; provided_ < std::min<std::uint32_t>(ring_growth, p.capacity()); ++provided_)
        provide(static_cast<std::uint16_t>(provided_));
}

void io_uring_backend::release_buffer(std::uint16_t id) noexcept {
    if (buf_ring_ == nullptr) { // plain mode: the first pool waiter gets it
        pool().give(id);
        give_to_pool_waiter();
        return;
    }
    pool().note_returned();
    provide(id);
    if (!starved_.empty()) rearm_pending_ = true; // poll() re-arms them: no SQE from here
}

// The ring is empty: grow it, or park the socket until buffers come back.
void io_uring_backend::on_no_buffers(int fd, fd_slot& s) noexcept {
    if (provided_ < pool().capacity()) {
        std::uint32_t n = std::min<std::uint32_t>(ring_growth, pool().capacity() - provided_);
        for (std::uint32_t i = 0; i < n; ++i)
            provide(static_cast<std::uint16_t>(provided_++));
    } else if (!s.starved && pool().in_use() >= provided_) {
        s.starved = true; // every buffer is out: wait until one comes back
        starved_.push_back(fd);
    } // else stale: buffers came back since the kernel ran dry; on_multishot re-arms
}

// Re-arms the starved sockets, once per loop turn however many buffers came
// back: the kernel takes a buffer only for a socket with data (an idle one
// puts it back), so the buffers reach the sockets that have data; the others
// stop again on -ENOBUFS.
void io_uring_backend::rearm_starved() noexcept {
    rearm_pending_ = false;
    // Indexed: arm() may reap, and a socket starved again is appended past n.
    std::size_t n = starved_.size();
    for (std::size_t i = 0; i < n; ++i) {
        int fd = starved_[i];
        fd_slot& s = slots_.at(fd);
        s.starved = false;
        if (!s.armed && s.waiters.head != nullptr && !draining_ && !s.closing) arm(fd, s);
    }
    starved_.erase(starved_.begin(), starved_.begin() + static_cast<std::ptrdiff_t>(n));
}

} // namespace coronet::detail
