#include "coronet/runtime/detail/remote_waiters.hpp"

#include "coronet/runtime/detail/frame_pool.hpp"
#include "coronet/runtime/detail/loop_access.hpp"

namespace coronet::detail {
namespace {

// The wake message: resumes the waiter on its loop, unless its frame is gone.
void deliver_wake(message* m, bool deliver) noexcept {
    auto* w = static_cast<remote_waiter*>(m);
    if (deliver && w->coro) schedule(std::exchange(w->coro, {}));
    w->release(); // the wake's reference
}

} // namespace

void* remote_waiter::operator new(std::size_t n) {
    return frame_pool::allocate(n);
}
void remote_waiter::operator delete(void* p, std::size_t n) noexcept {
    frame_pool::deallocate(p, n);
}

// Under the mutex, with count_ already raised for `w`.
void remote_waiters::link(remote_waiter& w, std::coroutine_handle<> h) {
    w.loop = loop_access::shared_ptr(running_loop_or_throw());
    w.coro = h;
    w.handle = deliver_wake;
    w.list = this;
    w.listed = true;
    w.prev = tail_;
    w.next_waiter = nullptr;
    (tail_ ? tail_->next_waiter : head_) = &w;
    tail_ = &w;
}

void remote_waiters::unlink_locked(remote_waiter& w) noexcept {
    (w.prev ? w.prev->next_waiter : head_) = w.next_waiter;
    (w.next_waiter ? w.next_waiter->prev : tail_) = w.prev;
    w.listed = false;
    count_.fetch_sub(1, std::memory_order_relaxed);
}

remote_waiter* remote_waiters::pop_locked() noexcept {
    remote_waiter* w = head_;
    if (w == nullptr) return nullptr;
    unlink_locked(*w);
    w->refs.fetch_add(1, std::memory_order_relaxed); // the wake's reference
    return w;
}

void remote_waiters::wake_one() noexcept {
    remote_waiter* w;
    {
        std::lock_guard lock(mutex_);
        w = pop_locked();
    }
    if (w != nullptr && !send(*w->loop, w)) w->release(); // its loop stopped: nobody to wake
}

void remote_waiters::wake_all() noexcept {
    for (;;) {
        remote_waiter* w;
        {
            std::lock_guard lock(mutex_);
            w = pop_locked();
        }
        if (w == nullptr) return;
        if (!send(*w->loop, w)) w->release();
    }
}

void remote_waiters::abandon(remote_waiter& w) noexcept {
    {
        std::lock_guard lock(mutex_);
        if (w.listed) unlink_locked(w);
    }
    w.coro = {}; // a wake already on its way resumes nobody
}

void remote_waiters::attach(cancel_scope& scope, remote_waiter& w) noexcept {
    scope_access::attach(scope, w.link, &w, &remote_waiters::cancel);
}

// The waiter's scope was cancelled (its loop): if it is still listed it
// leaves and resumes now; if a wake is already on its way, that wake
// resumes it (request + join).
void remote_waiters::cancel(void* p) noexcept {
    auto& w = *static_cast<remote_waiter*>(p);
    bool was_listed;
    {
        std::lock_guard lock(w.list->mutex_);
        was_listed = w.listed;
        if (was_listed) w.list->unlink_locked(w);
    }
    if (!was_listed || !w.coro) return;
    w.cancelled = true;
    schedule(std::exchange(w.coro, {}));
}

} // namespace coronet::detail
