#pragma once
// Sleeping: co_await coronet::sleep_for(10ms) or sleep_until(deadline).
//
// Timers belong to the loop (a heap keyed by deadline; equal deadlines wake in
// the order they were armed). A sleep of zero or a past deadline still yields
// once to the loop, like asyncio.sleep(0). Resolution: the backend waits with
// nanosecond timeouts (io_uring, epoll_pwait2), so a 1 ms sleep wakes after
// 1 ms plus scheduling latency.
//
// Cancellation: destroying a sleeping coroutine disarms its timer.

#include "runtime/detail/timer_heap.hpp"

#include <chrono>
#include <coroutine>

namespace coronet {

class event_loop;

/// The loop's clock.
using clock = detail::clock;

/// Awaitable returned by sleep_for / sleep_until.
class [[nodiscard]] sleep_awaitable {
public:
    explicit sleep_awaitable(clock::time_point deadline) noexcept { node_.deadline = deadline; }
    sleep_awaitable(const sleep_awaitable&) = delete;
    sleep_awaitable& operator=(const sleep_awaitable&) = delete;
    ~sleep_awaitable();

    bool await_ready() const noexcept { return false; }
    /// Arms the timer on the current loop (std::logic_error if none runs).
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() noexcept {}

private:
    detail::timer_node node_;
    event_loop* loop_ = nullptr;
};

/// Suspends the calling coroutine until `deadline`.
inline sleep_awaitable sleep_until(clock::time_point deadline) noexcept {
    return sleep_awaitable(deadline);
}

/// Suspends the calling coroutine for at least `d`.
template <class Rep, class Period>
sleep_awaitable sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
    return sleep_awaitable(clock::now() + std::chrono::ceil<clock::duration>(d));
}

} // namespace coronet
