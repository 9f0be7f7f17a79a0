// The io_uring backend (see io_uring_backend.hpp): pooled receives. With a
// provided buffer ring they are served by the socket's multishot receive
// (io_uring_multishot.cpp). Without one (fast paths off, or no kernel
// support) a pooled receive first waits for readability with a one-shot
// POLL_ADD (state polling, no buffer held), then takes a pool buffer and
// receives into it (in_kernel); an EAGAIN gives the buffer back and polls
// again. When every buffer is leased it waits for one (pool_wait); the
// first waiter gets the next buffer that comes back.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <cerrno>

namespace coronet::detail {

bool io_uring_backend::submit_pooled(operation& op, fd_slot& s) {
    if (buf_ring_ == nullptr && multishot_recv_) setup_buffer_ring(); // first use
    if (buf_ring_ != nullptr) return submit_on_socket(op, s);
    op.buffer = nullptr; // no buffer until the socket is readable
    pend(op, op_state::polling);
    s.kernel_ops.push(op);
    prepare(op);
    return false;
}

// The socket is readable and `op` is linked to it: receive into a pool
// buffer, or wait on the pool for one.
void io_uring_backend::receive_pooled_plain(operation& op) {
    auto id = pool().take();
    if (!id) { // every buffer is leased: wait for one to come back
        unlink(op);
        wait_for_buffer(op);
        return;
    }
    op.buffer_id = *id;
    op.buffer = pool_data(*id);
    op.length = pool().buffer_size();
    set_state(op, op_state::in_kernel);
    prepare(op);
}

void io_uring_backend::complete_pooled(operation& op, int res) noexcept {
    if (op.buffer == nullptr) { // the POLL_ADD: readable, or stopped
        if (res >= 0 && may_continue(op)) {
            receive_pooled_plain(op);
            return;
        }
        unlink(op);
        finish(op, res < 0 ? res : -ECANCELED);
        return;
    }
    if (res == -EAGAIN && may_continue(op)) { // someone else read it: poll again, no buffer
        std::uint16_t id = op.buffer_id;
        op.buffer = nullptr;
        set_state(op, op_state::polling);
        prepare(op);
        release_buffer(id);
        return;
    }
    // Received for a frame that will not resume (drain): the buffer goes back.
    if (res == -EAGAIN || (res > 0 && draining_)) res = -ECANCELED;
    unlink(op);
    if (res <= 0) {
        release_buffer(op.buffer_id);
        op.buffer = nullptr;
    }
    finish(op, res);
}

// A buffer came back (plain mode): the first pool waiter receives into it;
// one whose socket is closing, or any while draining, is cancelled instead.
void io_uring_backend::give_to_pool_waiter() noexcept {
    while (operation* op = pool_waiters_.pop()) {
        if (draining_ || slots_.at(op->fd).closing) {
            finish(*op, -ECANCELED);
            continue;
        }
        slots_.at(op->fd).kernel_ops.push(*op);
        receive_pooled_plain(*op); // it was readable; a buffer is there now
        return;
    }
}

} // namespace coronet::detail
