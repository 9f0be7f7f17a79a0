// The io_uring backend (see io_uring_backend.hpp): submission. submit()
// dispatches per kind; one-shot requests are only queued in the SQ ring, and
// poll() flushes them and waits in a single io_uring_enter per loop turn.
#include "coronet/runtime/detail/fault.hpp"
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <poll.h>
#include <system_error>

namespace coronet::detail {

bool io_uring_backend::submit(operation& op) {
    ++stats_.submitted;
    fd_slot& s = slots_[op.fd]; // made here: every fd with an operation has its slot
    switch (op.kind) {
    case op_kind::recv_pooled:
        if (buf_ring_ == nullptr) [[unlikely]]
            return submit_pooled(op, s);
        if (s.waiters.head == nullptr) { // the straight path: take what is queued, or wait
            if (s.queue_head >= 0) return take_queued_buffer(op, s);
            if (s.armed && !s.has_final) {
                pend(op, op_state::parked);
                s.waiters.push(op);
                return false;
            }
        }
        return submit_on_socket(op, s);
    case op_kind::accept:
    case op_kind::recv:
        if (waits_on_socket(op, s)) return submit_on_socket(op, s);
        break;
    case op_kind::send:
    case op_kind::send_all:
        // The straight path: one SQE, filled here (under a fault plan,
        // start() below, whose prepare() consults it).
        if (op.deadline == nullptr && faults_ == nullptr) {
            pend(op, op_state::in_kernel);
            s.kernel_ops.push(op);
            io_uring_sqe* sqe = take_sqe();
            prepare_send(sqe, op);
            io_uring_sqe_set_data(sqe, &op);
            return false;
        }
        break;
    default:
        break;
    }
    start(op);
    return false;
}

void io_uring_backend::start(operation& op) {
    pend(op, op_state::in_kernel);
    slots_.at(op.fd).kernel_ops.push(op);
    prepare(op);
}

// Submits and waits up to `timeout` (none: for one CQE), in one enter.
[[gnu::always_inline]] inline void
io_uring_backend::enter(std::optional<std::chrono::nanoseconds> timeout) {
    ++stats_.kernel_waits;
    int r;
    if (!timeout) { // the plainest call: submit and wait for one CQE
        r = io_uring_submit_and_wait(&ring_, 1);
    } else if (timeout->count() == 0) {
        r = io_uring_submit_and_get_events(&ring_);
    } else {
        auto ts = to_timespec<__kernel_timespec>(*timeout);
        io_uring_cqe* cqe = nullptr;
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw std::system_error(-r, std::generic_category(), "io_uring_enter");
}

std::size_t io_uring_backend::poll(std::optional<std::chrono::nanoseconds> timeout) {
    if (faults_ != nullptr) [[unlikely]]
        return poll_with_faults(timeout);
    if (rearm_pending_) rearm_starved();
    if (!wake_armed_) arm_wakeup();
    enter(timeout);
    return reap_cqes<false>();
}

// poll() under a test's fault plan: io_uring_enter may fail with EINTR or
// EBUSY before it submits or waits (then only what is there is reaped).
std::size_t io_uring_backend::poll_with_faults(std::optional<std::chrono::nanoseconds> timeout) {
    if (rearm_pending_) rearm_starved();
    if (!wake_armed_) arm_wakeup();
    if (faults_->enter_failure(true) != 0)
        ++stats_.kernel_waits;
    else
        enter(timeout);
    return reap_cqes<true>();
}

bool io_uring_backend::send_msg_ring(int ring_fd, wake_fd& fallback) noexcept {
    if (!msg_ring_) return false;
    try {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_msg_ring(sqe, ring_fd, 0, tagged(tag::mail, 0), 0);
        io_uring_sqe_set_data64(sqe, std::uint64_t(tag::mail_sent) << 56 |
                                         reinterpret_cast<std::uintptr_t>(&fallback));
        return true;
    } catch (...) { // the ring failed: the eventfd still works
        return false;
    }
}

// A read of the wake-up eventfd stays in the ring; its CQE only re-arms it.
void io_uring_backend::arm_wakeup() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_.fd(), &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, tagged(tag::wake, 0));
    wake_armed_ = true;
}

void io_uring_backend::flush() noexcept {
    if (!ring_ok_ || io_uring_sq_ready(&ring_) == 0) return;
    ++stats_.kernel_waits;
    [[maybe_unused]] int r = io_uring_submit(&ring_); // failures: nothing better to do here
}

// The fault seam's get_sqe: sometimes the SQ is (made) full, so the
// flush-and-retry path runs.
io_uring_sqe* io_uring_backend::get_sqe_with_faults() {
    if (faults_->fire(fault::sq_full)) return get_sqe_slow();
    return take_sqe();
}

io_uring_sqe* io_uring_backend::get_sqe_slow() {
    io_uring_sqe* sqe = nullptr;
    while (sqe == nullptr) { // SQ full: flush it and retry
        flush_sq();
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void io_uring_backend::flush_sq() {
    ++stats_.kernel_waits;
    int r = 0;
    if (faults_ == nullptr || (r = faults_->enter_failure(true)) == 0) r = io_uring_submit(&ring_);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        throw std::system_error(-r, std::generic_category(), "io_uring_submit");
    // CQ backpressure: make room. Not from inside reap(), which has already
    // consumed the CQE it is handling (there is room) and must not nest.
    if ((r == -EBUSY || r == -EAGAIN) && !reaping_) reap();
}

// Flushes and waits for at least one CQE, then reaps (close, forget, drain).
void io_uring_backend::wait_some() noexcept {
    ++stats_.kernel_waits;
    io_uring_cqe* cqe = nullptr;
    if (faults_ == nullptr || faults_->enter_failure(true) == 0) {
        int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
        (void)r; // EINTR and friends: just reap what there is and wait again
    }
    reap();
}

// A chain of `need` SQEs must not be split by an SQ flush: makes room for
// all of it (a flush may reap, and what that completes may queue SQEs:
// check again). Its SQEs are then taken with take_sqe().
void io_uring_backend::make_room(unsigned need) {
    if (faults_ != nullptr && faults_->fire(fault::sq_full)) [[unlikely]]
        flush_sq();
    while (io_uring_sq_space_left(&ring_) < need)
        flush_sq();
}

// Queues the SQE for `op`, and its linked timeout if it has a deadline.
void io_uring_backend::prepare(operation& op) {
    const bool timed = op.deadline != nullptr;
    if (timed) make_room(2);
    io_uring_sqe* sqe = timed ? take_sqe() : get_sqe();
    switch (op.kind) {
    case op_kind::accept:
        io_uring_prep_accept(sqe, op.fd, static_cast<sockaddr*>(op.buffer),
                             op.buffer != nullptr ? &op.addr_len : nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case op_kind::connect:
        io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.buffer),
                              static_cast<socklen_t>(op.length));
        if (op.sent != 0) sqe->flags |= IOSQE_ASYNC; // blocking: waits for a Unix backlog
        break;
    case op_kind::recv_pooled: // plain mode: first readability, then into a pool buffer
        if (op.buffer == nullptr) {
            io_uring_prep_poll_add(sqe, op.fd, POLLIN);
            break;
        }
        [[fallthrough]];
    case op_kind::recv:
        io_uring_prep_recv(sqe, op.fd, op.buffer, clamp_length(op.length), 0);
        break;
    case op_kind::send:
    case op_kind::send_all:
        prepare_send(sqe, op);
        break;
    case op_kind::read:
        io_uring_prep_read(sqe, op.fd, op.buffer, clamp_length(op.length), 0);
        break;
    case op_kind::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, static_cast<msghdr*>(op.buffer), MSG_TRUNC);
        break;
    case op_kind::sendmsg:
        io_uring_prep_sendmsg(sqe, op.fd, static_cast<const msghdr*>(op.buffer), MSG_NOSIGNAL);
        break;
    }
    if (faults_ != nullptr) [[unlikely]]
        inject(sqe, op);
    io_uring_sqe_set_data(sqe, &op);
    if (timed) link_deadline(sqe, op);
}

// Links a timeout behind `sqe` (room made for it): the kernel cancels the
// request at op's deadline.
void io_uring_backend::link_deadline(io_uring_sqe* sqe, const operation& op) {
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe* t = take_sqe();
    io_uring_prep_link_timeout(
        t, const_cast<__kernel_timespec*>(reinterpret_cast<const __kernel_timespec*>(op.deadline)),
        IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(t, 0);
}

// An old kernel answered EAGAIN for a non-blocking socket: `op` waits for
// readiness with a POLL_ADD of its own (state polling), whose user_data is
// tagged with op's address, then goes in again (on_ready). Not a POLL_ADD
// linked in front of the request: ASYNC_CANCEL cannot find a request that
// waits behind its link's head, so a cancel, close() or drain() of an
// operation behind a poll that never fires would wait forever. A deadline
// is linked to the poll (and again to the request once it goes in).
void io_uring_backend::wait_ready(operation& op) {
    set_state(op, op_state::polling);
    const bool timed = op.deadline != nullptr;
    if (timed) make_room(2);
    io_uring_sqe* p = timed ? take_sqe() : get_sqe();
    io_uring_prep_poll_add(p, op.fd, is_read_side(op.kind) ? POLLIN : POLLOUT);
    io_uring_sqe_set_data64(p, tagged(tag::ready, op));
    if (timed) link_deadline(p, op);
}

} // namespace coronet::detail
