#pragma once
// Coroutines of any loop waiting on something another loop's coroutines
// complete (a cross_channel's receivers or senders). The list is guarded by a
// mutex, taken only to wait and to wake (the slow path); waking a waiter
// sends a message to its loop, which resumes it there. A waiter's record is
// on the heap and counted, so that a wake in flight outlives the frame that
// waited (loop teardown may destroy it first). Records come from the
// thread's frame pool: waiting allocates nothing once the pool is warm.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/loop_shared.hpp"

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>

namespace coronet::detail {

class remote_waiters;

/// One waiting coroutine. Fields other than refs are its loop's, or the
/// list's under its mutex (marked).
struct remote_waiter : message {
    static void* operator new(std::size_t n);
    static void operator delete(void* p, std::size_t n) noexcept;

    std::atomic<int> refs{1};
    std::shared_ptr<loop_shared> loop; // where it waits: the wake goes there
    std::coroutine_handle<> coro;      // its loop only; cleared if the frame goes
    remote_waiters* list = nullptr;
    remote_waiter* prev = nullptr; // list mutex
    remote_waiter* next_waiter = nullptr;
    bool listed = false;    // list mutex
    bool cancelled = false; // its loop only: its scope was cancelled first
    wait_link link;

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
};

class remote_waiters {
public:
    /// Waiters right now (a hint for the fast path: the caller fences first).
    bool maybe_waiting() const noexcept { return count_.load(std::memory_order_seq_cst) > 0; }

    /// Lists `w` for coroutine `h` on the running loop, unless `ready()`,
    /// re-checked once `w` counts as waiting, says there is no need; false
    /// then (do not suspend). `w` is cancellable through `scope`.
    template <class Ready>
    bool wait(remote_waiter& w, std::coroutine_handle<> h, cancel_scope* scope, Ready ready) {
        std::unique_lock lock(mutex_);
        count_.fetch_add(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with the waker's fence
        if (ready()) {                                       // it changed while we looked: no wait
            count_.fetch_sub(1, std::memory_order_relaxed);
            return false;
        }
        link(w, h);
        lock.unlock();
        if (scope != nullptr) attach(*scope, w);
        return true;
    }
    /// Wakes the oldest waiter (it resumes on its loop and looks again).
    void wake_one() noexcept;
    /// Wakes every waiter (close).
    void wake_all() noexcept;
    /// The waiter's frame goes away: it leaves the list if still there.
    void abandon(remote_waiter& w) noexcept;

private:
    void link(remote_waiter& w, std::coroutine_handle<> h);
    void attach(cancel_scope& scope, remote_waiter& w) noexcept;
    remote_waiter* pop_locked() noexcept;
    void unlink_locked(remote_waiter& w) noexcept;
    static void cancel(void* w) noexcept;
    friend struct remote_waiter;

    std::mutex mutex_;
    std::atomic<std::size_t> count_{0};
    remote_waiter* head_ = nullptr;
    remote_waiter* tail_ = nullptr;
};

} // namespace coronet::detail
