// The io_uring backend: completion based, through liburing 2.3.
//
// Submissions are only queued in the SQ ring by submit(); poll() flushes them
// and waits in a single io_uring_enter per loop turn, then reaps every CQE
// available in one batch. user_data is the operation's address; 0 marks
// internal requests (cancels, linked polls) whose CQEs are ignored.
#include "runtime/detail/backend.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <liburing.h>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace coronet::detail {
namespace {

constexpr unsigned ring_entries = 1024;

struct setup_choice {
    unsigned flags;
    const char* names;
};
// Best first; each step down drops flags an older kernel rejects with EINVAL.
constexpr setup_choice setup_choices[] = {
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
     "submit_all single_issuer defer_taskrun"},
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, "submit_all coop_taskrun"},
    {0, ""},
};

struct required_op {
    int opcode;
    const char* name;
};
constexpr required_op required_ops[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_RECV, "RECV"},         {IORING_OP_SEND, "SEND"},
    {IORING_OP_READ, "READ"},         {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_RECVMSG, "RECVMSG"},
    {IORING_OP_SENDMSG, "SENDMSG"},
};

constexpr int linked_timeout_ops[] = {IORING_OP_LINK_TIMEOUT};

std::string errno_text(int err) {
    return std::strerror(err);
}

class io_uring_backend final : public backend {
public:
    explicit io_uring_backend(ready_queue& ready) : ready_(ready) {}
    ~io_uring_backend() override {
        if (wake_fd_ >= 0) ::close(wake_fd_);
        if (ring_ok_) io_uring_queue_exit(&ring_);
    }

    // Returns an empty string on success, else why io_uring is unavailable.
    std::string init(bool& resource_error) {
        int err = 0;
        for (const setup_choice& c : setup_choices) {
            io_uring_params p{};
            p.flags = c.flags;
            err = -io_uring_queue_init_params(ring_entries, &ring_, &p);
            if (err == 0) {
                features_ = c.names;
                break;
            }
            if (err != EINVAL) break;
        }
        if (err != 0) {
            resource_error = err == ENOMEM;
            if (err == ENOSYS) return "io_uring_setup: not implemented by this kernel (ENOSYS)";
            if (err == EPERM)
                return "io_uring_setup: operation not permitted (EPERM: seccomp filter or "
                       "kernel.io_uring_disabled)";
            if (err == ENOMEM)
                return "io_uring_setup: out of memory (ENOMEM: raise RLIMIT_MEMLOCK, ulimit -l)";
            return "io_uring_setup: " + errno_text(err);
        }
        ring_ok_ = true;
        if (!(ring_.features & IORING_FEAT_NODROP))
            return "kernel lacks IORING_FEAT_NODROP (needs Linux 5.5 or later)";
        io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
        if (probe == nullptr) return "io_uring probe failed (needs Linux 5.6 or later)";
        for (const required_op& op : required_ops) {
            if (!io_uring_opcode_supported(probe, op.opcode)) {
                io_uring_free_probe(probe);
                return std::string("kernel lacks IORING_OP_") + op.name;
            }
        }
        links_timeouts_ = io_uring_opcode_supported(probe, linked_timeout_ops[0]);
        io_uring_free_probe(probe);
        if (links_timeouts_) add_feature("linked_timeout");
        if (io_uring_register_ring_fd(&ring_) == 1) add_feature("registered_ring");
        if (ring_.features & IORING_FEAT_EXT_ARG) add_feature("ext_arg");
        wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd_ < 0) return "eventfd: " + errno_text(errno);
        wake_op_.code = op_code::read;
        wake_op_.internal = true;
        wake_op_.fd = wake_fd_;
        wake_op_.buffer = &wake_value_;
        wake_op_.length = sizeof wake_value_;
        return {};
    }

    backend_kind kind() const noexcept override { return backend_kind::io_uring; }
    std::string features() const override { return features_; }
    std::size_t in_flight() const noexcept override { return in_flight_; }
    bool links_timeouts() const noexcept override { return links_timeouts_; }

    bool submit(operation& op) override {
        op.state = op_state::in_flight;
        link(op);
        prepare(op, false);
        return false;
    }

    void cancel(operation& op) override {
        if (op.state != op_state::in_flight) return;
        op.cancel_requested = true;
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
        io_uring_sqe_set_data64(sqe, 0);
    }

    void close(int fd) noexcept override {
        auto i = static_cast<std::size_t>(fd);
        if (fd >= 0 && i < per_fd_.size() && per_fd_[i] > 0) {
            for (operation* op = head_; op != nullptr; op = op->next)
                if (op->fd == fd) cancel(*op);
            while (per_fd_[i] > 0)
                wait_some();
        }
        ::close(fd);
    }

    void drain() noexcept override {
        draining_ = true;
        for (operation* op = head_; op != nullptr; op = op->next)
            cancel(*op);
        if (wake_armed_) cancel(wake_op_);
        while (head_ != nullptr || wake_armed_)
            wait_some();
        draining_ = false;
    }

    void wakeup() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
    }

    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override {
        if (!wake_armed_) {
            wake_armed_ = true;
            wake_op_.state = op_state::in_flight;
            wake_op_.cancel_requested = false;
            prepare(wake_op_, false);
        }
        int r;
        if (timeout && timeout->count() == 0) {
            r = io_uring_submit_and_get_events(&ring_);
        } else {
            __kernel_timespec ts{};
            if (timeout) {
                ts.tv_sec = timeout->count() / 1'000'000'000;
                ts.tv_nsec = timeout->count() % 1'000'000'000;
            }
            io_uring_cqe* cqe = nullptr;
            r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout ? &ts : nullptr, nullptr);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            throw std::system_error(-r, std::generic_category(), "io_uring_enter");
        return reap();
    }

private:
    void add_feature(const char* f) {
        if (!features_.empty()) features_ += ' ';
        features_ += f;
    }

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        while (sqe == nullptr) { // SQ full: flush it and retry
            flush_sq();
            sqe = io_uring_get_sqe(&ring_);
        }
        return sqe;
    }

    void flush_sq() {
        int r = io_uring_submit(&ring_);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            throw std::system_error(-r, std::generic_category(), "io_uring_submit");
        if (r == -EBUSY || r == -EAGAIN) reap(); // CQ backpressure: make room
    }

    // Queues the SQE for `op`; with `after_poll`, behind a linked poll for
    // readiness (a kernel that returned EAGAIN for a non-blocking socket).
    void prepare(operation& op, bool after_poll) {
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
        case op_code::recv:
            io_uring_prep_recv(sqe, op.fd, op.buffer, op.length, 0);
            break;
        case op_code::send:
            io_uring_prep_send(sqe, op.fd, op.buffer, op.length, MSG_NOSIGNAL);
            break;
        case op_code::send_all:
            io_uring_prep_send(sqe, op.fd, static_cast<const char*>(op.buffer) + op.done,
                               op.length - op.done, MSG_NOSIGNAL);
            break;
        case op_code::read:
            io_uring_prep_read(sqe, op.fd, op.buffer, static_cast<unsigned>(op.length), 0);
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
            io_uring_prep_link_timeout(t,
                                       const_cast<__kernel_timespec*>(
                                           reinterpret_cast<const __kernel_timespec*>(op.deadline)),
                                       IORING_TIMEOUT_ABS);
            io_uring_sqe_set_data64(t, 0);
        }
    }

    void link(operation& op) {
        op.prev = nullptr;
        op.next = head_;
        if (head_ != nullptr) head_->prev = &op;
        head_ = &op;
        auto i = static_cast<std::size_t>(op.fd);
        if (i >= per_fd_.size()) per_fd_.resize(std::max(i + 1, per_fd_.size() * 2));
        ++per_fd_[i];
        ++in_flight_;
    }

    void unlink(operation& op) noexcept {
        (op.prev ? op.prev->next : head_) = op.next;
        if (op.next != nullptr) op.next->prev = op.prev;
        op.prev = op.next = nullptr;
        --per_fd_[static_cast<std::size_t>(op.fd)];
        --in_flight_;
    }

    // Flushes and waits for at least one CQE, then reaps (close and drain).
    void wait_some() noexcept {
        io_uring_cqe* cqe = nullptr;
        int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
        (void)r; // EINTR and friends: just reap what there is and wait again
        reap();
    }

    std::size_t reap() noexcept {
        std::size_t before = ready_.size();
        unsigned head;
        unsigned seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            std::uint64_t ud = cqe->user_data;
            if (ud == 0 || ud == LIBURING_UDATA_TIMEOUT) continue;
            complete(*reinterpret_cast<operation*>(static_cast<std::uintptr_t>(ud)), cqe->res);
        }
        io_uring_cq_advance(&ring_, seen);
        return ready_.size() - before;
    }

    void complete(operation& op, int res) noexcept {
        if (&op == &wake_op_) {
            wake_armed_ = false;
            wake_op_.state = op_state::done;
            return;
        }
        const bool may_retry = !draining_ && !op.cancel_requested;
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
        unlink(op);
        op.result = res;
        op.state = op_state::done;
        ready_.push(op.waiter);
    }

    ready_queue& ready_;
    io_uring ring_{};
    bool ring_ok_ = false;
    bool draining_ = false;
    bool wake_armed_ = false;
    bool links_timeouts_ = false;
    std::string features_;
    operation* head_ = nullptr; // in-flight list (user operations only)
    std::vector<std::uint32_t> per_fd_;
    std::size_t in_flight_ = 0;
    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;
    operation wake_op_;
};

} // namespace

std::unique_ptr<backend> make_io_uring_backend(ready_queue& ready, std::string& why_not,
                                               bool& resource_error) {
    auto b = std::make_unique<io_uring_backend>(ready);
    why_not = b->init(resource_error);
    if (!why_not.empty()) return nullptr;
    return b;
}

} // namespace coronet::detail
