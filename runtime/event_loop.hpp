#pragma once
/// \class coronet::event_loop
/// coronet::event_loop: one per thread; runs coroutines, timers and I/O.
///
///     int main() { return coronet::run(main_task()); }
///
/// The loop resumes coroutines in exactly one place (its ready queue). A turn:
/// run every coroutine that is ready, fire expired timers, then let the backend
/// flush submissions and wait for completions until the next deadline.
///
/// Threading: a loop and everything it owns (sockets, tasks, timers) belong to
/// the thread that runs it. event_loop::current() is set only while a loop is
/// running on this thread. post() is the one thread-safe entry.

#include "coronet/runtime/backend_kind.hpp"
#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/loop_shared.hpp"
#include "coronet/runtime/detail/ready_queue.hpp"
#include "coronet/runtime/detail/timer_heap.hpp"
#include "coronet/runtime/loop_handle.hpp"
#include "coronet/runtime/task.hpp"

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace coronet {

class thread_pool;

/// How a loop is set up: passed to run() or event_loop's constructor.
struct loop_options {
    /// Unset: CORONET_BACKEND if set, else the build default (see backend_kind.hpp).
    std::optional<backend_kind> backend;
    /// io_uring fast paths (multishot accept and receive, provided buffers,
    /// zero-copy send, linked timeouts, DEFER_TASKRUN, registered ring fd):
    /// each is used when the kernel has it. false: plain one-shot operations
    /// only. Unset: CORONET_FAST_PATHS (see backend_kind.hpp), else true.
    std::optional<bool> fast_paths;
    /// The receive pool behind recv_pooled(): buffer size in bytes
    /// (64 .. 1 MiB) and number of buffers (1 .. 32768). Reserved on the
    /// first pooled receive; pages become resident only as they are used.
    std::size_t pool_buffer_size = 16384;
    /// The receive pool's number of buffers (see pool_buffer_size).
    std::uint16_t pool_buffers = 1024;
    /// io_uring SEND_ZC: sends (send, send_all) of at least this many bytes
    /// to a TCP peer on another host go zero-copy; the operation then ends
    /// only when the kernel releases the buffer (the peer acknowledged the
    /// data). Cancelling (or closing) a zero-copy send whose data the kernel
    /// already holds resets the connection, so that the cancel ends at once
    /// instead of waiting for a peer that may never read. Peers on this host
    /// are excluded unless zero_copy_local: on loopback zero-copy never won
    /// (docs/benchmarks.md). SIZE_MAX turns zero-copy off.
    std::size_t zero_copy_min = 64 * 1024;
    /// Zero-copy sends (zero_copy_min) to peers on this host too.
    bool zero_copy_local = false;
};

/// A loop's counters since it was created (event_loop::stats()).
struct loop_stats {
    std::uint64_t turns = 0;                ///< loop turns
    std::uint64_t operations_submitted = 0; ///< I/O operations started
    std::uint64_t completions = 0;          ///< I/O operations finished
    std::uint64_t kernel_waits = 0;         ///< io_uring_enter / epoll_wait calls
    std::uint64_t zero_copy_sends = 0;      ///< io_uring SEND_ZC requests
    std::size_t in_flight = 0;              ///< I/O operations started, not finished
    std::size_t pool_buffers_in_use = 0;    ///< receive-pool buffers leased or queued now
    std::size_t pool_buffers_peak = 0;      ///< most in use at once
    std::size_t pool_buffers = 0;           ///< pool capacity (0: not reserved yet)
    std::size_t pool_buffer_size = 0;       ///< bytes per pool buffer
};

class event_loop;

namespace detail {
struct loop_access;
struct loop_group_state;
/// The loop running on this thread (event_loop::current()): set only while a
/// loop runs or tears down.
extern constinit thread_local event_loop* running_loop [[gnu::tls_model("initial-exec")]];
/// Told when a child started by spawn_child finishes (task_group, when_all).
struct child_observer {
    virtual void child_done(std::exception_ptr error) noexcept = 0;

protected:
    ~child_observer() = default;
};
} // namespace detail

class event_loop {
public:
    /// Creates the loop and its backend. Throws backend_unavailable when a
    /// forced backend cannot run here, std::invalid_argument for a bad
    /// CORONET_BACKEND or CORONET_FAST_PATHS or pool size, std::logic_error
    /// if this thread already has a loop.
    explicit event_loop(loop_options options = {});
    /// Teardown: cancels every spawned task that is still running and lets it
    /// finish (its waits complete with operation_canceled); then cancels and
    /// joins whatever I/O is left (late accepted fds are closed) and destroys
    /// the tasks that did not finish.
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    /// Runs `main` and everything it spawns until `main` finishes; returns
    /// its value or rethrows its exception. Spawned tasks still running when
    /// it returns keep their state until the next run or the loop's teardown.
    template <class T>
    T run_until_complete(task<T> main) {
        main.handle().promise().scope = &root_scope_;
        drive(main.handle());
        return main.take_result();
    }

    /// Starts `t` detached. The loop owns it until it finishes; an exception
    /// escaping it is reported on stderr (never silently lost). Teardown
    /// cancels it if it is still running.
    void spawn(task<> t);

    /// Runs `fn` on the loop's thread during its next turn. Thread-safe.
    /// `fn` must not block. A function posted after the loop has stopped
    /// (its teardown is over) is destroyed without running; use handle()
    /// to learn whether it was taken.
    void post(std::function<void()> fn);
    /// The thread-safe handle other threads and loops reach this loop by
    /// (post, spawn_on, run_on; see loop_handle.hpp).
    loop_handle handle() const noexcept { return detail::handle_access::make(shared_); }

    /// The backend in use (never `automatic`).
    backend_kind backend() const noexcept;
    /// Active backend features, e.g. "single_issuer defer_taskrun registered_ring".
    std::string backend_features() const;
    /// Whether io_uring fast paths were asked for (loop_options::fast_paths);
    /// backend_features() tells which ones the kernel gave.
    bool fast_paths() const noexcept { return fast_paths_; }
    /// The loop's counters (cheap: a copy of a few integers).
    loop_stats stats() const noexcept;
    /// Spawned tasks that have not finished yet.
    std::size_t spawned_count() const noexcept { return spawned_count_; }
    /// The worker pool behind run_blocking and resolve (thread_pool.hpp):
    /// created on first use, no thread before the first job; teardown waits
    /// for the coroutines awaiting it, then joins its threads.
    thread_pool& blocking_pool();

    /// The loop running on this thread, or nullptr.
    static event_loop* current() noexcept { return detail::running_loop; }

private:
    friend struct detail::loop_access;
    friend struct detail::loop_group_state;
    /// A loop whose mailbox (and handle) `shared` existed before it: a
    /// member of a loop_group.
    event_loop(loop_options options, std::shared_ptr<detail::loop_shared> shared);
    struct spawned_node {
        spawned_node* prev = nullptr;  ///< the previous entry
        spawned_node* next = nullptr;  ///< the next entry
        std::coroutine_handle<> frame; ///< the task's coroutine
    };
    /// Adds `n` to the live spawned tasks (teardown cancels and finishes them).
    void link_spawned(spawned_node& n) noexcept;
    /// Removes `n` from the live spawned tasks (the task finished).
    void unlink_spawned(spawned_node& n) noexcept;
    void spawn_child(task<> t, cancel_scope& parent, detail::child_observer* observer);
    void drive(std::coroutine_handle<> root);
    /// One turn; returns false when it found nothing to do and nothing to wait for.
    bool turn(std::coroutine_handle<> root, bool may_block);
    void run_mail() noexcept;
    void teardown() noexcept;

    // The part other threads reach; it outlives the backend, which uses its eventfd.
    std::shared_ptr<detail::loop_shared> shared_;
    detail::ready_queue ready_;
    detail::timer_heap timers_;
    std::unique_ptr<detail::backend> backend_;
    cancel_scope root_scope_; // every task run or spawned on this loop is inside it
    spawned_node spawned_;    // sentinel of the circular list of live spawned tasks
    std::size_t spawned_count_ = 0;
    unsigned inline_budget_ = 0;
    bool fast_paths_ = true;
    std::uint64_t turns_ = 0;
    std::size_t remote_waits_ = 0;      // run_on calls awaiting another loop's reply
    std::unique_ptr<thread_pool> pool_; // lazily created by blocking_pool()
};

/// Creates a loop, runs `main` to completion on it and tears the loop down,
/// like Python's asyncio.run(). Returns main's value or rethrows its exception.
template <class T>
T run(task<T> main, loop_options options = {}) {
    event_loop loop(options);
    return loop.run_until_complete(std::move(main));
}

/// Spawns `t` on the current loop (see event_loop::spawn). Throws
/// std::logic_error when no loop is running on this thread.
void spawn(task<> t);

/// The current loop; throws std::logic_error when none is running.
event_loop& current_loop();

} // namespace coronet
