// The epoll backend: readiness based. Each fd is registered once, edge
// triggered, the first time an operation on it would block; every operation
// tries its syscall first and parks on the fd's read or write wait list only
// on EAGAIN. An edge then retries the parked operations in order.
#include "runtime/detail/backend.hpp"

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

struct wait_list {
    operation* head = nullptr;
    operation* tail = nullptr;

    void push(operation& op) noexcept {
        op.next = nullptr;
        op.prev = tail;
        (tail ? tail->next : head) = &op;
        tail = &op;
    }
    void remove(operation& op) noexcept {
        (op.prev ? op.prev->next : head) = op.next;
        (op.next ? op.next->prev : tail) = op.prev;
        op.prev = op.next = nullptr;
    }
};

struct fd_state {
    wait_list readers;
    wait_list writers;
    bool registered = false;
};

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
    explicit epoll_backend(ready_queue& ready) : ready_(ready) {
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
        int r = perform(op);
        if (r != -EAGAIN) {
            op.result = r;
            op.state = op_state::done;
            return true;
        }
        fd_state& st = state_of(op.fd);
        if (!st.registered) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.fd = op.fd;
            if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, op.fd, &ev) < 0 && errno != EEXIST) {
                op.result = -errno;
                op.state = op_state::done;
                return true;
            }
            st.registered = true;
        }
        op.state = op_state::in_flight;
        (is_read_side(op.code) ? st.readers : st.writers).push(op);
        ++in_flight_;
        return false;
    }

    void cancel(operation& op) override {
        if (op.state != op_state::in_flight) return;
        fd_state& st = fds_[static_cast<std::size_t>(op.fd)];
        (is_read_side(op.code) ? st.readers : st.writers).remove(op);
        complete(op, -ECANCELED);
    }

    void close(int fd) noexcept override {
        if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) {
            fd_state& st = fds_[static_cast<std::size_t>(fd)];
            cancel_all(st);
            st.registered = false; // close() removes it from the epoll set
        }
        ::close(fd);
    }

    void drain() noexcept override {
        for (fd_state& st : fds_)
            cancel_all(st);
    }

    void wakeup() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
    }

    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override {
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
            if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) drive(st.readers);
            if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) drive(st.writers);
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

    void drive(wait_list& list) noexcept {
        while (operation* op = list.head) {
            int r = perform(*op);
            if (r == -EAGAIN) return;
            list.remove(*op);
            complete(*op, r);
        }
    }

    void cancel_all(fd_state& st) noexcept {
        for (wait_list* l : {&st.readers, &st.writers}) {
            while (operation* op = l->head) {
                l->remove(*op);
                complete(*op, -ECANCELED);
            }
        }
    }

    void complete(operation& op, int r) noexcept {
        op.result = r;
        op.state = op_state::done;
        --in_flight_;
        if (!op.internal) ready_.push(op.waiter);
    }

    ready_queue& ready_;
    int epfd_ = -1;
    int wake_fd_ = -1;
    bool pwait2_ = true;
    std::size_t in_flight_ = 0;
    std::vector<fd_state> fds_;
    std::array<epoll_event, 256> events_{};
};

} // namespace

std::unique_ptr<backend> make_epoll_backend(ready_queue& ready) {
    return std::make_unique<epoll_backend>(ready);
}

} // namespace coronet::detail
