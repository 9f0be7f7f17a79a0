#pragma once
/// \class coronet::mutex
/// coronet::mutex: an async lock for coroutines on one loop (no OS lock).
///
///     auto lock = co_await m.lock();      // result<mutex::guard>
///     if (!lock) co_return;               // operation_canceled
///     ...                                 // the guard unlocks when it goes
///
/// Fair: unlock() hands the lock to the longest waiter. Cancellation: a queued
/// lock() completes with operation_canceled; one that was already handed the
/// lock keeps it (its guard unlocks as usual).

#include "coronet/runtime/detail/waiter_queue.hpp"
#include "coronet/runtime/result.hpp"

#include <utility>

namespace coronet {

class mutex {
public:
    /// Owns the lock; unlocks on destruction. Move-only.
    class guard {
    public:
        /// Takes charge of `m`, which the caller has locked.
        explicit guard(mutex& m) noexcept : m_(&m) {}
        /// Takes over `o`'s lock; `o` no longer unlocks.
        guard(guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
        guard& operator=(guard&&) = delete;
        ~guard() { unlock(); }
        /// Unlocks now (mutex::unlock) instead of at destruction. Idempotent.
        void unlock() noexcept {
            if (m_ != nullptr) std::exchange(m_, nullptr)->unlock();
        }

    private:
        mutex* m_;
    };

    /// The awaitable returned by lock(): co_await it once for a `result<guard>`.
    class [[nodiscard]] lock_awaitable {
    public:
        /// A lock of `m` (made by lock()).
        explicit lock_awaitable(mutex& m) noexcept : m_(m) {}
        bool await_ready() noexcept { return m_.try_lock(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return m_.waiters_.enqueue(w_, h, detail::scope_of(h));
        }
        result<guard> await_resume() noexcept {
            if (detail::finish_wait(w_)) return std::make_error_code(std::errc::operation_canceled);
            return guard(m_);
        }

    private:
        mutex& m_;
        detail::waiter w_;
    };

    /// An unlocked mutex.
    mutex() noexcept = default;
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    /// co_await → result<guard>: the lock, at once if it is free, else after
    /// the coroutines queued before this one. Errors: operation_canceled
    /// (cancelled while queued; a lock already handed over is kept and
    /// returned).
    lock_awaitable lock() noexcept { return lock_awaitable(*this); }
    /// Takes the lock if it is free; true if it did. The caller then unlocks
    /// (or makes a guard).
    bool try_lock() noexcept { return !std::exchange(locked_, true); }
    /// Releases the lock, handing it to the first waiter if there is one.
    void unlock() noexcept {
        if (waiters_.wake_one() == nullptr) locked_ = false;
    }
    /// Whether someone holds the lock.
    bool is_locked() const noexcept { return locked_; }

private:
    bool locked_ = false;
    detail::waiter_queue waiters_;
};

} // namespace coronet
