// The io_uring backend (see io_uring_backend.hpp): one-shot operations,
// cancellation, close and drain, and the completion loop (setup is in
// io_uring_setup.cpp, the per-socket multishot paths in io_uring_multishot.cpp).
//
// Submissions are only queued in the SQ ring by submit(); poll() flushes them
// and waits in a single io_uring_enter per loop turn, then reaps every CQE
// available in one batch.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <system_error>
#include <unistd.h>

namespace coronet::detail {

bool io_uring_backend::submit(operation& op) {
    ++stats_.submitted;
    const fd_slot& s = slot(op.fd); // every fd with an operation has its slot (close)
    if (op.code == op_code::recv_pooled) {
        if (buf_ring_ == nullptr && multishot_recv_) setup_buffer_ring(); // first use
        return buf_ring_ != nullptr ? submit_on_socket(op) : submit_pooled_plain(op);
    }
    if (waits_on_socket(op, s)) return submit_on_socket(op);
    op.state = op_state::in_flight;
    link(op);
    prepare(op, false);
    return false;
}

void io_uring_backend::cancel(operation& op) {
    if (op.state != op_state::in_flight) return;
    op.cancel_requested = true;
    if (op.done == parked_on_pool && op.code == op_code::recv_pooled) {
        pool_waiters_.remove(op);
        finish(op, -ECANCELED);
        return;
    }
    if (op.done == parked_on_socket &&
        (op.code == op_code::recv_pooled || op.code == op_code::recv ||
         op.code == op_code::accept)) { // not in the kernel: what it would get stays queued
        slot(op.fd).waiters.remove(op);
        finish(op, -ECANCELED);
        return;
    }
    if (op.addr_len == zero_copy_notif_pending && is_send(op)) {
        // The data is the kernel's; only the peer's ACK would release the
        // buffer. Abort the connection so that the cancel ends now.
        op.addr_len = zero_copy_aborted;
        abort_connection(op.fd);
        return;
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, 0);
}

// Asks the kernel to end everything `fd` has in it: its one-shot requests
// and its multishot. A cancel may flush the SQ and reap, which changes the
// list, so the scan starts over after each one. Returns whether anything of
// fd's is still in the kernel.
bool io_uring_backend::cancel_socket(int fd) noexcept {
    fd_slot& s = slots_[static_cast<std::size_t>(fd)]; // made by submit(): never grows here
    for (bool again = true; again;) {
        again = false;
        for (operation* op = s.kernel_ops.head; op != nullptr; op = op->next) {
            if (!op->cancel_requested) {
                cancel(*op);
                again = true;
                break;
            }
        }
    }
    stop(fd, s);
    return s.in_kernel > 0;
}

void io_uring_backend::close(int fd) noexcept {
    if (fd >= 0 && static_cast<std::size_t>(fd) < slots_.size()) {
        slots_[static_cast<std::size_t>(fd)].closing = true;
        while (cancel_socket(fd))
            wait_some();
        release_socket(fd, slots_[static_cast<std::size_t>(fd)]);
    }
    ::close(fd);
}

void io_uring_backend::drain() noexcept {
    draining_ = true;
    while (operation* op = pool_waiters_.pop()) { // first: a returned buffer restarts none
        op->done = 0;
        finish(*op, -ECANCELED);
    }
    for (;;) {
        bool busy = false;
        for (std::size_t fd = 0; fd < slots_.size(); ++fd)
            if (slots_[fd].in_kernel > 0) busy = cancel_socket(static_cast<int>(fd)) || busy;
        if (wake_armed_ && !wake_op_.cancel_requested) cancel(wake_op_);
        if (!busy && !wake_armed_) break;
        wait_some();
    }
    for (std::size_t fd = 0; fd < slots_.size(); ++fd)
        release_socket(static_cast<int>(fd), slots_[fd]);
    draining_ = false;
}

void io_uring_backend::wakeup() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

std::size_t io_uring_backend::poll(std::optional<std::chrono::nanoseconds> timeout) {
    if (!starved_.empty() && rearm_pending_) rearm_starved();
    if (!wake_armed_) {
        wake_armed_ = true;
        wake_op_.state = op_state::in_flight;
        wake_op_.cancel_requested = false;
        prepare(wake_op_, false);
    }
    ++stats_.kernel_waits;
    int r;
    if (!timeout) { // the plainest call: submit and wait for one CQE
        r = io_uring_submit_and_wait(&ring_, 1);
    } else if (timeout->count() == 0) {
        r = io_uring_submit_and_get_events(&ring_);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = timeout->count() / 1'000'000'000;
        ts.tv_nsec = timeout->count() % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw std::system_error(-r, std::generic_category(), "io_uring_enter");
    return reap();
}

io_uring_sqe* io_uring_backend::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) { // SQ full: flush it and retry
        flush_sq();
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void io_uring_backend::flush_sq() {
    ++stats_.kernel_waits;
    int r = io_uring_submit(&ring_);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw std::system_error(-r, std::generic_category(), "io_uring_submit");
    // CQ backpressure: make room. Not from inside reap(), which has already
    // consumed the CQE it is handling (there is room) and must not nest.
    if ((r == -EBUSY || r == -EAGAIN) && !reaping_) reap();
}

// Queues the SQE for `op`; with `after_poll`, behind a linked poll for
// readiness (a kernel that returned EAGAIN for a non-blocking socket).
void io_uring_backend::prepare(operation& op, bool after_poll) {
    // A chain must not be split by an SQ flush: make room for all of it.
    unsigned need = 1 + (after_poll ? 1 : 0) + (op.deadline != nullptr ? 1 : 0);
    if (io_uring_sq_space_left(&ring_) < need) flush_sq();
    if (after_poll) {
        io_uring_sqe* p = get_sqe();
        io_uring_prep_poll_add(p, op.fd, is_read_side(op.code) ? POLLIN : POLLOUT);
        io_uring_sqe_set_data64(p, 0);
        p->flags |= IOSQE_IO_LINK;
    }
    io_uring_sqe* sqe = get_sqe();
    switch (op.code) {
    case op_code::accept:
        io_uring_prep_accept(sqe, op.fd, static_cast<sockaddr*>(op.buffer), &op.addr_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case op_code::connect:
        io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.buffer),
                              static_cast<socklen_t>(op.length));
        break;
    case op_code::recv_pooled: // plain mode: first readability, then into a pool buffer
        if (op.done == polling) {
            io_uring_prep_poll_add(sqe, op.fd, POLLIN);
            break;
        }
        [[fallthrough]];
    case op_code::recv:
        io_uring_prep_recv(sqe, op.fd, op.buffer, clamp_length(op.length), 0);
        break;
    case op_code::send:
    case op_code::send_all:
        prepare_send(sqe, op);
        break;
    case op_code::read:
        io_uring_prep_read(sqe, op.fd, op.buffer, clamp_length(op.length), 0);
        break;
    case op_code::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, static_cast<msghdr*>(op.buffer), MSG_TRUNC);
        break;
    case op_code::sendmsg:
        io_uring_prep_sendmsg(sqe, op.fd, static_cast<const msghdr*>(op.buffer), MSG_NOSIGNAL);
        break;
    }
    io_uring_sqe_set_data(sqe, &op);
    if (op.deadline != nullptr) { // the kernel cancels op at the deadline
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe* t = get_sqe();
        io_uring_prep_link_timeout(
            t,
            const_cast<__kernel_timespec*>(reinterpret_cast<const __kernel_timespec*>(op.deadline)),
            IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(t, 0);
    }
}

// A send of what is left of op's buffer; zero-copy when it is large enough.
// A zero-copy send completes twice: the result, then (IORING_CQE_F_NOTIF)
// the kernel's release of the buffer; the operation finishes at the second.
void io_uring_backend::prepare_send(io_uring_sqe* sqe, operation& op) {
    const std::size_t from = op.code == op_code::send_all ? op.done : 0;
    const char* data = static_cast<const char*>(op.buffer) + from;
    const std::size_t len = clamp_length(op.length - from); // send_all goes on after
    op.addr_len = 0;
    if (send_zc_ && len >= config_.zero_copy_min && zero_copy_peer(op.fd)) {
        op.addr_len = zero_copy_sent;
        ++stats_.zero_copy_sends;
        io_uring_prep_send_zc(sqe, op.fd, data, len, MSG_NOSIGNAL, 0);
    } else {
        io_uring_prep_send(sqe, op.fd, data, len, MSG_NOSIGNAL);
    }
}

void io_uring_backend::grow_slots(std::size_t i) {
    slots_.resize(std::max(i + 1, slots_.size() * 2));
}

void io_uring_backend::link(operation& op) {
    fd_slot& s = slot(op.fd);
    s.kernel_ops.push(op);
    ++s.in_kernel;
    ++in_flight_;
}

void io_uring_backend::unlink(operation& op) noexcept {
    fd_slot& s = slots_[static_cast<std::size_t>(op.fd)];
    s.kernel_ops.remove(op);
    --s.in_kernel;
}

// Flushes and waits for at least one CQE, then reaps (close and drain).
void io_uring_backend::wait_some() noexcept {
    ++stats_.kernel_waits;
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    (void)r; // EINTR and friends: just reap what there is and wait again
    reap();
}

// Completes every CQE there is. Each is consumed before it is handled, and
// handling it may queue SQEs (never reap again: see flush_sq).
std::size_t io_uring_backend::reap() noexcept {
    std::size_t before = ready_.size();
    reaping_ = true;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) { // the CQ head moves with `head`
        const std::uint64_t ud = cqe->user_data;
        const int res = cqe->res;
        const unsigned flags = cqe->flags;
        io_uring_cq_advance(&ring_, 1);
        if (ud == 0 || ud == LIBURING_UDATA_TIMEOUT) continue;
        if (auto t = static_cast<tag>(ud >> 56); t != tag::none)
            on_multishot(t, static_cast<int>(ud & 0xffffffffu), res, flags);
        else
            complete(*reinterpret_cast<operation*>(static_cast<std::uintptr_t>(ud)), res, flags);
    }
    reaping_ = false;
    return ready_.size() - before;
}

void io_uring_backend::complete(operation& op, int res, unsigned flags) noexcept {
    if (&op == &wake_op_) {
        wake_armed_ = false;
        wake_op_.state = op_state::done;
        return;
    }
    const bool may_retry = !draining_ && !op.cancel_requested;
    if (flags & IORING_CQE_F_NOTIF) { // zero-copy send: the kernel let go of the buffer
        res = op.result;
    } else if (flags & IORING_CQE_F_MORE) { // zero-copy send: the notification follows
        op.result = res;
        op.addr_len = zero_copy_notif_pending;
        if (!may_retry) { // cancelled: do not wait for the peer
            op.addr_len = zero_copy_aborted;
            abort_connection(op.fd);
        }
        return;
    }
    if (op.addr_len == zero_copy_aborted && res < 0) res = -ECANCELED; // the reset was ours
    if (res == -EOPNOTSUPP && op.addr_len == zero_copy_sent && is_send(op)) {
        slot(op.fd).zero_copy = 0; // this socket cannot send zero-copy
        if (may_retry) {
            prepare(op, false); // send it plainly
            return;
        }
        res = -ECANCELED;
    }
    if (op.code == op_code::recv_pooled && op.done == polling) { // plain pooled receive
        if (res >= 0 && may_retry) {
            receive_pooled_plain(op); // readable: now a buffer
            return;
        }
        unlink(op);
        op.done = 0;
        finish(op, res < 0 ? res : -ECANCELED);
        return;
    }
    if (res == -EAGAIN && may_retry && op.code == op_code::recv_pooled) {
        op.done = polling; // someone else read it: wait again, without the buffer
        prepare(op, false);
        release_buffer(op.buffer_id);
        return;
    }
    if (res == -EAGAIN && may_retry) { // old kernels: wait for readiness, then retry
        prepare(op, true);
        return;
    }
    if (op.code == op_code::send_all && res >= 0) {
        op.done += static_cast<std::size_t>(res);
        if (op.done < op.length) {
            if (res > 0 && may_retry) {
                prepare(op, false);
                return;
            }
            res = res > 0 ? -ECANCELED : -EPIPE;
        } else {
            res = 0;
        }
    }
    if (draining_ && op.code == op_code::accept && res >= 0) {
        ::close(res); // accepted after the loop stopped wanting it
        res = -ECANCELED;
    }
    if (draining_ && op.code == op_code::recv_pooled && res > 0)
        res = -ECANCELED; // received for a frame that will not resume: the buffer goes back
    unlink(op);
    if (op.code == op_code::recv_pooled && res <= 0) release_buffer(op.buffer_id);
    finish(op, res);
}

// The operation is over: its result goes to its waiter.
void io_uring_backend::finish(operation& op, int res) noexcept {
    --in_flight_;
    enqueue_ready(op, res);
}

void io_uring_backend::enqueue_ready(operation& op, int res) noexcept {
    ++stats_.completed;
    op.result = res;
    op.state = op_state::done;
    ready_.push(op.waiter);
}

} // namespace coronet::detail
