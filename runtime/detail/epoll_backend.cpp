// The epoll backend: readiness based. Each fd is registered once, edge
// triggered, the first time an operation on it would block; every operation
// tries its syscall first and parks on the fd's read or write wait list only
// on EAGAIN. An edge then retries the parked operations in order.
//
// Read readiness is tracked per fd: a stream receive that returned less than
// it asked for drained the socket, so the next receive parks at once instead
// of spending a recv(2) on EAGAIN; the next read edge marks it readable again.
// Pooled receives take a pool buffer only when the socket is readable; with
// the pool empty they wait on the pool and continue when a lease comes back.
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/operation_list.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace coronet::detail {
namespace {

struct fd_state {
    operation_list readers;
    operation_list writers;
    bool registered = false;
    bool drained = false;     // a receive emptied it; no read edge since
    bool peer_closed = false; // EOF, reset or error seen: a receive never parks unasked
};

// Marks an operation parked on the pool's wait list (not on an fd's).
constexpr std::size_t waits_for_buffer = 1;

int retry_eintr(auto call) {
    for (;;) {
        long r = call();
        if (r >= 0) return static_cast<int>(r);
        if (errno != EINTR) return -errno;
    }
}

// Performs the syscall(s) `op` describes. Returns the final result, or
// -EAGAIN when the operation must wait for readiness.
int perform(operation& op) noexcept {
    switch (op.code) {
    case op_code::accept:
        return retry_eintr([&] {
            return ::accept4(op.fd, static_cast<sockaddr*>(op.buffer), &op.addr_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        });
    case op_code::recv:
        return retry_eintr([&] { return ::recv(op.fd, op.buffer, op.length, MSG_DONTWAIT); });
    case op_code::send:
        return retry_eintr(
            [&] { return ::send(op.fd, op.buffer, op.length, MSG_NOSIGNAL | MSG_DONTWAIT); });
    case op_code::send_all:
        while (op.done < op.length) {
            int r = retry_eintr([&] {
                return ::send(op.fd, static_cast<const char*>(op.buffer) + op.done,
                              op.length - op.done, MSG_NOSIGNAL | MSG_DONTWAIT);
            });
            if (r < 0) return r;
            op.done += static_cast<std::size_t>(r);
        }
        return 0;
    case op_code::read:
        return retry_eintr([&] { return ::read(op.fd, op.buffer, op.length); });
    case op_code::recv_pooled:
        break; // needs the pool: epoll_backend::attempt
    case op_code::recvmsg:
        return retry_eintr([&] {
            return ::recvmsg(op.fd, static_cast<msghdr*>(op.buffer), MSG_DONTWAIT | MSG_TRUNC);
        });
    case op_code::sendmsg:
        return retry_eintr([&] {
            return ::sendmsg(op.fd, static_cast<const msghdr*>(op.buffer),
                             MSG_DONTWAIT | MSG_NOSIGNAL);
        });
    case op_code::connect: {
        if (op.done == 0) {
            int r = retry_eintr([&] {
                return ::connect(op.fd, static_cast<const sockaddr*>(op.buffer),
                                 static_cast<socklen_t>(op.length));
            });
            if (r != -EINPROGRESS) return r;
            op.done = 1;
            return -EAGAIN;
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
        if (err != 0) return -err;
        sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (::getpeername(op.fd, reinterpret_cast<sockaddr*>(&peer), &plen) < 0)
            return errno == ENOTCONN ? -EAGAIN : -errno; // woken before the handshake ended
        return 0;
    }
    }
    return -EINVAL;
}

class epoll_backend final : public backend {
public:
    epoll_backend(ready_queue& ready, const backend_config& config)
        : backend(config), ready_(ready) {
        epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
        wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd_ < 0) {
            int err = errno;
            ::close(epfd_);
            throw std::system_error(err, std::generic_category(), "eventfd");
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.fd = wake_fd_;
        ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    }
    ~epoll_backend() override {
        ::close(wake_fd_);
        ::close(epfd_);
    }

    backend_kind kind() const noexcept override { return backend_kind::epoll; }
    std::string features() const override { return pwait2_ ? "epoll_pwait2" : "epoll_wait"; }
    std::size_t in_flight() const noexcept override { return in_flight_; }

    bool submit(operation& op) override {
        ++stats_.submitted;
        fd_state& st = state_of(op.fd);
        const bool known_drained =
            st.drained && !st.peer_closed && st.registered && is_read_side(op.code);
        int r = known_drained ? -EAGAIN : attempt(op, st);
        if (r == -ENOBUFS) { // the pool is empty: wait for a lease to come back
            op.state = op_state::in_flight;
            op.done = waits_for_buffer;
            buffer_waiters_.push(op);
            ++in_flight_;
            return false;
        }
        if (r == -EAGAIN) r = register_fd(op.fd, st);
        if (r != -EAGAIN) {
            op.result = r;
            op.state = op_state::done;
            ++stats_.completed;
            return true;
        }
        op.state = op_state::in_flight;
        (is_read_side(op.code) ? st.readers : st.writers).push(op);
        ++in_flight_;
        return false;
    }

    void cancel(operation& op) override {
        if (op.state != op_state::in_flight) return;
        list_of(op).remove(op);
        complete(op, -ECANCELED);
    }

    void release_buffer(std::uint16_t id) noexcept override {
        pool().give(id);
        // The first waiter whose socket has data gets it; those that find
        // their socket empty wait for its next edge instead.
        while (operation* op = buffer_waiters_.head) {
            buffer_waiters_.remove(*op);
            op->done = 0;
            fd_state& st = fds_[static_cast<std::size_t>(op->fd)];
            int r = st.drained && !st.peer_closed && st.registered ? -EAGAIN : attempt(*op, st);
            if (r == -EAGAIN) r = register_fd(op->fd, st);
            if (r == -EAGAIN) {
                st.readers.push(*op);
                continue;
            }
            complete(*op, r);  // not -ENOBUFS: a buffer was just given back
            if (r > 0) return; // it took the buffer
        }
    }

    void close(int fd) noexcept override {
        if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) {
            fd_state& st = fds_[static_cast<std::size_t>(fd)];
            cancel_all(st);
            cancel_buffer_waiters(fd);
            st.registered = false; // close() removes it from the epoll set
            st.drained = st.peer_closed = false;
        }
        ::close(fd);
    }

    void drain() noexcept override {
        for (fd_state& st : fds_)
            cancel_all(st);
        cancel_buffer_waiters(-1);
    }

    void wakeup() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
    }

    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override {
        ++stats_.kernel_waits;
        int n = wait(timeout);
        std::size_t before = ready_.size();
        for (int i = 0; i < n; ++i) {
            const epoll_event& ev = events_[static_cast<std::size_t>(i)];
            if (ev.data.fd == wake_fd_) {
                std::uint64_t v;
                while (::read(wake_fd_, &v, sizeof v) > 0) {
                }
                continue;
            }
            fd_state& st = fds_[static_cast<std::size_t>(ev.data.fd)];
            if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                // One edge may carry both the last data and the FIN: after
                // EOF or an error a short read no longer means "wait".
                if (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st.peer_closed = true;
                st.drained = false;
                drive(st, st.readers);
            }
            if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) drive(st, st.writers);
        }
        return ready_.size() - before;
    }

private:
    fd_state& state_of(int fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= fds_.size()) fds_.resize(std::max(i + 1, fds_.size() * 2));
        return fds_[i];
    }

    int wait(std::optional<std::chrono::nanoseconds> timeout) {
        const int max = static_cast<int>(events_.size());
        for (;;) {
            int n;
            if (pwait2_) {
                timespec ts{};
                if (timeout) {
                    ts.tv_sec = static_cast<time_t>(timeout->count() / 1'000'000'000);
                    ts.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
                }
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

    // Adds `fd` to the epoll set once (edge triggered, both directions).
    // Returns -EAGAIN (go and wait) or the error that prevents waiting.
    int register_fd(int fd, fd_state& st) noexcept {
        if (st.registered) return -EAGAIN;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST) return -errno;
        st.registered = true;
        return -EAGAIN;
    }

    operation_list& list_of(operation& op) noexcept {
        if (op.done == waits_for_buffer && op.code == op_code::recv_pooled) return buffer_waiters_;
        fd_state& st = fds_[static_cast<std::size_t>(op.fd)];
        return is_read_side(op.code) ? st.readers : st.writers;
    }

    // perform() plus what needs the backend's state: read readiness and
    // the receive pool. Returns -ENOBUFS when a pooled receive finds the
    // socket readable but the pool empty.
    int attempt(operation& op, fd_state& st) noexcept {
        if (op.code != op_code::recv_pooled) {
            int r = perform(op);
            if (op.code == op_code::recv && (r == -EAGAIN || (r > 0 && std::size_t(r) < op.length)))
                st.drained = true; // a short stream read emptied the socket
            return r;
        }
        buffer_pool& p = pool();
        auto id = p.take();
        if (!id) return -ENOBUFS;
        std::byte* data = p.data(*id);
        int r = retry_eintr([&] { return ::recv(op.fd, data, p.buffer_size(), MSG_DONTWAIT); });
        if (r <= 0) { // EOF, error or EAGAIN: the buffer goes straight back
            p.give(*id);
            if (r == -EAGAIN) st.drained = true;
            return r;
        }
        if (std::size_t(r) < p.buffer_size()) st.drained = true;
        op.buffer = data;
        op.buffer_id = *id;
        return r;
    }

    void drive(fd_state& st, operation_list& list) noexcept {
        while (operation* op = list.head) {
            int r = attempt(*op, st);
            if (r == -EAGAIN) return;
            list.remove(*op);
            if (r == -ENOBUFS) {
                op->done = waits_for_buffer;
                buffer_waiters_.push(*op);
                continue;
            }
            complete(*op, r);
        }
    }

    void cancel_buffer_waiters(int fd) noexcept {
        for (operation* op = buffer_waiters_.head; op != nullptr;) {
            operation* next = op->next;
            if (fd < 0 || op->fd == fd) {
                buffer_waiters_.remove(*op);
                complete(*op, -ECANCELED);
            }
            op = next;
        }
    }

    void cancel_all(fd_state& st) noexcept {
        for (operation_list* l : {&st.readers, &st.writers}) {
            while (operation* op = l->head) {
                l->remove(*op);
                complete(*op, -ECANCELED);
            }
        }
    }

    void complete(operation& op, int r) noexcept {
        op.result = r;
        op.state = op_state::done;
        op.done = op.code == op_code::recv_pooled ? 0 : op.done;
        ++stats_.completed;
        --in_flight_;
        if (!op.internal) ready_.push(op.waiter);
    }

    ready_queue& ready_;
    int epfd_ = -1;
    int wake_fd_ = -1;
    bool pwait2_ = true;
    std::size_t in_flight_ = 0;
    std::vector<fd_state> fds_;
    operation_list buffer_waiters_; // pooled receives on readable sockets, pool empty
    std::array<epoll_event, 256> events_{};
};

} // namespace

std::unique_ptr<backend> make_epoll_backend(ready_queue& ready, const backend_config& config) {
    return std::make_unique<epoll_backend>(ready, config);
}

} // namespace coronet::detail
