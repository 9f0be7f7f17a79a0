#pragma once
/// \class coronet::semaphore
/// coronet::semaphore: a counter of permits, like asyncio.Semaphore.
///
///     semaphore slots(10);
///     if (co_await slots.acquire()) { ...; slots.release(); }
///
/// acquire() → result<void>: a permit, or operation_canceled if the scope was
/// cancelled while queued (a permit already handed over is kept: release it).
/// release() hands the permit to the longest waiter first. Single loop.

#include "coronet/runtime/detail/waiter_queue.hpp"
#include "coronet/runtime/result.hpp"

#include <cstddef>

namespace coronet {

class semaphore {
public:
    /// The awaitable returned by acquire(): co_await it once for a `result<void>`.
    class [[nodiscard]] acquire_awaitable {
    public:
        /// An acquire of a permit of `s` (made by acquire()).
        explicit acquire_awaitable(semaphore& s) noexcept : s_(s) {}
        bool await_ready() noexcept { return s_.try_acquire(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return s_.waiters_.enqueue(w_, h, detail::scope_of(h));
        }
        result<void> await_resume() noexcept {
            if (detail::finish_wait(w_)) return std::make_error_code(std::errc::operation_canceled);
            return {};
        }

    private:
        semaphore& s_;
        detail::waiter w_;
    };

    /// A semaphore with `permits` permits available.
    explicit semaphore(std::size_t permits) noexcept : count_(permits) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    /// co_await → result<void>: a permit, at once if one is free and nobody
    /// waits, else after the coroutines queued before this one. Errors:
    /// operation_canceled (cancelled while queued; a permit already handed
    /// over is kept: release it).
    acquire_awaitable acquire() noexcept { return acquire_awaitable(*this); }
    /// Takes a permit if one is free and nobody waits; true if it did.
    bool try_acquire() noexcept {
        if (count_ == 0 || !waiters_.empty()) return false; // no overtaking the queue
        --count_;
        return true;
    }
    /// Gives a permit back: to the longest waiter if there is one.
    void release() noexcept {
        if (waiters_.wake_one() == nullptr) ++count_;
    }
    /// Permits free now.
    std::size_t available() const noexcept { return count_; }

private:
    std::size_t count_;
    detail::waiter_queue waiters_;
};

} // namespace coronet
