// The epoll backend (see epoll_backend.hpp): starting, parking, cancelling
// and settling operations, and the wait. Read readiness is tracked per fd
// (epoll_perform.cpp): a stream receive that returned less than it asked for
// drained the socket, so the next receive parks at once instead of spending
// a recv(2) on EAGAIN; the next read edge marks it readable again.
#include "coronet/runtime/detail/epoll_perform.hpp"

#include <cerrno>
#include <ctime>
#include <system_error>
#include <unistd.h>

namespace coronet::detail {

epoll_backend::epoll_backend(ready_queue& ready, const backend_config& config, wake_fd& wake)
    : backend(ready, config, wake) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = wake_.fd();
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_.fd(), &ev) < 0) {
        int err = errno;
        ::close(epfd_);
        throw std::system_error(err, std::generic_category(), "epoll_ctl");
    }
}

epoll_backend::~epoll_backend() {
    ::close(epfd_);
}

bool epoll_backend::submit(operation& op) {
    ++stats_.submitted;
    fd_state& st = fds_[op.fd];
    int r;
    switch (op.kind) { // the straight path: the message's own syscall, inline
    case op_kind::recv_pooled:
        if (st.known_empty() && st.readers.head == nullptr) { // wait for the edge at once
            pend(op, op_state::parked);
            st.readers.push(op);
            return false;
        }
        r = st.known_empty() ? -EAGAIN : attempt_pooled(op, st);
        break;
    case op_kind::send_all:
        r = epoll_syscalls::send_all(op);
        break;
    default:
        r = is_read_side(op.kind) && st.known_empty() ? -EAGAIN : attempt(op, st);
        break;
    }
    if (r == -EAGAIN || r == -ENOBUFS) [[unlikely]]
        return park(op, st, r);
    return finish_inline(op, r);
}

// `op` could not complete now: park it on its fd's list (EAGAIN), or on the
// pool (ENOBUFS: readable, but every buffer is leased). Returns whether it
// completed instead (the fd cannot be waited on).
bool epoll_backend::park(operation& op, fd_state& st, int r) {
    if (r == -ENOBUFS) {
        pend(op, op_state::pool_wait);
        pool_waiters_.push(op);
        return false;
    }
    if (r = register_fd(op.fd, st); r != -EAGAIN) return finish_inline(op, r);
    pend(op, op_state::parked);
    (is_read_side(op.kind) ? st.readers : st.writers).push(op);
    return false;
}

// Adds `fd` to the epoll set once (edge triggered, both directions).
// Returns -EAGAIN (go and wait) or the error that prevents waiting.
int epoll_backend::register_fd(int fd, fd_state& st) noexcept {
    if (st.registered) return -EAGAIN;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST) return -errno;
    st.registered = true;
    return -EAGAIN;
}

void epoll_backend::cancel(operation& op) noexcept {
    switch (op.state) {
    case op_state::parked: {
        fd_state& st = fds_.at(op.fd);
        (is_read_side(op.kind) ? st.readers : st.writers).remove(op);
        break;
    }
    case op_state::pool_wait:
        pool_waiters_.remove(op);
        break;
    default:
        return; // nothing of epoll's is in the kernel: only parked operations wait
    }
    finish(op, -ECANCELED);
}

void epoll_backend::cancel_all(fd_state& st) noexcept {
    for (operation_list* l : {&st.readers, &st.writers}) {
        while (operation* op = l->pop())
            finish(*op, -ECANCELED);
    }
}

// The fd-close rule: every operation parked on `fd` completes with
// operation_canceled, and the fd's registration and readiness are forgotten.
void epoll_backend::settle(int fd) noexcept {
    fd_state* st = fds_.find(fd);
    if (st == nullptr) return;
    cancel_all(*st);
    if (pool_waiters_.head != nullptr) cancel_pool_waiters(fd);
    st->drained = st->peer_closed = false;
}

void epoll_backend::close(int fd) noexcept {
    settle(fd);
    if (fd_state* st = fds_.find(fd)) st->registered = false; // close(2) leaves the set
    ::close(fd);
}

bool epoll_backend::forget(int fd) noexcept {
    settle(fd); // epoll reads nothing ahead: the kernel keeps what arrived
    fd_state* st = fds_.find(fd);
    if (st == nullptr || !st->registered) return true;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    st->registered = false;
    return true;
}

void epoll_backend::drain() noexcept {
    for (int fd = 0; fd < static_cast<int>(fds_.size()); ++fd)
        cancel_all(fds_.at(fd));
    cancel_pool_waiters(-1);
}

std::size_t epoll_backend::poll(std::optional<std::chrono::nanoseconds> timeout) {
    ++stats_.kernel_waits;
    int n = wait(timeout);
    std::size_t before = ready_.size();
    for (int i = 0; i < n; ++i) {
        const epoll_event& ev = events_[static_cast<std::size_t>(i)];
        if (ev.data.fd == wake_.fd()) {
            wake_.clear();
            continue;
        }
        fd_state& st = fds_.at(ev.data.fd);
        if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            // One edge may carry both the last data and the FIN: after EOF
            // or an error a short read no longer means "wait".
            if (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st.peer_closed = true;
            st.drained = false;
            if (st.readers.head != nullptr) drive(st, st.readers);
        }
        if ((ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && st.writers.head != nullptr)
            drive(st, st.writers);
    }
    return ready_.size() - before;
}

// An edge: retry the parked operations in order until one would block again.
void epoll_backend::drive(fd_state& st, operation_list& list) noexcept {
    while (operation* op = list.head) {
        int r = op->kind == op_kind::recv_pooled ? attempt_pooled(*op, st) : attempt(*op, st);
        if (r == -EAGAIN) return;
        list.remove(*op);
        if (r == -ENOBUFS) {
            wait_for_buffer(*op);
            continue;
        }
        finish(*op, r);
    }
}

int epoll_backend::wait(std::optional<std::chrono::nanoseconds> timeout) {
    const int max = static_cast<int>(events_.size());
    for (;;) {
        int n;
        if (pwait2_) {
            auto ts = timeout ? to_timespec<timespec>(*timeout) : timespec{};
            n = ::epoll_pwait2(epfd_, events_.data(), max, timeout ? &ts : nullptr, nullptr);
            if (n < 0 && errno == ENOSYS) {
                pwait2_ = false;
                continue;
            }
        } else {
            int ms = -1;
            if (timeout) ms = static_cast<int>((timeout->count() + 999'999) / 1'000'000);
            n = ::epoll_wait(epfd_, events_.data(), max, ms);
        }
        if (n >= 0) return n;
        if (errno == EINTR) return 0;
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
}

std::unique_ptr<backend> make_epoll_backend(ready_queue& ready, const backend_config& config,
                                            wake_fd& wake) {
    return std::make_unique<epoll_backend>(ready, config, wake);
}

} // namespace coronet::detail
