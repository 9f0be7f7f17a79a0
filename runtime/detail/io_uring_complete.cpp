// The io_uring backend (see io_uring_backend.hpp): completions and the
// cancellation contract. reap() takes every CQE there is and dispatches it:
// a one-shot request's to the handler of its operation's kind (sends in
// io_uring_send.cpp, plain pooled receives in io_uring_pooled.cpp, the rest
// here), a multishot request's to io_uring_multishot.cpp. cancel(), close(),
// forget() and drain() are request + join: nothing in the kernel is
// abandoned.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <cerrno>
#include <unistd.h>

namespace coronet::detail {

// Each CQE is consumed before it is handled, and handling it may queue SQEs
// (never reap again: see flush_sq).
std::size_t io_uring_backend::reap() noexcept {
    std::size_t before = ready_.size();
    reaping_ = true;
    unsigned* const khead = ring_.cq.khead;
    unsigned* const ktail = ring_.cq.ktail;
    const io_uring_cqe* const cqes = ring_.cq.cqes;
    const unsigned mask = ring_.cq.ring_mask;
    unsigned head = *khead;
    unsigned tail = io_uring_smp_load_acquire(ktail);
    while (head != tail) {
        const io_uring_cqe& cqe = cqes[head & mask];
        const std::uint64_t ud = cqe.user_data;
        const int res = cqe.res;
        const unsigned flags = cqe.flags;
        io_uring_smp_store_release(khead, ++head);
        if (auto t = static_cast<tag>(ud >> 56); t == tag::none) {
            if (ud != 0) [[likely]] {
                auto& op = *reinterpret_cast<operation*>(ud);
                if (op.kind == op_kind::send_all || op.kind == op_kind::send)
                    complete_send(op, res, flags); // the straight path, inline
                else
                    complete(op, res, flags);
            }
        } else if (t == tag::wake) {
            wake_armed_ = false;
        } else if (t == tag::mail) {
            // Another loop's MSG_RING: it only ended the wait; the loop reads its mailbox.
        } else if (t == tag::mail_sent) {
            if (res < 0) // the kernel refused our MSG_RING: wake that loop by its eventfd
                reinterpret_cast<wake_fd*>(static_cast<std::uintptr_t>(ud & ((1ull << 56) - 1)))
                    ->signal();
        } else if (ud != LIBURING_UDATA_TIMEOUT) {
            on_multishot(t, static_cast<int>(ud & 0xffffffffu), res, flags);
        }
        if (head == tail) tail = io_uring_smp_load_acquire(ktail);
    }
    reaping_ = false;
    return ready_.size() - before;
}

void io_uring_backend::complete(operation& op, int res, unsigned flags) noexcept {
    switch (op.kind) {
    case op_kind::send:
    case op_kind::send_all:
        return complete_send(op, res, flags);
    case op_kind::recv_pooled:
        return complete_pooled(op, res);
    case op_kind::accept:
        if (draining_ && res >= 0) { // accepted after the loop stopped wanting it
            ::close(res);
            res = -ECANCELED;
        }
        break;
    default:
        break;
    }
    complete_default(op, res);
}

void io_uring_backend::complete_default(operation& op, int res) noexcept {
    if (retry_after_eagain(op, res)) return;
    unlink(op);
    finish(op, res);
}

// An old kernel may answer EAGAIN for a non-blocking socket: wait for
// readiness behind a linked poll, then try again. Cancelled, the operation
// ends with operation_canceled instead.
bool io_uring_backend::retry_after_eagain(operation& op, int res) noexcept {
    if (res != -EAGAIN || !may_continue(op)) return false;
    resubmit(op, true);
    return true;
}

void io_uring_backend::cancel(operation& op) noexcept {
    switch (op.state) {
    case op_state::parked: // on its socket's multishot: what it would get stays queued
        slots_.at(op.fd).waiters.remove(op);
        finish(op, -ECANCELED);
        return;
    case op_state::pool_wait:
        pool_waiters_.remove(op);
        finish(op, -ECANCELED);
        return;
    case op_state::zc_notify:
        cancel_zero_copy(op);
        return;
    case op_state::in_kernel:
    case op_state::polling:
        request_cancel(op);
        return;
    case op_state::idle:
    case op_state::cancelling:
    case op_state::done:
        return;
    }
}

void io_uring_backend::request_cancel(operation& op) noexcept {
    set_state(op, op_state::cancelling);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, 0);
}

// Asks the kernel to end everything `fd` has in it: its one-shot requests
// and its multishot. A cancel may flush the SQ and reap, which changes the
// list, so the scan starts over after each one. Returns whether anything of
// fd's is still in the kernel.
bool io_uring_backend::cancel_socket(int fd) noexcept {
    fd_slot& s = slots_.at(fd);
    for (bool again = true; again;) {
        again = false;
        for (operation* op = s.kernel_ops.head; op != nullptr; op = op->next) {
            if (op->state != op_state::cancelling) {
                cancel(*op);
                again = true;
                break;
            }
        }
    }
    stop(fd, s);
    return s.in_kernel();
}

// The fd-close rule: cancel and join what fd has in the kernel, then finish
// its waiters and drop what is queued on it.
void io_uring_backend::settle(int fd) noexcept {
    fd_slot* s = slots_.find(fd);
    if (s == nullptr) return; // no operation ever ran on it
    if (!s->in_kernel() && s->waiters.head == nullptr && !s->has_queued() && !s->starved &&
        pool_waiters_.head == nullptr) { // nothing to settle (the common close)
        s->accept_mode = false;
        s->zero_copy = -1;
        return;
    }
    s->closing = true;
    while (cancel_socket(fd))
        wait_some();
    release_socket(fd, *s);
}

void io_uring_backend::close(int fd) noexcept {
    settle(fd);
    ::close(fd);
}

// Like close() without close(2) (nothing of fd's is registered with the ring
// beyond its requests), except that bytes or connections the multishot read
// ahead stay queued here: they would be lost. The multishot is stopped, so
// the queue only shrinks; the caller takes what is there, then forgets again.
bool io_uring_backend::forget(int fd) noexcept {
    fd_slot* s = slots_.find(fd);
    if (s != nullptr && (s->queue_head >= 0 || s->accepted_head < s->accepted.size())) {
        s->closing = true;
        while (cancel_socket(fd))
            wait_some();
        s->closing = false;
        while (operation* op = s->waiters.pop()) // none while something is queued, but be sure
            finish(*op, -ECANCELED);
        if (s->queue_head >= 0 || s->accepted_head < s->accepted.size()) return false;
    }
    settle(fd);
    return true;
}

void io_uring_backend::drain() noexcept {
    draining_ = true;
    cancel_pool_waiters(-1); // first: a buffer returned while draining restarts none
    bool wake_cancelled = false;
    for (;;) {
        bool busy = false;
        for (int fd = 0; fd < static_cast<int>(slots_.size()); ++fd)
            if (slots_.at(fd).in_kernel()) busy = cancel_socket(fd) || busy;
        if (wake_armed_ && !wake_cancelled) { // its buffer is ours: join it too
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, tagged(tag::wake, 0), 0);
            io_uring_sqe_set_data64(sqe, 0);
            wake_cancelled = true;
        }
        if (!busy && !wake_armed_) break;
        wait_some();
    }
    for (int fd = 0; fd < static_cast<int>(slots_.size()); ++fd)
        release_socket(fd, slots_.at(fd));
    draining_ = false;
}

} // namespace coronet::detail
