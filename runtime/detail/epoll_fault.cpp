// The epoll backend (see epoll_backend.hpp): the test-only fault seam
// (fault.hpp). Reached only when a test installed a fault plan; otherwise
// attempt() and attempt_pooled() take their one branch past it.
//
// A failure is injected instead of the syscall, so nothing happened to the
// socket and no byte is lost (a reset resets the connection for real
// first). An injected EAGAIN parks the operation like a real one, but no
// edge will come for it: the fd goes on redrive_, which the next poll
// retries. Short reads and writes ask the kernel for fewer bytes
// (perform<true>).
#include "coronet/runtime/detail/epoll_perform.hpp"

#include <cerrno>

namespace coronet::detail {

int epoll_backend::attempt_with_faults(operation& op, fd_state& st) noexcept {
    int f = 0;
    switch (op.kind) {
    case op_kind::recv:
    case op_kind::recv_pooled:
    case op_kind::send:
    case op_kind::send_all: // fails before its first send; each send may be short
        f = faults_->stream_failure(op.fd, true);
        break;
    case op_kind::accept:
        f = faults_->accept_failure(true);
        break;
    default:
        break;
    }
    if (f == -EAGAIN) redrive_.push_back(op.fd);
    if (f != 0) return f;
    return perform<true>(op, st);
}

} // namespace coronet::detail
