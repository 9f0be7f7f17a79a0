// The epoll backend (see epoll_backend.hpp): pooled receives. A pooled
// receive takes a pool buffer only for its recv(2) attempt and gives it
// straight back unless data came, so a socket that waits holds none. One
// that finds the pool empty (and its socket not known to be drained) waits
// on the pool; a buffer that comes back goes to the first waiter whose
// socket has data: one whose socket is (known to be) empty moves to the
// socket's read list to wait for its next edge, one that gets EOF or an
// error completes without a buffer.
#include "coronet/runtime/detail/epoll_perform.hpp"

#include <cerrno>

namespace coronet::detail {

void epoll_backend::release_buffer(std::uint16_t id) noexcept {
    pool().give(id);
    if (pool_waiters_.head != nullptr) give_to_pool_waiter();
}

void epoll_backend::give_to_pool_waiter() noexcept {
    while (operation* op = pool_waiters_.pop()) {
        fd_state& st = fds_.at(op->fd);
        int r = st.known_empty() ? -EAGAIN : attempt(*op, st);
        if (r == -EAGAIN) r = register_fd(op->fd, st);
        if (r == -EAGAIN) {
            set_state(*op, op_state::parked);
            st.readers.push(*op);
            continue;
        }
        finish(*op, r);    // not -ENOBUFS: a buffer was just given back
        if (r > 0) return; // it took the buffer
    }
}

} // namespace coronet::detail
