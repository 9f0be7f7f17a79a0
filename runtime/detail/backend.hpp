#pragma once
// The backend contract: the only code that makes I/O syscalls. Two
// implementations: io_uring_backend (completion based) and epoll_backend
// (readiness based). The loop owns timers and the ready queue; a backend only
// starts, cancels and completes operations.
//
// Completion: a backend stores the result in operation::result, marks it done
// and pushes operation::waiter on the ready queue. It never resumes anything.

#include "runtime/backend_kind.hpp"
#include "runtime/detail/operation.hpp"
#include "runtime/detail/ready_queue.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace coronet::detail {

class backend {
public:
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
    /// Whether submit() honours operation::deadline (io_uring linked timeouts).
    virtual bool links_timeouts() const noexcept { return false; }
};

/// Sets up io_uring. Returns nullptr with `why_not` set when it is unavailable;
/// `resource_error` is set when the failure was a resource limit, not absence.
std::unique_ptr<backend> make_io_uring_backend(ready_queue& ready, std::string& why_not,
                                               bool& resource_error);
std::unique_ptr<backend> make_epoll_backend(ready_queue& ready);

/// Applies the selection rules of backend_kind.hpp to `requested`.
std::unique_ptr<backend> make_backend(backend_kind requested, ready_queue& ready);

} // namespace coronet::detail
