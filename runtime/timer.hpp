#pragma once
/// \file
/// Sleeping: co_await coronet::sleep_for(10ms) or sleep_until(deadline).
///
/// Timers belong to the loop (a heap keyed by deadline; equal deadlines wake in
/// the order they were armed). A sleep of zero or a past deadline still yields
/// once to the loop, like asyncio.sleep(0). Resolution: the backend waits with
/// nanosecond timeouts (io_uring, epoll_pwait2), so a 1 ms sleep wakes after
/// 1 ms plus scheduling latency.
///
/// co_await yields a sleep_result (a result<void> that may be ignored):
/// success, or operation_canceled when the enclosing cancel_scope was cancelled
/// (or a timeout expired) before the deadline. Ignoring it is fine: in a
/// cancelled scope the next wait fails at once too. Destroying a sleeping
/// coroutine disarms its timer.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/timer_heap.hpp"
#include "coronet/runtime/result.hpp"

#include <chrono>
#include <coroutine>

namespace coronet {

class event_loop;

/// The loop's clock.
using clock = detail::clock;

/// What a sleep yields: result<void> without [[nodiscard]].
class sleep_result : public result<void> {
public:
    using result<void>::result;
};

/// Awaitable returned by sleep_for / sleep_until: co_await it once for a
/// sleep_result.
class [[nodiscard]] sleep_awaitable {
public:
    /// A sleep until `deadline` (made by sleep_until and sleep_for).
    explicit sleep_awaitable(clock::time_point deadline) noexcept { node_.deadline = deadline; }
    /// Only before it is awaited.
    sleep_awaitable(sleep_awaitable&& o) noexcept : node_{} { node_.deadline = o.node_.deadline; }
    sleep_awaitable& operator=(sleep_awaitable&&) = delete;
    ~sleep_awaitable();

    bool await_ready() const noexcept { return false; }
    /// Arms the timer on the current loop (std::logic_error if none runs).
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return arm(h, detail::scope_of(h));
    }
    sleep_result await_resume() noexcept;

private:
    bool arm(std::coroutine_handle<> h, cancel_scope* scope);
    static void on_cancel(void* self) noexcept;
    detail::timer_node node_;
    detail::wait_link link_;
    event_loop* loop_ = nullptr;
    bool cancelled_ = false;
};

/// Suspends the calling coroutine until `deadline` (a past one still yields
/// once to the loop). co_await → sleep_result: success, or
/// operation_canceled when the scope was cancelled (or a timeout expired)
/// first. Needs a running loop (std::logic_error otherwise).
inline sleep_awaitable sleep_until(clock::time_point deadline) noexcept {
    return sleep_awaitable(deadline);
}

/// Suspends the calling coroutine for at least `d`: sleep_until(now + d).
template <class Rep, class Period>
sleep_awaitable sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
    return sleep_awaitable(clock::now() + std::chrono::ceil<clock::duration>(d));
}

} // namespace coronet
