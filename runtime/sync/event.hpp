#pragma once
/// \class coronet::event
/// coronet::event: a flag coroutines can wait for, like asyncio.Event.
///
///     event ready;
///     spawn(worker(ready));       // co_await ready.wait();
///     ready.set();                // wakes every waiter; later waits pass at once
///
/// wait() → result<void>: success, or operation_canceled if the waiter's scope
/// was cancelled first. Single loop: use from the loop's thread only.

#include "coronet/runtime/detail/waiter_queue.hpp"
#include "coronet/runtime/result.hpp"

namespace coronet {

class event {
public:
    /// The awaitable returned by wait(): co_await it once for a `result<void>`.
    class [[nodiscard]] wait_awaitable {
    public:
        /// A wait for `e` (made by wait()).
        explicit wait_awaitable(event& e) noexcept : e_(e) {}
        bool await_ready() const noexcept { return e_.set_; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return e_.waiters_.enqueue(w_, h, detail::scope_of(h));
        }
        result<void> await_resume() noexcept {
            if (detail::finish_wait(w_)) return std::make_error_code(std::errc::operation_canceled);
            return {};
        }

    private:
        event& e_;
        detail::waiter w_;
    };

    /// An event that is not set.
    event() noexcept = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    /// Sets the flag and wakes every waiter.
    void set() noexcept {
        set_ = true;
        waiters_.wake_all();
    }
    /// Clears the flag: later waits wait again.
    void clear() noexcept { set_ = false; }
    /// Whether the flag is set.
    bool is_set() const noexcept { return set_; }
    /// co_await → result<void>: waits until the flag is set (at once if it
    /// is). Errors: operation_canceled (the waiter's scope was cancelled first).
    wait_awaitable wait() noexcept { return wait_awaitable(*this); }

private:
    bool set_ = false;
    detail::waiter_queue waiters_;
};

} // namespace coronet
