#pragma once
// The io_uring backend's class (internal): completion based, through liburing
// 2.3. io_uring_setup.cpp holds setup and probing; io_uring_backend.cpp
// one-shot operations and the completion loop; io_uring_multishot.cpp the fast paths that keep a
// request in the kernel per socket: multishot receive into a provided buffer ring and multishot
// accept.
//
// user_data: an operation's address for one-shot requests; 0 for internal
// requests whose CQEs are ignored (cancels, linked polls and timeouts); a
// tagged fd (tag in the top byte) for a socket's multishot request.
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/operation_list.hpp"

#include <cstdint>
#include <liburing.h>
#include <string>
#include <vector>

namespace coronet::detail {

class io_uring_backend final : public backend {
public:
    io_uring_backend(ready_queue& ready, const backend_config& config);
    ~io_uring_backend() override;

    /// Empty on success, else why io_uring is unavailable.
    std::string init(bool& resource_error);

    backend_kind kind() const noexcept override { return backend_kind::io_uring; }
    std::string features() const override { return features_; }
    std::size_t in_flight() const noexcept override { return in_flight_; }
    bool links_timeout(const operation& op) const noexcept override;
    bool submit(operation& op) override;
    void cancel(operation& op) override;
    void close(int fd) noexcept override;
    void drain() noexcept override;
    void wakeup() noexcept override;
    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override;
    void release_buffer(std::uint16_t id) noexcept override;

private:
    // Multishot requests' user_data: tag << 56 | fd (user pointers stay below 2^56).
    enum class tag : std::uint8_t { none = 0, recv = 1, accept = 2 };
    static std::uint64_t tagged(tag t, int fd) noexcept {
        return std::uint64_t(t) << 56 | std::uint32_t(fd);
    }

    // Where a waiting operation is parked (kept in operation::done for the
    // operations that have no progress to count there).
    static constexpr std::size_t parked_on_socket = 1; // a multishot's waiter list
    static constexpr std::size_t parked_on_pool = 2;   // waits for a pool buffer
    static constexpr std::size_t polling = 3;          // plain pooled receive: waits to be readable
    // A send's zero-copy state (kept in operation::addr_len, unused by sends).
    static constexpr socklen_t zero_copy_sent = 1;          // went out as SEND_ZC
    static constexpr socklen_t zero_copy_notif_pending = 2; // result in; buffer not yet free
    static constexpr socklen_t zero_copy_aborted = 3;       // cancelled: connection reset
    static bool is_send(const operation& op) noexcept {
        return op.code == op_code::send || op.code == op_code::send_all;
    }
    // An SQE's length field is 32 bits: longer requests go in 1 GiB pieces
    // (a receive returns less, send_all goes on from where it got).
    static unsigned clamp_length(std::size_t n) noexcept {
        return static_cast<unsigned>(n < (std::size_t(1) << 30) ? n : std::size_t(1) << 30);
    }

    // Per-fd state: kernel requests to join on close, and the socket's
    // multishot request with what it delivered that nobody has taken yet.
    struct fd_slot {
        operation_list kernel_ops;   // its one-shot requests in the kernel
        std::uint32_t in_kernel = 0; // those plus an armed multishot
        operation_list waiters;      // receives (or accepts) served by the multishot
        std::int32_t queue_head = -1, queue_tail = -1; // received buffers (ids), in order
        std::uint32_t queued = 0;                      // buffers (receive) or fds (accept) queued
        std::vector<int> accepted; // multishot accept: fds, [accepted_head, end) not taken
        std::uint32_t accepted_head = 0;
        int final_result = 1;       // the multishot's last result (EOF/error); 1 = none
        bool armed = false;         // a multishot request is in the kernel
        bool stopping = false;      // a cancel for it has been sent
        bool closing = false;       // close() is joining it: never re-arm
        bool starved = false;       // stopped by -ENOBUFS while receives wait
        bool accept_mode = false;   // the multishot is an accept
        std::int8_t zero_copy = -1; // sends may go zero-copy: -1 not known yet, 0 no, 1 yes
    };
    struct buffer_meta {
        std::uint32_t length = 0;
        std::uint32_t offset = 0; // bytes already copied out by plain receives
        std::int32_t next = -1;   // next buffer queued on the same socket
    };

    // io_uring_setup.cpp
    void add_feature(const char* f);
    void drop_feature(const char* f);
    bool zero_copy_peer(int fd);
    static void abort_connection(int fd) noexcept;
    // io_uring_backend.cpp
    io_uring_sqe* get_sqe();
    void flush_sq();
    void prepare(operation& op, bool after_poll);
    void prepare_send(io_uring_sqe* sqe, operation& op);
    fd_slot& slot(int fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= slots_.size()) [[unlikely]]
            grow_slots(i);
        return slots_[i];
    }
    void grow_slots(std::size_t i);
    void link(operation& op);
    bool cancel_socket(int fd) noexcept;
    void unlink(operation& op) noexcept;
    void wait_some() noexcept;
    std::size_t reap() noexcept;
    void complete(operation& op, int res, unsigned flags) noexcept;
    void finish(operation& op, int res) noexcept;
    void enqueue_ready(operation& op, int res) noexcept;

    // io_uring_multishot.cpp
    void probe_buffer_ring();
    void setup_buffer_ring();
    bool waits_on_socket(const operation& op, const fd_slot& s) const noexcept;
    bool submit_on_socket(operation& op);
    void rearm_starved() noexcept;
    bool submit_pooled_plain(operation& op);
    void receive_pooled_plain(operation& op);
    void arm(int fd, fd_slot& s);
    void stop(int fd, fd_slot& s) noexcept;
    void on_multishot(tag t, int fd, int res, unsigned flags) noexcept;
    bool serve_one(fd_slot& s, operation& op, int& res) noexcept;
    void serve(int fd, fd_slot& s) noexcept;
    void provide(std::uint16_t id) noexcept;
    void release_socket(int fd, fd_slot& s) noexcept;
    bool socket_busy(const fd_slot& s) const noexcept;

    ready_queue& ready_;
    io_uring ring_{};
    bool ring_ok_ = false;
    bool draining_ = false;
    bool wake_armed_ = false;
    bool links_timeouts_ = false;
    bool multishot_recv_ = false;
    bool multishot_accept_ = false;
    bool send_zc_ = false;
    std::string features_;
    bool reaping_ = false;       // reap() is running: flush_sq must not reap
    bool rearm_pending_ = false; // buffers came back while sockets starved
    // By fd. Grows only in submit(), which coroutines call, never while the
    // backend holds a reference to a slot (every later link() of an
    // operation finds its slot made).
    std::vector<fd_slot> slots_;
    std::size_t in_flight_ = 0;
    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;
    operation wake_op_;

    // The provided buffer ring (fast paths on and the kernel has it).
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::uint32_t buf_ring_entries_ = 0;
    std::uint32_t provided_ = 0; // buffers ever put in the ring (ids 0..provided_-1)
    std::vector<buffer_meta> meta_;
    std::vector<int> starved_;    // fds whose receives wait for buffers
    operation_list pool_waiters_; // plain mode: pooled receives waiting for a buffer
};

} // namespace coronet::detail
