// The io_uring fast paths that keep one request in the kernel per socket
// (see io_uring_backend.hpp): multishot receive into the provided buffer ring
// and multishot accept. What a multishot delivers while nobody waits is
// queued on the socket (buffers chained through meta_, fds in `accepted`)
// and handed to the next receive or accept in order, so a cancelled wait
// loses nothing. A socket with too much queued stops its multishot (TCP
// backpressure then reaches the peer); -ENOBUFS grows the ring up to the
// pool's capacity, then parks the socket until a lease comes back.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

namespace coronet::detail {
namespace {
constexpr std::uint32_t ring_growth = 64;  // buffers added to the ring at a time
constexpr std::uint32_t queue_limit = 16;  // buffers queued on one socket before it stops
constexpr unsigned short buffer_group = 0; // the one buffer group this backend uses
} // namespace

// Whether `op` is served from the socket's multishot queue (one predicate
// for submit() and links_timeout(): they must agree).
bool io_uring_backend::waits_on_socket(const operation& op, const fd_slot& s) const noexcept {
    if (op.code == op_code::accept && multishot_accept_) return true;
    return (op.code == op_code::recv || op.code == op_code::accept) && socket_busy(s);
}

bool io_uring_backend::links_timeout(const operation& op) const noexcept {
    if (!links_timeouts_) return false;
    // Operations that may wait outside the kernel are timed by the loop.
    if (op.code == op_code::recv_pooled) return false;
    auto i = static_cast<std::size_t>(op.fd);
    if (i < slots_.size()) return !waits_on_socket(op, slots_[i]);
    return !(op.code == op_code::accept && multishot_accept_);
}

// Registers a buffer ring of `entries` at `mem` (page aligned); false if the
// kernel has no buffer rings (before 5.19).
static bool register_ring(io_uring& ring, void* mem, std::uint32_t entries) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = entries;
    reg.bgid = buffer_group;
    return io_uring_register_buf_ring(&ring, &reg, 0) == 0;
}

// At setup: whether the kernel takes a buffer ring (a one-entry ring,
// registered and dropped). The pool itself is reserved on first use.
void io_uring_backend::probe_buffer_ring() {
    void* mem = std::aligned_alloc(4096, 4096);
    bool ok = mem != nullptr && register_ring(ring_, mem, 1);
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
    if (mem == nullptr || !register_ring(ring_, mem, entries)) {
        std::free(mem);
        multishot_recv_ = false;
        return;
    }
    buf_ring_entries_ = entries;
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(buf_ring_);
    meta_.resize(p.capacity());
    for (; provided_ < std::min<std::uint32_t>(ring_growth, p.capacity()); ++provided_)
        provide(static_cast<std::uint16_t>(provided_));
}

bool io_uring_backend::socket_busy(const fd_slot& s) const noexcept {
    return s.armed || s.queue_head >= 0 || s.accepted_head < s.accepted.size() ||
           s.final_result != 1 || s.waiters.head != nullptr;
}

// Receives and accepts served by the socket's multishot request.
bool io_uring_backend::submit_on_socket(operation& op) {
    fd_slot& s = slot(op.fd);
    int res = 0;
    if (s.waiters.head == nullptr && serve_one(s, op, res)) { // already there
        op.result = res;
        op.state = op_state::done;
        ++stats_.completed;
        return true;
    }
    op.state = op_state::in_flight;
    op.done = parked_on_socket;
    s.waiters.push(op);
    ++in_flight_;
    s.accept_mode = op.code == op_code::accept;
    if (!s.armed && !s.starved) arm(op.fd, s);
    return false;
}

// Plain mode (no buffer ring): like epoll, a pooled receive first waits for
// readability (POLL_ADD) and takes a pool buffer only then, so sockets that
// wait hold none.
bool io_uring_backend::submit_pooled_plain(operation& op) {
    op.state = op_state::in_flight;
    op.done = polling;
    link(op);
    prepare(op, false);
    return false;
}

// Plain mode, the socket is readable and `op` is linked: receive into a pool
// buffer, or wait on the pool for one.
void io_uring_backend::receive_pooled_plain(operation& op) {
    auto id = pool().take();
    if (!id) { // every buffer is leased: wait for one to come back
        unlink(op);
        op.done = parked_on_pool;
        pool_waiters_.push(op);
        return;
    }
    op.done = 0;
    op.buffer_id = *id;
    op.buffer = pool().data(*id);
    op.length = pool().buffer_size();
    prepare(op, false);
}

void io_uring_backend::arm(int fd, fd_slot& s) {
    io_uring_sqe* sqe = get_sqe();
    if (s.accept_mode) {
        if (multishot_accept_)
            io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        else
            io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } else {
        if (multishot_recv_)
            io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        else
            io_uring_prep_recv(sqe, fd, nullptr, pool().buffer_size(), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
    }
    io_uring_sqe_set_data64(sqe, tagged(s.accept_mode ? tag::accept : tag::recv, fd));
    s.armed = true;
    s.stopping = false;
    ++s.in_kernel;
}

void io_uring_backend::stop(int fd, fd_slot& s) noexcept {
    if (!s.armed || s.stopping) return;
    s.stopping = true;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(s.accept_mode ? tag::accept : tag::recv, fd), 0);
    io_uring_sqe_set_data64(sqe, 0);
}

void io_uring_backend::on_multishot(tag t, int fd, int res, unsigned flags) noexcept {
    fd_slot& s = slots_[static_cast<std::size_t>(fd)];
    const bool more = flags & IORING_CQE_F_MORE;
    if (t == tag::accept) {
        if (res >= 0) {
            s.accepted.push_back(res); // capacity is kept: no allocation once warm
            ++s.queued;
        } else if (res == -EINVAL && !more && multishot_accept_ && !s.stopping) {
            multishot_accept_ = false; // kernel without multishot accept: one-shot from now
            drop_feature("multishot_accept");
        } else if (res != -ECANCELED) {
            s.final_result = res;
        }
    } else if (flags & IORING_CQE_F_BUFFER && res > 0) {
        auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        pool().note_taken();
        meta_[id] = {static_cast<std::uint32_t>(res), 0, -1};
        (s.queue_tail >= 0 ? meta_[std::size_t(s.queue_tail)].next : s.queue_head) = id;
        s.queue_tail = id;
        ++s.queued;
    } else if (flags & IORING_CQE_F_BUFFER) { // a buffer with EOF or an error: give it back
        pool().note_taken();
        release_buffer(static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
        s.final_result = res == -ECANCELED ? s.final_result : res;
    } else if (res == 0) {
        s.final_result = 0; // EOF
    } else if (res == -ENOBUFS) {
        if (provided_ < pool().capacity()) {
            std::uint32_t n = std::min<std::uint32_t>(ring_growth, pool().capacity() - provided_);
            for (std::uint32_t i = 0; i < n; ++i)
                provide(static_cast<std::uint16_t>(provided_++));
        } else if (!s.starved && pool().in_use() >= provided_) {
            s.starved = true; // every buffer is out: wait until one comes back
            starved_.push_back(fd);
        } // else stale: buffers came back since the kernel ran dry, re-arm below
    } else if (res == -EINVAL && !more && multishot_recv_ && !s.stopping) {
        multishot_recv_ = false; // kernel without multishot receive: one-shot from now
        drop_feature("multishot_recv");
    } else if (res != -ECANCELED) {
        s.final_result = res;
    }
    if (!more) {
        s.armed = false;
        s.stopping = false;
        --s.in_kernel;
    }
    serve(fd, s);
    if (draining_ || s.stopping || s.closing) return;
    if (s.armed && s.queued >= queue_limit) {
        stop(fd, s); // nobody is taking what arrives: let the socket buffer fill
    } else if (!s.armed && !s.starved && s.waiters.head != nullptr) {
        arm(fd, s);
    }
}

// Gives `op` what is queued on the socket, if anything; true if it did.
bool io_uring_backend::serve_one(fd_slot& s, operation& op, int& res) noexcept {
    if (op.code == op_code::accept) {
        if (s.accepted_head < s.accepted.size()) {
            res = s.accepted[s.accepted_head++];
            if (s.accepted_head == s.accepted.size()) { // all taken: reuse the storage
                s.accepted.clear();
                s.accepted_head = 0;
            }
            --s.queued;
            if (op.buffer != nullptr && // the peer: multishot accept reports none
                ::getpeername(res, static_cast<sockaddr*>(op.buffer), &op.addr_len) < 0)
                op.addr_len = 0;
            return true;
        }
    } else if (s.queue_head >= 0) {
        auto id = static_cast<std::uint16_t>(s.queue_head);
        buffer_meta& m = meta_[id];
        std::byte* data = pool().data(id) + m.offset;
        std::uint32_t left = m.length - m.offset;
        if (op.code == op_code::recv_pooled) {
            op.buffer = data;
            op.buffer_id = id;
            res = static_cast<int>(left);
            m.offset = m.length;
        } else { // a plain receive on a socket whose bytes are queued here: copy
            std::uint32_t n = static_cast<std::uint32_t>(std::min<std::size_t>(left, op.length));
            std::memcpy(op.buffer, data, n);
            m.offset += n;
            res = static_cast<int>(n);
        }
        if (m.offset == m.length) {
            s.queue_head = m.next;
            if (s.queue_head < 0) s.queue_tail = -1;
            --s.queued;
            if (op.code != op_code::recv_pooled) release_buffer(id);
        }
        return true;
    }
    if (s.final_result != 1) { // EOF or an error, after everything queued
        res = s.final_result;
        s.final_result = 1;
        return true;
    }
    return false;
}

void io_uring_backend::serve(int, fd_slot& s) noexcept {
    if (draining_) return; // release_socket cancels the waiters, closes what is queued
    while (operation* op = s.waiters.head) {
        int res = 0;
        if (!serve_one(s, *op, res)) return;
        s.waiters.remove(*op);
        op->done = 0;
        finish(*op, res);
    }
}

// Puts buffer `id` back in the kernel's ring.
void io_uring_backend::provide(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(buf_ring_, pool().data(id), static_cast<unsigned>(pool().buffer_size()),
                          id, io_uring_buf_ring_mask(buf_ring_entries_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

void io_uring_backend::release_buffer(std::uint16_t id) noexcept {
    if (buf_ring_ == nullptr) { // plain mode: the first waiter gets it
        pool().give(id);
        while (operation* op = pool_waiters_.pop()) {
            if (draining_ || slots_[static_cast<std::size_t>(op->fd)].closing) {
                op->done = 0; // its socket is going: start nothing new on it
                finish(*op, -ECANCELED);
                continue;
            }
            --in_flight_; // counted again by link()
            link(*op);
            receive_pooled_plain(*op); // it was readable; a buffer is there now
            return;
        }
        return;
    }
    pool().note_returned();
    provide(id);
    rearm_pending_ = !starved_.empty(); // poll() re-arms them: no SQE from here
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
        fd_slot& s = slots_[static_cast<std::size_t>(fd)];
        s.starved = false;
        if (!s.armed && s.waiters.head != nullptr && !draining_ && !s.closing) arm(fd, s);
    }
    starved_.erase(starved_.begin(), starved_.begin() + static_cast<std::ptrdiff_t>(n));
}

// The socket is closed (or the loop drains): waiters are cancelled, queued
// buffers go back to the ring and queued connections are closed.
void io_uring_backend::release_socket(int fd, fd_slot& s) noexcept {
    while (operation* op = s.waiters.pop()) {
        op->done = 0;
        finish(*op, -ECANCELED);
    }
    for (operation* op = pool_waiters_.head; op != nullptr;) {
        operation* next = op->next;
        if (op->fd == fd) {
            pool_waiters_.remove(*op);
            op->done = 0;
            finish(*op, -ECANCELED);
        }
        op = next;
    }
    while (s.queue_head >= 0) {
        auto id = static_cast<std::uint16_t>(s.queue_head);
        s.queue_head = meta_[id].next;
        release_buffer(id);
    }
    for (std::size_t i = s.accepted_head; i < s.accepted.size(); ++i)
        ::close(s.accepted[i]);
    s.accepted.clear();
    s.accepted_head = 0;
    if (s.starved) std::erase(starved_, fd);
    s.queue_tail = -1;
    s.queued = 0;
    s.final_result = 1;
    s.starved = false;
    s.accept_mode = false;
    s.closing = false;
    s.zero_copy = -1;
}

} // namespace coronet::detail
