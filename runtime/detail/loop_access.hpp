#pragma once
// What the library's own awaitables, primitives and sockets reach inside the
// running loop (not for application code): its backend, timers and ready
// queue, and spawning children. Kept out of event_loop's public interface.

#include "coronet/runtime/event_loop.hpp"

#include <coroutine>
#include <stdexcept>

namespace coronet::detail {

struct loop_access {
    static backend& io(event_loop& l) noexcept { return *l.backend_; }
    static timer_heap& timers(event_loop& l) noexcept { return l.timers_; }
    static cancel_scope& root_scope(event_loop& l) noexcept { return l.root_scope_; }
    /// Queues `h` to be resumed by `l` (never resumes it here).
    static void schedule(event_loop& l, std::coroutine_handle<> h) { l.ready_.push(h); }
    /// Whether an operation that completed inline may continue without a trip
    /// through the ready queue (a per-turn budget keeps one busy connection
    /// from starving the others).
    static bool take_inline_budget(event_loop& l) noexcept {
        return l.inline_budget_ > 0 && l.inline_budget_--;
    }
    /// Starts `t` detached inside `parent` (a child scope of it), telling
    /// `observer` (may be null) when it ends.
    static void spawn_child(event_loop& l, task<> t, cancel_scope& parent,
                            child_observer* observer) {
        l.spawn_child(std::move(t), parent, observer);
    }
    /// The part of `l` other threads reach (mailbox, wakeup).
    static loop_shared& shared(event_loop& l) noexcept { return *l.shared_; }
    static std::shared_ptr<loop_shared> shared_ptr(event_loop& l) noexcept { return l.shared_; }
    /// A run_on call of `l` now waits for another loop's reply (teardown
    /// keeps turning until it comes), or no longer does.
    static void remote_wait_begin(event_loop& l) noexcept { ++l.remote_waits_; }
    static void remote_wait_end(event_loop& l) noexcept { --l.remote_waits_; }
    using spawned_node = event_loop::spawned_node;
    static void link_spawned(event_loop& l, spawned_node& n) noexcept { l.link_spawned(n); }
    static void unlink_spawned(event_loop& l, spawned_node& n) noexcept { l.unlink_spawned(n); }
};

/// The running loop; throws std::logic_error when none runs on this thread.
inline event_loop& running_loop_or_throw() {
    if (running_loop == nullptr) [[unlikely]]
        throw std::logic_error("coronet: no event loop runs on this thread");
    return *running_loop;
}

/// Queues `h` on the running loop (see loop_access::schedule).
inline void schedule(std::coroutine_handle<> h) {
    loop_access::schedule(running_loop_or_throw(), h);
}

/// Closes `fd` through the running loop's backend (the fd-close rule: its
/// operations are cancelled and joined first), or plainly without a loop.
void close_fd(int fd) noexcept;

/// Settles `fd` on the running loop and makes its backend forget it (a
/// socket moving to another loop); true without a loop. False if the loop
/// holds data it received for `fd` (see backend::forget).
bool forget_fd(int fd) noexcept;

} // namespace coronet::detail
