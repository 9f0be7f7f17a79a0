// The io_uring fast paths that keep one request in the kernel per socket
// (see io_uring_backend.hpp): multishot receive into the provided buffer
// ring (io_uring_buffer_ring.cpp) and multishot accept. A receive or accept
// that waits is parked on the socket's waiter list; what the multishot
// delivers goes straight to the first waiter, or, while nobody waits, is
// queued on the socket (buffers chained through meta_, fds in `accepted`)
// and handed to the next receive or accept in order, so a cancelled wait
// loses nothing. A socket with too much queued stops its multishot (TCP
// backpressure then reaches the peer).
#include "coronet/runtime/detail/fault.hpp"
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace coronet::detail {

// Whether `op` is served from the socket's multishot queue (one predicate
// for submit() and links_timeout(): they must agree).
bool io_uring_backend::waits_on_socket(const operation& op, const fd_slot& s) const noexcept {
    if (op.kind == op_kind::accept && multishot_accept_) return true;
    return (op.kind == op_kind::recv || op.kind == op_kind::accept) && socket_busy(s);
}

bool io_uring_backend::links_timeout(const operation& op) const noexcept {
    if (!links_timeouts_) return false;
    // Operations that may wait outside the kernel are timed by the loop.
    if (op.kind == op_kind::recv_pooled) return false;
    if (op.fd >= 0 && static_cast<std::size_t>(op.fd) < slots_.size())
        return !waits_on_socket(op, slots_.at(op.fd));
    return !(op.kind == op_kind::accept && multishot_accept_);
}

bool io_uring_backend::socket_busy(const fd_slot& s) const noexcept {
    return s.armed || s.has_queued() || s.waiters.head != nullptr;
}

bool io_uring_backend::submit_on_socket(operation& op, fd_slot& s) {
    int res = 0;
    if (s.waiters.head == nullptr && s.has_queued() && serve_one(s, op, res))
        return finish_inline(op, res);
    pend(op, op_state::parked);
    s.waiters.push(op);
    s.accept_mode = op.kind == op_kind::accept;
    if (!s.armed && !s.starved) arm(op.fd, s);
    return false;
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
    if (faults_ != nullptr) [[unlikely]]
        inject_arm(sqe, fd, s);
    io_uring_sqe_set_data64(sqe, tagged(s.accept_mode ? tag::accept : tag::recv, fd));
    s.armed = true;
    s.stopping = false;
}

void io_uring_backend::stop(int fd, fd_slot& s) noexcept {
    if (!s.armed || s.stopping) return;
    s.stopping = true;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tagged(s.accept_mode ? tag::accept : tag::recv, fd), 0);
    io_uring_sqe_set_data64(sqe, 0);
}

// Every multishot CQE the inline on_multishot (io_uring_backend.hpp) does
// not hand straight to a waiting receive.
void io_uring_backend::on_multishot_slow(tag t, int fd, int res, unsigned flags) noexcept {
    fd_slot& s = slots_.at(fd);
    const bool more = flags & IORING_CQE_F_MORE;
    constexpr unsigned data_more = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE;
    if (t == tag::recv && (flags & data_more) == data_more && res > 0 && !draining_ &&
        s.waiters.head == nullptr) { // nobody waits: queue it for the next receive
        pool().note_taken();
        queue_buffer(s, static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), res);
        if (s.queued >= queue_limit && !s.closing) stop(fd, s); // let TCP push back
        return;
    }
    if (t == tag::accept)
        on_multishot_accept(s, res, more);
    else
        on_multishot_recv(fd, s, res, flags);
    if (!more) {
        s.armed = false;
        s.stopping = false;
    }
    serve(s);
    if (draining_ || s.stopping || s.closing) return;
    if (s.armed && s.queued >= queue_limit) {
        stop(fd, s); // nobody is taking what arrives: let the socket buffer fill
    } else if (!s.armed && !s.starved && s.waiters.head != nullptr) {
        arm(fd, s);
    }
}

void io_uring_backend::on_multishot_recv(int fd, fd_slot& s, int res, unsigned flags) noexcept {
    if (flags & IORING_CQE_F_BUFFER) {
        auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        pool().note_taken();
        if (res <= 0) { // a buffer with EOF or an error: give it back
            release_buffer(id);
            if (res != -ECANCELED) {
                s.final_result = res;
                s.has_final = true;
            }
            return;
        }
        queue_buffer(s, id, res); // serve() below hands it on in order
        return;
    }
    if (res == -ENOBUFS) {
        on_no_buffers(fd, s);
    } else if (res == -EINVAL && !(flags & IORING_CQE_F_MORE) && multishot_recv_ && !s.stopping) {
        multishot_recv_ = false; // kernel without multishot receive: one-shot from now
        drop_feature("multishot_recv");
    } else if (res != -ECANCELED) {
        s.final_result = res; // 0: EOF
        s.has_final = true;
    }
}

void io_uring_backend::on_multishot_accept(fd_slot& s, int res, bool more) noexcept {
    if (res >= 0) {
        operation* w = s.waiters.head;
        if (w != nullptr && s.accepted_head == s.accepted.size() && !draining_) {
            s.waiters.remove(*w); // straight to the accept that waits
            w->addr_len = 0;      // the kernel reports no peer: asked for lazily
            finish(*w, res);
            return;
        }
        s.accepted.push_back(res); // capacity is kept: no allocation once warm
        ++s.queued;
    } else if (res == -EINVAL && !more && multishot_accept_ && !s.stopping) {
        multishot_accept_ = false; // kernel without multishot accept: one-shot from now
        drop_feature("multishot_accept");
    } else if (res != -ECANCELED) {
        s.final_result = res;
        s.has_final = true;
    }
}

// Gives `op` what is queued on the socket, if anything; true if it did.
bool io_uring_backend::serve_one(fd_slot& s, operation& op, int& res) noexcept {
    if (op.kind == op_kind::accept) {
        if (s.accepted_head < s.accepted.size()) {
            res = s.accepted[s.accepted_head++];
            if (s.accepted_head == s.accepted.size()) { // all taken: reuse the storage
                s.accepted.clear();
                s.accepted_head = 0;
            }
            --s.queued;
            op.addr_len = 0; // the peer is asked for lazily
            return true;
        }
    } else if (s.queue_head >= 0) {
        auto id = static_cast<std::uint16_t>(s.queue_head);
        buffer_meta& m = meta_[id];
        std::byte* data = pool_data(id) + m.offset;
        std::uint32_t left = m.length - m.offset;
        if (op.kind == op_kind::recv_pooled) {
            op.buffer = data;
            op.buffer_id = id;
            res = static_cast<int>(left);
            m.offset = m.length;
        } else { // a plain receive on a socket whose bytes are queued here: copy
            std::size_t want = op.length;
            if (faults_ != nullptr) [[unlikely]]
                want = faults_->shorten(want); // a short read: the rest stays queued
            std::uint32_t n = static_cast<std::uint32_t>(std::min<std::size_t>(left, want));
            std::memcpy(op.buffer, data, n);
            m.offset += n;
            res = static_cast<int>(n);
        }
        if (m.offset == m.length) {
            s.queue_head = m.next;
            if (s.queue_head < 0) s.queue_tail = -1;
            --s.queued;
            if (op.kind != op_kind::recv_pooled) release_buffer(id);
        }
        return true;
    }
    if (s.has_final) { // EOF or an error, after everything queued
        res = s.final_result;
        s.has_final = false;
        return true;
    }
    return false;
}

void io_uring_backend::serve(fd_slot& s) noexcept {
    if (draining_) return; // release_socket cancels the waiters, closes what is queued
    while (operation* op = s.waiters.head) {
        int res = 0;
        if (!serve_one(s, *op, res)) return;
        s.waiters.remove(*op);
        finish(*op, res);
    }
}

// The socket is closed (or forgotten, or the loop drains): waiters are
// cancelled, queued buffers go back to the ring and queued connections are
// closed.
void io_uring_backend::release_socket(int fd, fd_slot& s) noexcept {
    while (operation* op = s.waiters.pop())
        finish(*op, -ECANCELED);
    cancel_pool_waiters(fd);
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
    s.has_final = false;
    s.starved = false;
    s.accept_mode = false;
    s.closing = false;
    s.zero_copy = -1;
}

} // namespace coronet::detail
