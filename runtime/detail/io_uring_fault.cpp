// The io_uring backend (see io_uring_backend.hpp): the test-only fault seam
// (fault.hpp). Reached only when a test installed a fault plan; otherwise
// every call site is a branch on a null faults_ that is never taken.
//
// A failure is injected by turning the request's SQE into a NOP that keeps
// its user_data and links: the NOP's completion carries the injected result,
// and nothing happened to the socket, so no byte is lost (a reset resets the
// connection for real first). Short reads and writes shorten the length the
// SQE asks for. A racing cancel is requested just before a completion is
// handled, the moment a real cancel (a timeout, a close) can land.
#include "coronet/runtime/detail/fault.hpp"
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <cerrno>

namespace coronet::detail {

// A one-shot request about to go into the SQ (after prepare's switch).
void io_uring_backend::inject(io_uring_sqe* sqe, operation& op) {
    int f = 0;
    bool shortens = true;
    switch (op.kind) {
    case op_kind::recv:
    case op_kind::send:
    case op_kind::send_all:
        f = faults_->stream_failure(op.fd, true);
        break;
    case op_kind::recv_pooled:
        if (op.buffer == nullptr) return; // its readability poll
        f = faults_->stream_failure(op.fd, true);
        break;
    case op_kind::accept:
        f = faults_->accept_failure(true);
        shortens = false;
        break;
    default:
        return;
    }
    if (f != 0) {
        io_uring_prep_nop(sqe);
        faults_->expect(reinterpret_cast<std::uintptr_t>(&op), f);
    } else if (shortens) {
        sqe->len = static_cast<unsigned>(faults_->shorten(sqe->len));
    }
}

// A socket's multishot request (or its one-shot stand-in) about to be armed.
// A multishot never reports EAGAIN, so none is injected here.
void io_uring_backend::inject_arm(io_uring_sqe* sqe, int fd, const fd_slot& s) {
    int f = 0;
    if (s.accept_mode) {
        f = faults_->accept_failure(false);
    } else if (faults_->fire(fault::no_buffers)) {
        f = -ENOBUFS;
    } else {
        f = faults_->stream_failure(fd, false);
    }
    if (f != 0) {
        io_uring_prep_nop(sqe); // clears IOSQE_BUFFER_SELECT too
        faults_->expect(tagged(s.accept_mode ? tag::accept : tag::recv, fd), f);
    } else if (!s.accept_mode && !multishot_recv_) { // a one-shot buffer-select receive
        sqe->len = static_cast<unsigned>(faults_->shorten(sqe->len));
    }
}

// Every CQE, just before it is handled: a NOP's injected result, and
// sometimes a cancel of the request it completes, as if a timeout or a
// cancel scope had asked for it a moment earlier.
void io_uring_backend::before_completion(std::uint64_t user_data, int& res) noexcept {
    faults_->take_result(user_data, res);
    auto t = static_cast<tag>(user_data >> 56);
    if (t == tag::none && user_data != 0) {
        auto& op = *reinterpret_cast<operation*>(user_data);
        if ((op.state == op_state::in_kernel || op.state == op_state::polling) &&
            faults_->fire(fault::cancel_race))
            request_cancel(op);
    } else if (t == tag::ready) {
        operation& op = untagged(user_data);
        if (op.state == op_state::polling && faults_->fire(fault::cancel_race)) request_cancel(op);
    } else if (t == tag::recv || t == tag::accept) {
        int fd = static_cast<int>(user_data & 0xffffffffu);
        fd_slot& s = slots_.at(fd);
        if (s.armed && !s.stopping && !s.closing && !draining_ && faults_->fire(fault::cancel_race))
            stop(fd, s);
    }
}

} // namespace coronet::detail
