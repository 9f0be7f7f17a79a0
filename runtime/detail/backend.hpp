#pragma once
// The backend contract: the only code that makes I/O syscalls. Two
// implementations: io_uring_backend (completion based) and epoll_backend
// (readiness based). The loop owns timers and the ready queue; a backend only
// starts, cancels and completes operations (DESIGN.md, "Backend contract";
// test/runtime/detail/backend_conformance_test.cpp checks every backend
// against it).
//
// Completion: a backend stores the result in operation::result, moves the
// operation to op_state::done and pushes operation::waiter on the ready
// queue (finish()). It never resumes anything.

#include "coronet/runtime/backend_kind.hpp"
#include "coronet/runtime/detail/buffer_pool.hpp"
#include "coronet/runtime/detail/operation.hpp"
#include "coronet/runtime/detail/operation_list.hpp"
#include "coronet/runtime/detail/ready_queue.hpp"
#include "coronet/runtime/detail/wake_fd.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace coronet::detail {

/// What a loop asks of its backend (event_loop.hpp's loop_options).
struct backend_config {
    bool fast_paths = true; // io_uring: every optional kernel feature that is there
    std::size_t pool_buffer_size = 16384;
    std::uint16_t pool_buffers = 1024;
    std::size_t zero_copy_min = 64 * 1024; // io_uring SEND_ZC from this size up
    bool zero_copy_local = false;          // ... also to peers on this host
};

/// Counters every backend keeps (event_loop::stats()).
struct backend_stats {
    std::uint64_t submitted = 0;       // operations started
    std::uint64_t completed = 0;       // operations finished (inline or not)
    std::uint64_t kernel_waits = 0;    // io_uring_enter or epoll_wait calls that submit or wait
    std::uint64_t zero_copy_sends = 0; // io_uring SEND_ZC requests
};

class backend {
public:
    /// Completions go to `ready`; `wake` is the loop's eventfd (loop_shared
    /// owns it, so that it outlives the backend for late senders).
    backend(ready_queue& ready, const backend_config& config, wake_fd& wake)
        : ready_(ready), config_(config), wake_(wake) {}
    virtual ~backend() = default;
    backend(const backend&) = delete;
    backend& operator=(const backend&) = delete;

    virtual backend_kind kind() const noexcept = 0;
    /// Active optional features, e.g. "defer_taskrun registered_ring"; may be empty.
    virtual std::string features() const = 0;

    /// Starts `op` (state idle). Returns true if it completed at once (state
    /// done, result set, nothing queued: the caller continues without
    /// suspending); false if its completion will come through poll().
    virtual bool submit(operation& op) = 0;
    /// Stops a pending `op`. One waiting outside the kernel completes now
    /// with -ECANCELED; one in the kernel is asked to stop and its completion
    /// still follows, with -ECANCELED or the result it reached anyway. A
    /// finished or cancelling operation is left alone.
    virtual void cancel(operation& op) noexcept = 0;
    /// Settles `fd` and closes it: cancels and joins its operations (they
    /// complete, queued for their waiters), drops what is queued on it
    /// (buffers go back, queued connections are closed), so that no stale
    /// completion can reach a later fd with the same number.
    virtual void close(int fd) noexcept = 0;
    /// Settles `fd` like close() but leaves it open and unknown to this
    /// backend (epoll: out of its set), so another loop can adopt it.
    /// Returns false, and keeps what it queued, if the backend holds bytes
    /// (or connections) it received for `fd` that nobody has taken yet
    /// (io_uring's multishot read-ahead, now stopped): they would be lost.
    virtual bool forget(int fd) noexcept = 0;
    /// Flushes submissions, waits up to `timeout` (nullopt: no limit, zero:
    /// do not wait) or until wakeup(), and completes what finished. Returns
    /// the completions queued.
    virtual std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) = 0;
    /// Interrupts a poll() in progress, or makes the next one return at once.
    /// The only thread-safe method.
    void wakeup() noexcept { wake_.signal(); }
    /// The fd another io_uring ring may post IORING_OP_MSG_RING wakeups to,
    /// or -1 (epoll; io_uring without MSG_RING or with fast paths off).
    virtual int msg_ring_fd() const noexcept { return -1; }
    /// Wakes another loop whose msg_ring_fd() is `ring_fd` by a MSG_RING from
    /// this backend's ring, flushed with its next submission; if the kernel
    /// refuses it, `fallback` is signalled instead. False (nothing sent) if
    /// this backend cannot. Loop thread only.
    virtual bool send_msg_ring(int ring_fd, wake_fd& fallback) noexcept {
        (void)ring_fd;
        (void)fallback;
        return false;
    }
    /// Cancels every pending operation and waits until none is left (loop
    /// teardown). Results delivered late (accepted fds) are closed.
    virtual void drain() noexcept = 0;
    /// Hands queued submissions to the kernel now (io_uring: the SQ), for a
    /// loop that may not wait in poll() again: its MSG_RING wakeups to other
    /// loops must not stay behind. epoll has nothing queued.
    virtual void flush() noexcept {}
    /// Whether submit() will honour operation::deadline for `op` (an io_uring
    /// linked timeout); if not, the loop times it out with a timer.
    virtual bool links_timeout(const operation&) const noexcept { return false; }
    /// Gives pool buffer `id` (from a recv_pooled result) back. Loop thread only.
    virtual void release_buffer(std::uint16_t id) noexcept = 0;

    /// Operations started and not finished.
    std::size_t in_flight() const noexcept { return in_flight_; }
    const backend_stats& stats() const noexcept { return stats_; }
    /// The receive pool, or nullptr before the first pooled receive.
    const buffer_pool* pool_if_any() const noexcept { return pool_.get(); }

protected:
    /// The receive pool, reserved on first use.
    buffer_pool& pool() {
        if (!pool_) [[unlikely]]
            make_pool();
        return *pool_;
    }
    /// Pool buffer `id`'s memory (only once the pool is made).
    std::byte* pool_data(std::uint16_t id) const noexcept { return pool_base_ + id * pool_size_; }

    // Completion bookkeeping, the same for every backend.
    /// `op` now waits in state `s`: it counts as in flight until finish().
    void pend(operation& op, op_state s) noexcept {
        set_state(op, s);
        ++in_flight_;
    }
    /// A pending operation is over: its result goes to its waiter.
    void finish(operation& op, int res) noexcept {
        op.result = res;
        set_state(op, op_state::done);
        ++stats_.completed;
        --in_flight_;
        ready_.push(op.waiter);
    }
    /// `op` completed within submit(): the caller continues at once.
    bool finish_inline(operation& op, int res) noexcept {
        op.result = res;
        set_state(op, op_state::done);
        ++stats_.completed;
        return true;
    }

    // Pooled receives waiting for a pool buffer, in order (both backends).
    void wait_for_buffer(operation& op) noexcept {
        set_state(op, op_state::pool_wait);
        pool_waiters_.push(op);
    }
    /// Completes the pool waiters of `fd` (every one if fd < 0) with -ECANCELED.
    void cancel_pool_waiters(int fd) noexcept;

    ready_queue& ready_;
    backend_config config_;
    backend_stats stats_;
    wake_fd& wake_;
    operation_list pool_waiters_;
    std::size_t in_flight_ = 0;

    std::unique_ptr<buffer_pool> pool_;

private:
    void make_pool();
    std::byte* pool_base_ = nullptr; // cached from pool_ for the straight path
    std::size_t pool_size_ = 0;
};

/// `d` split into seconds and nanoseconds (timespec or __kernel_timespec).
template <class Timespec>
Timespec to_timespec(std::chrono::nanoseconds d) noexcept {
    Timespec ts{};
    ts.tv_sec = d.count() / 1'000'000'000;
    ts.tv_nsec = d.count() % 1'000'000'000;
    return ts;
}

/// Sets up io_uring. Returns nullptr with `why_not` set when it is unavailable;
/// `resource_error` is set when the failure was a resource limit, not absence.
std::unique_ptr<backend> make_io_uring_backend(ready_queue& ready, const backend_config& config,
                                               wake_fd& wake, std::string& why_not,
                                               bool& resource_error);
std::unique_ptr<backend> make_epoll_backend(ready_queue& ready, const backend_config& config,
                                            wake_fd& wake);

/// Applies the selection rules of backend_kind.hpp to `requested`.
std::unique_ptr<backend> make_backend(backend_kind requested, ready_queue& ready,
                                      const backend_config& config, wake_fd& wake);

} // namespace coronet::detail
