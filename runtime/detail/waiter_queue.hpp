#pragma once
// A FIFO of coroutines waiting on a synchronisation primitive (event, mutex,
// semaphore, channel). Each waiter lives in its awaitable, in the waiting
// coroutine's frame: waiting allocates nothing.
//
// Cancellation: a waiter still queued when its scope is cancelled is removed
// and resumed with operation_canceled. A waiter already woken (given the lock,
// a permit, an item) keeps what it was given: cancellation never loses it.

#include "coronet/runtime/cancel_scope.hpp"

#include <coroutine>

namespace coronet::detail {

class waiter_queue;

struct waiter {
    enum class state : unsigned char { idle, queued, woken, cancelled };
    waiter* prev = nullptr;
    waiter* next = nullptr;
    waiter_queue* queue = nullptr;
    std::coroutine_handle<> handle;
    wait_link link;
    state st = state::idle;
};

class waiter_queue {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    waiter* front() const noexcept { return head_; }

    /// Queues `w` for `h`, cancellable from `scope`. Returns false (do not
    /// suspend) when the scope is already cancelled; `w` is then cancelled.
    bool enqueue(waiter& w, std::coroutine_handle<> h, cancel_scope* scope) noexcept;
    /// Dequeues the first waiter, marks it woken and schedules it.
    waiter* wake_one() noexcept;
    /// Wakes every waiter.
    void wake_all() noexcept;
    void remove(waiter& w) noexcept;

private:
    waiter* head_ = nullptr;
    waiter* tail_ = nullptr;
};

/// Leaves the scope; true if the wait was cancelled.
inline bool finish_wait(waiter& w) noexcept {
    w.link.detach();
    return w.st == waiter::state::cancelled;
}

} // namespace coronet::detail
