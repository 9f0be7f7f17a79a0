#pragma once
// The io_uring backend's class (internal): completion based, through liburing
// 2.3. Its code is split by concept (DESIGN.md has the file map):
//   io_uring_setup.cpp        ring setup, opcode probe, feature list
//   io_uring_submit.cpp       submission: dispatch per kind, SQE preparation, the wait
//   io_uring_complete.cpp     the reaping loop, per-kind completion dispatch, cancel,
//                             close, forget and drain
//   io_uring_send.cpp         send, send_all and zero-copy sends
//   io_uring_multishot.cpp    a socket's multishot request (receive or accept) and its queue
//   io_uring_buffer_ring.cpp  the provided buffer ring behind pooled receives
//   io_uring_pooled.cpp       pooled receives without a ring (poll, then a pool buffer)
//
// user_data: an operation's address for one-shot requests; a tag in the top
// byte (below) for a socket's multishot request (tag << 56 | fd) and for the
// wake-up read; 0 for requests whose CQEs are ignored (cancels, linked polls
// and timeouts).
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/fd_table.hpp"

#include <cstdint>
#include <liburing.h>
#include <string>
#include <vector>

namespace coronet::detail {

class io_uring_backend final : public backend {
public:
    io_uring_backend(ready_queue& ready, const backend_config& config, wake_fd& wake);
    ~io_uring_backend() override;

    /// Empty on success, else why io_uring is unavailable.
    std::string init(bool& resource_error);

    backend_kind kind() const noexcept override { return backend_kind::io_uring; }
    std::string features() const override { return features_; }
    bool links_timeout(const operation& op) const noexcept override;
    bool submit(operation& op) override;
    void cancel(operation& op) noexcept override;
    void close(int fd) noexcept override;
    bool forget(int fd) noexcept override;
    void drain() noexcept override;
    void flush() noexcept override;
    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override;
    void release_buffer(std::uint16_t id) noexcept override;
    int msg_ring_fd() const noexcept override { return msg_ring_ ? ring_.ring_fd : -1; }
    bool send_msg_ring(int ring_fd, wake_fd& fallback) noexcept override;

private:
    // Tagged user_data (user pointers stay below 2^56).
    // mail: a MSG_RING wakeup another loop posted into this ring (its CQE
    // only ends the wait); mail_sent: this ring's own MSG_RING request, whose
    // user_data carries the wake_fd to signal if the kernel refuses it.
    enum class tag : std::uint8_t {
        none = 0,
        recv = 1,
        accept = 2,
        wake = 3,
        mail = 4,
        mail_sent = 5
    };
    static std::uint64_t tagged(tag t, int fd) noexcept {
        return std::uint64_t(t) << 56 | std::uint32_t(fd);
    }
    static constexpr std::uint32_t ring_growth = 64;  // buffers added to the ring at a time
    static constexpr std::uint32_t queue_limit = 16;  // queued on one socket before it stops
    static constexpr unsigned short buffer_group = 0; // the one buffer group used
    // An SQE's length field is 32 bits: longer requests go in 1 GiB pieces
    // (a receive returns less, send_all goes on from where it got).
    static unsigned clamp_length(std::size_t n) noexcept {
        return static_cast<unsigned>(n < (std::size_t(1) << 30) ? n : std::size_t(1) << 30);
    }

    // Per fd: its one-shot requests in the kernel (joined by close and
    // drain), and the socket's multishot request with what it delivered that
    // nobody has taken yet.
    struct fd_slot {
        operation_list kernel_ops;                     // one-shot requests in the kernel
        operation_list waiters;                        // receives (or accepts) the multishot serves
        std::int32_t queue_head = -1, queue_tail = -1; // received buffers (ids), in order
        std::uint32_t queued = 0;                      // buffers (receive) or fds (accept) queued
        std::vector<int> accepted; // multishot accept: fds, [accepted_head, end) not taken
        std::uint32_t accepted_head = 0;
        int final_result = 0;       // the multishot's last result, if has_final: EOF or -errno
        bool has_final = false;     // ... delivered once, after everything queued
        bool armed = false;         // a multishot request is in the kernel
        bool stopping = false;      // a cancel for it has been sent
        bool closing = false;       // close()/forget() is settling it: start nothing new
        bool starved = false;       // stopped by -ENOBUFS while receives wait
        bool accept_mode = false;   // the multishot is an accept
        std::int8_t zero_copy = -1; // sends may go zero-copy: -1 not known yet, 0 no, 1 yes
        bool in_kernel() const noexcept { return kernel_ops.head != nullptr || armed; }
        /// Something delivered and not taken yet (buffers, fds, EOF or an error).
        bool has_queued() const noexcept {
            return queue_head >= 0 || accepted_head < accepted.size() || has_final;
        }
    };
    struct buffer_meta {
        std::uint32_t length = 0;
        std::uint32_t offset = 0; // bytes already copied out by plain receives
        std::int32_t next = -1;   // next buffer queued on the same socket
    };

    // io_uring_setup.cpp
    void add_feature(const char* f);
    void drop_feature(const char* f);
    // The straight path of one message, inline here so that a CQE reaches its
    // waiter and a send reaches its SQE without a chain of calls; everything
    // else goes to the concept files below.
    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        return sqe != nullptr ? sqe : get_sqe_slow();
    }
    void prepare_send(io_uring_sqe* sqe, operation& op) {
        const std::size_t from = op.kind == op_kind::send_all ? op.sent : 0;
        const char* data = static_cast<const char*>(op.buffer) + from;
        const unsigned len = clamp_length(op.length - from); // send_all goes on after
        op.zero_copy = len >= zero_copy_min_ && zero_copy_peer(op.fd);
        if (op.zero_copy) {
            ++stats_.zero_copy_sends;
            io_uring_prep_send_zc(sqe, op.fd, data, len, MSG_NOSIGNAL, 0);
        } else {
            io_uring_prep_send(sqe, op.fd, data, len, MSG_NOSIGNAL);
        }
    }
    // Puts pool buffer `id` back in the kernel's buffer ring.
    void provide(std::uint16_t id) noexcept {
        io_uring_buf_ring_add(buf_ring_, pool_data(id),
                              static_cast<unsigned>(config_.pool_buffer_size), id, buf_ring_mask_,
                              0);
        io_uring_buf_ring_advance(buf_ring_, 1);
    }
    // A send's CQE: the common case (a plain send that took everything it
    // was given) here, the rest in io_uring_send.cpp.
    void complete_send(operation& op, int res, unsigned flags) noexcept {
        if (flags == 0 && res > 0 && !op.zero_copy) [[likely]] {
            std::size_t done = op.kind == op_kind::send_all ? op.sent + std::size_t(res) : 0;
            if (op.kind == op_kind::send || done == op.length) {
                op.sent = done;
                unlink(op);
                finish(op, op.kind == op_kind::send ? res : 0);
                return;
            }
        }
        complete_send_slow(op, res, flags);
    }
    // A multishot receive's CQE with data, for a socket whose multishot goes
    // on: straight to the pooled receive that waits, or queued while nobody
    // waits; everything else takes the general path.
    void on_multishot(tag t, int fd, int res, unsigned flags) noexcept {
        constexpr unsigned data_more = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE;
        if (t == tag::recv && (flags & data_more) == data_more && res > 0 && !draining_) {
            fd_slot& s = slots_.at(fd);
            operation* w = s.waiters.head;
            auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
            if (w == nullptr && s.queued + 1 < queue_limit) [[likely]] {
                pool_->note_taken();
                queue_buffer(s, id, res);
                return;
            }
            if (w != nullptr && w->kind == op_kind::recv_pooled && s.queue_head < 0) [[likely]] {
                pool_->note_taken();
                s.waiters.remove(*w);
                w->buffer = pool_data(id);
                w->buffer_id = id;
                finish(*w, res);
                return;
            }
        }
        on_multishot_slow(t, fd, res, flags);
    }
    // Appends a received buffer to the socket's queue.
    void queue_buffer(fd_slot& s, std::uint16_t id, int len) noexcept {
        meta_[id] = {static_cast<std::uint32_t>(len), 0, -1};
        (s.queue_tail >= 0 ? meta_[std::size_t(s.queue_tail)].next : s.queue_head) = id;
        s.queue_tail = id;
        ++s.queued;
    }
    // A pooled receive on a socket that has a whole buffer queued and no
    // other waiter: it takes the buffer and completes at once.
    bool take_queued_buffer(operation& op, fd_slot& s) noexcept {
        auto id = static_cast<std::uint16_t>(s.queue_head);
        buffer_meta& m = meta_[id];
        op.buffer = pool_data(id) + m.offset;
        op.buffer_id = id;
        int res = static_cast<int>(m.length - m.offset);
        s.queue_head = m.next;
        if (s.queue_head < 0) s.queue_tail = -1;
        --s.queued;
        return finish_inline(op, res);
    }

    // io_uring_submit.cpp
    io_uring_sqe* get_sqe_slow();
    void flush_sq();
    void wait_some() noexcept;
    void arm_wakeup();
    void start(operation& op); // into the kernel: linked to its fd, SQE queued
    void prepare(operation& op, bool after_poll);
    void unlink(operation& op) noexcept { slots_.at(op.fd).kernel_ops.remove(op); }
    // io_uring_complete.cpp
    std::size_t reap() noexcept;
    void complete(operation& op, int res, unsigned flags) noexcept;
    void complete_default(operation& op, int res) noexcept;
    bool retry_after_eagain(operation& op, int res) noexcept;
    void request_cancel(operation& op) noexcept;
    bool cancel_socket(int fd) noexcept;
    void settle(int fd) noexcept;
    /// Whether a request that ended short may be sent again (send_all's
    /// rest, a retry after EAGAIN): not once cancelled, draining or closing.
    bool may_continue(const operation& op) const noexcept {
        return op.state != op_state::cancelling && !draining_ && !slots_.at(op.fd).closing;
    }
    void resubmit(operation& op, bool after_poll) {
        if (op.state != op_state::in_kernel) set_state(op, op_state::in_kernel);
        prepare(op, after_poll);
    }
    // io_uring_send.cpp
    void complete_send_slow(operation& op, int res, unsigned flags) noexcept;
    void cancel_zero_copy(operation& op) noexcept;
    bool zero_copy_peer(int fd);
    static void abort_connection(int fd) noexcept;
    // io_uring_multishot.cpp
    bool waits_on_socket(const operation& op, const fd_slot& s) const noexcept;
    bool socket_busy(const fd_slot& s) const noexcept;
    bool submit_on_socket(operation& op, fd_slot& s);
    void arm(int fd, fd_slot& s);
    void stop(int fd, fd_slot& s) noexcept;
    void on_multishot_slow(tag t, int fd, int res, unsigned flags) noexcept;
    void on_multishot_recv(int fd, fd_slot& s, int res, unsigned flags) noexcept;
    void on_multishot_accept(fd_slot& s, int res, bool more) noexcept;
    bool serve_one(fd_slot& s, operation& op, int& res) noexcept;
    void serve(fd_slot& s) noexcept;
    void release_socket(int fd, fd_slot& s) noexcept;
    // io_uring_buffer_ring.cpp
    void probe_buffer_ring();
    void setup_buffer_ring();
    void on_no_buffers(int fd, fd_slot& s) noexcept;
    void rearm_starved() noexcept;
    // io_uring_pooled.cpp
    bool submit_pooled(operation& op, fd_slot& s);
    void receive_pooled_plain(operation& op);
    void complete_pooled(operation& op, int res) noexcept;
    void give_to_pool_waiter() noexcept;

    io_uring ring_{};
    bool ring_ok_ = false;
    bool draining_ = false;
    bool wake_armed_ = false;
    bool reaping_ = false;       // reap() is running: flush_sq must not reap
    bool rearm_pending_ = false; // buffers came back while sockets starved
    bool links_timeouts_ = false;
    bool multishot_recv_ = false;
    bool multishot_accept_ = false;
    bool send_zc_ = false;
    bool msg_ring_ = false;
    std::string features_;
    fd_table<fd_slot> slots_;
    std::uint64_t wake_value_ = 0;

    std::size_t zero_copy_min_ = SIZE_MAX; // SEND_ZC from this size up (SIZE_MAX: never)

    // The provided buffer ring (fast paths on and the kernel has it).
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::uint32_t buf_ring_entries_ = 0;
    int buf_ring_mask_ = 0;
    std::uint32_t provided_ = 0; // buffers ever put in the ring (ids 0..provided_-1)
    std::vector<buffer_meta> meta_;
    std::vector<int> starved_; // fds whose receives wait for buffers
};

} // namespace coronet::detail
