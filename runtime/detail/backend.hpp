#pragma once
// The backend contract: the only code that makes I/O syscalls. Two
// implementations: io_uring_backend (completion based) and epoll_backend
// (readiness based). The loop owns timers and the ready queue; a backend only
// starts, cancels and completes operations.
//
// Completion: a backend stores the result in operation::result, marks it done
// and pushes operation::waiter on the ready queue. It never resumes anything.

#include "coronet/runtime/backend_kind.hpp"
#include "coronet/runtime/detail/buffer_pool.hpp"
#include "coronet/runtime/detail/operation.hpp"
#include "coronet/runtime/detail/ready_queue.hpp"

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
    explicit backend(const backend_config& config) : config_(config) {}
    virtual ~backend() = default;
    virtual backend_kind kind() const noexcept = 0;
    /// Active optional features, e.g. "defer_taskrun registered_ring"; may be empty.
    virtual std::string features() const = 0;

    /// Starts `op`. Returns true if it completed at once (result set, nothing
    /// queued, the caller may continue without suspending); false if its
    /// completion will come through poll().
    virtual bool submit(operation& op) = 0;
    /// Asks the kernel to stop an in-flight `op`. Its completion still follows,
    /// with -ECANCELED or with the result it reached anyway.
    virtual void cancel(operation& op) = 0;
    /// Closes `fd`: first cancels its in-flight operations and waits for their
    /// completions (queued for their waiters), so that no stale completion can
    /// reach a later fd with the same number.
    virtual void close(int fd) noexcept = 0;
    /// Flushes submissions, waits up to `timeout` (nullopt: no limit, zero:
    /// do not wait) and completes what finished. Returns completions queued.
    virtual std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) = 0;
    /// Interrupts a poll() in progress. The only thread-safe method.
    virtual void wakeup() noexcept = 0;
    /// Cancels every in-flight operation and waits until none is left
    /// (loop teardown). Results delivered late (accepted fds) are closed.
    virtual void drain() noexcept = 0;
    virtual std::size_t in_flight() const noexcept = 0;
    /// Whether submit() will honour operation::deadline for `op` (an io_uring
    /// linked timeout); if not, the loop times it out with a timer.
    virtual bool links_timeout(const operation&) const noexcept { return false; }
    /// Gives pool buffer `id` (from a recv_pooled result) back. Loop thread only.
    virtual void release_buffer(std::uint16_t id) noexcept = 0;

    const backend_stats& stats() const noexcept { return stats_; }
    /// The receive pool, or nullptr before the first pooled receive.
    const buffer_pool* pool_if_any() const noexcept { return pool_.get(); }

protected:
    /// The receive pool, reserved on first use.
    buffer_pool& pool() {
        if (!pool_)
            pool_ = std::make_unique<buffer_pool>(config_.pool_buffer_size, config_.pool_buffers);
        return *pool_;
    }

    backend_config config_;
    backend_stats stats_;
    std::unique_ptr<buffer_pool> pool_;
};

/// Sets up io_uring. Returns nullptr with `why_not` set when it is unavailable;
/// `resource_error` is set when the failure was a resource limit, not absence.
std::unique_ptr<backend> make_io_uring_backend(ready_queue& ready, const backend_config& config,
                                               std::string& why_not, bool& resource_error);
std::unique_ptr<backend> make_epoll_backend(ready_queue& ready, const backend_config& config);

/// Applies the selection rules of backend_kind.hpp to `requested`.
std::unique_ptr<backend> make_backend(backend_kind requested, ready_queue& ready,
                                      const backend_config& config);

} // namespace coronet::detail
