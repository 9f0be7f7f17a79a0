#include "coronet/runtime/detail/waiter_queue.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

namespace coronet::detail {
namespace {

void cancel_waiter(void* p) noexcept {
    auto* w = static_cast<waiter*>(p);
    if (w->st != waiter::state::queued) return; // already woken: it keeps what it got
    w->queue->remove(*w);
    w->st = waiter::state::cancelled;
    schedule(w->handle);
}

} // namespace

bool waiter_queue::enqueue(waiter& w, std::coroutine_handle<> h, cancel_scope* scope) noexcept {
    if (scope != nullptr && scope->cancelled()) {
        w.st = waiter::state::cancelled;
        return false;
    }
    w.handle = h;
    w.queue = this;
    w.st = waiter::state::queued;
    w.next = nullptr;
    w.prev = tail_;
    (tail_ ? tail_->next : head_) = &w;
    tail_ = &w;
    if (scope != nullptr) {
        scope_access::attach(*scope, w.link, &w, cancel_waiter);
    }
    return true;
}

void waiter_queue::remove(waiter& w) noexcept {
    (w.prev ? w.prev->next : head_) = w.next;
    (w.next ? w.next->prev : tail_) = w.prev;
    w.prev = w.next = nullptr;
}

waiter* waiter_queue::wake_one() noexcept {
    waiter* w = head_;
    if (w == nullptr) return nullptr;
    remove(*w);
    w->st = waiter::state::woken;
    schedule(w->handle);
    return w;
}

void waiter_queue::wake_all() noexcept {
    while (wake_one() != nullptr) {
    }
}

} // namespace coronet::detail
