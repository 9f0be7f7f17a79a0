// The io_uring backend (see io_uring_backend.hpp): send, send_all and
// zero-copy sends. send_all is one operation that this file continues after
// partial sends. A send of at least zero_copy_min bytes to a TCP peer on
// another host goes out as SEND_ZC, which completes twice: the result (with
// IORING_CQE_F_MORE), then the kernel's release of the buffer
// (IORING_CQE_F_NOTIF); the operation finishes at the second.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace coronet::detail {

// What complete_send (io_uring_backend.hpp) leaves: zero-copy, partial and
// failed sends.
void io_uring_backend::complete_send_slow(operation& op, int res, unsigned flags) noexcept {
    if (flags & IORING_CQE_F_MORE) { // zero-copy: the result; the buffer's release follows
        op.result = res;
        if (op.state == op_state::cancelling)
            abort_connection(op.fd); // cancelled: do not wait for a peer that may not read
        else
            set_state(op, op_state::zc_notify);
        return;
    }
    if (flags & IORING_CQE_F_NOTIF) { // zero-copy: the kernel let go of the buffer
        res = op.result;
        if (op.state == op_state::cancelling && res < 0) res = -ECANCELED; // the reset was ours
    }
    if (res == -EOPNOTSUPP && op.zero_copy) {
        slots_.at(op.fd).zero_copy = 0; // this socket cannot send zero-copy
        if (may_continue(op)) {
            resubmit(op); // send it plainly
            return;
        }
        res = -ECANCELED;
    }
    if (retry_after_eagain(op, res)) return;
    if (op.kind == op_kind::send_all && res >= 0) {
        op.sent += static_cast<std::size_t>(res);
        if (op.sent < op.length) {
            if (res > 0 && may_continue(op)) {
                resubmit(op);
                return;
            }
            res = res > 0 ? -ECANCELED : -EPIPE;
        } else {
            res = 0;
        }
    }
    unlink(op);
    finish(op, res);
}

// The data is the kernel's; only the peer's ACK would release the buffer.
// Reset the connection so that the cancel ends now.
void io_uring_backend::cancel_zero_copy(operation& op) noexcept {
    set_state(op, op_state::cancelling);
    abort_connection(op.fd);
}

// Resets a TCP connection in place (connect with AF_UNSPEC): the kernel
// drops the socket's queued data and so releases zero-copy buffers whose
// release would otherwise wait for a peer that does not read.
void io_uring_backend::abort_connection(int fd) noexcept {
    sockaddr sa{};
    sa.sa_family = AF_UNSPEC;
    [[maybe_unused]] int r = ::connect(fd, &sa, sizeof sa);
}

// Whether sends on `fd` may go zero-copy: a TCP peer on another host (on
// this host the kernel keeps the pages until the reader has read them, so a
// cancelled send could not finish while the reader waits), or any TCP peer
// with zero_copy_local. Decided once per socket.
bool io_uring_backend::zero_copy_peer(int fd) {
    fd_slot& s = slots_.at(fd);
    if (s.zero_copy >= 0) return s.zero_copy == 1;
    sockaddr_storage peer{}, self{};
    socklen_t plen = sizeof peer, slen = sizeof self;
    bool remote = false;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &slen) == 0) {
        if (peer.ss_family == AF_INET) {
            auto& p = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
            auto& l = reinterpret_cast<const sockaddr_in&>(self).sin_addr;
            remote = (ntohl(p.s_addr) >> 24) != 127 && p.s_addr != l.s_addr;
        } else if (peer.ss_family == AF_INET6) {
            auto& p = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
            auto& l = reinterpret_cast<const sockaddr_in6&>(self).sin6_addr;
            remote = !IN6_IS_ADDR_LOOPBACK(&p) && !IN6_IS_ADDR_V4MAPPED(&p) &&
                     std::memcmp(&p, &l, sizeof p) != 0;
        }
        remote = remote || (config_.zero_copy_local &&
                            (peer.ss_family == AF_INET || peer.ss_family == AF_INET6));
    }
    s.zero_copy = remote ? 1 : 0;
    return remote;
}

} // namespace coronet::detail
