#pragma once
/// \file
/// run_loops: one event loop per core, nothing shared on the I/O path.
///
///     int main() {
///         auto r = coronet::run_loops([](const coronet::group_context& g) -> coronet::task<> {
///             auto l = coronet::tcp_listener::bind("127.0.0.1:8080", {.reuse_port = true});
///             ...   // each loop serves its own SO_REUSEPORT listener
///             co_await g.stopped();                 // SIGINT/SIGTERM reached every loop
///         }, {.stop_signals = {SIGINT, SIGTERM}});
///         return r.exit_code;
///     }
///
/// run_loops runs N event loops, one per thread: loop 0 on the calling
/// thread (so a group of one runs as coronet::run would), loops 1 .. N-1 on
/// threads it starts. It calls the factory once on each loop's thread
/// (concurrently: it must be safe to call from several threads, e.g. a
/// lambda that only reads what it captures), runs the task it returns as
/// that loop's main task, and returns when every loop has finished. Call it
/// from a thread that runs no loop (e.g. main). Loops reach each other only through loop_handle
/// (group_context::loop(i)): post, spawn_on, run_on, cross_channel; between
/// io_uring loops the wakeup is a MSG_RING from ring to ring.
///
/// Errors: the first exception escaping any loop's main task (or a loop that
/// cannot start, e.g. a forced backend that is unavailable) cancels every
/// other loop's main task (request + join, as a task_group does) and is
/// rethrown by run_loops once all have finished; later ones are printed on
/// stderr. A main task returning task<int> gives an exit code: the first
/// nonzero one is the group's and, like an error, cancels the others.
///
/// Stopping: stop_signals are blocked in every loop thread and read by loop
/// 0, which stays up until every other loop has finished. Each signal (or group_context::request_stop(), from
/// any thread) raises the group's stop level by one on every loop: level 1
/// asks the loops to stop (stopped() completes), level 2 asks them to hurry
/// (stopped(2): end a grace period), level 3 cancels every main task.

#include "coronet/runtime/event_loop.hpp"
#include "coronet/runtime/loop_handle.hpp"
#include "coronet/runtime/sync/event.hpp"
#include "coronet/runtime/task.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace coronet {

/// How run_loops sets its loops up.
struct loop_group_options {
    /// Loops (threads). Unset: CORONET_THREADS if set, else one per CPU the
    /// process may run on (configured_threads()); 0: one per CPU.
    std::optional<unsigned> threads;
    /// Pin loop i to the i-th CPU of the process's affinity mask (wrapping
    /// around when there are more loops than CPUs); the calling thread's
    /// mask is restored when run_loops returns.
    bool pin_threads = false;
    /// What every loop is made with.
    loop_options loop;
    /// Signals that raise the stop level (e.g. SIGINT, SIGTERM); empty: none.
    std::vector<int> stop_signals;
};

namespace detail {
struct loop_group_state;
struct group_local;
} // namespace detail

/// What the factory of run_loops gets on each loop: where it is in the
/// group, the other loops, and the group's stop requests. Valid while that
/// loop's main task runs; use it on its own loop's thread (request_stop()
/// and loop() from any thread).
class group_context {
public:
    /// This loop's position in the group, 0 .. size() - 1.
    std::size_t index() const noexcept { return index_; }
    /// The number of loops in the group.
    std::size_t size() const noexcept { return loops_.size(); }
    /// The handle of loop `i` (i < size()).
    const loop_handle& loop(std::size_t i) const noexcept { return loops_[i]; }
    /// Every loop's handle, by index.
    std::span<const loop_handle> loops() const noexcept { return loops_; }

    /// How far the group's stop has gone: 0 running, 1 asked to stop, 2 asked
    /// to hurry, 3 cancelled (see the file comment).
    int stop_level() const noexcept;
    /// co_await: completes once stop_level() >= `level` (1 or 2), at once if
    /// it already is, or when the awaiting scope is cancelled first (look at
    /// stop_level() to tell). A task, so that it can race a server in
    /// when_any.
    task<> stopped(int level = 1) const;
    /// Raises the stop level by one on every loop. Any thread.
    void request_stop() const noexcept;

private:
    friend struct detail::loop_group_state;
    group_context(detail::loop_group_state& g, std::size_t i, detail::group_local& local,
                  std::span<const loop_handle> loops) noexcept
        : group_(g), index_(i), local_(local), loops_(loops) {}
    detail::loop_group_state& group_;
    std::size_t index_;
    detail::group_local& local_;
    std::span<const loop_handle> loops_;
};

/// What run_loops returns once every loop has finished.
struct group_result {
    /// The first nonzero exit code a main task returned, else 0.
    int exit_code = 0;
    /// Each loop's counters when its main task ended, by index.
    std::vector<loop_stats> stats;
};

/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned available_cpus() noexcept;
/// CORONET_THREADS if set (1 .. 1024), else available_cpus(). Throws
/// std::invalid_argument naming a bad CORONET_THREADS value.
unsigned configured_threads();

namespace detail {
using group_factory = std::function<task<int>(const group_context&)>;
/// The non-template part of run_loops.
group_result run_group(group_factory factory, const loop_group_options& options);

inline task<int> exit_zero(task<> t) {
    co_await std::move(t);
    co_return 0;
}
} // namespace detail

/// Runs `factory(ctx)` as the main task of each of N loops, one thread each
/// (see the file comment), and returns when all have finished. `factory`
/// returns task<> or task<int>. Throws what the first failing loop threw,
/// std::invalid_argument for a bad CORONET_THREADS, std::system_error when
/// a thread cannot be started, std::logic_error when the calling thread
/// already runs a loop.
template <class F>
group_result run_loops(F factory, const loop_group_options& options = {}) {
    using task_type = std::invoke_result_t<F&, const group_context&>;
    static_assert(std::is_same_v<task_type, task<>> || std::is_same_v<task_type, task<int>>,
                  "run_loops: the factory must return coronet::task<> or coronet::task<int>");
    return detail::run_group(
        [f = std::move(factory)](const group_context& ctx) -> task<int> {
            if constexpr (std::is_same_v<task_type, task<>>)
                return detail::exit_zero(f(ctx));
            else
                return f(ctx);
        },
        options);
}

} // namespace coronet
