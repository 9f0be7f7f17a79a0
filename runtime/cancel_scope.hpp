#pragma once
/// \class coronet::cancel_scope
/// coronet::cancel_scope: cancellation for everything awaited inside it.
///
///     cancel_scope scope;
///     spawn(watchdog(scope));                       // may call scope.cancel()
///     auto n = co_await scope.run(conn.recv(buf));  // operation_canceled if cancelled
///
/// Cancellation is request + join. cancel() asks every wait pending inside the
/// scope (I/O operations, sleeps, lock/queue waits, in this coroutine or in
/// tasks it awaits) to stop; each still completes on its own, reporting
/// std::errc::operation_canceled or, if the kernel finished first, its real
/// result (bytes received, an accepted connection), which is delivered, never
/// dropped. Buffers and frames outlive the kernel's use of them.
///
/// Scopes are level-triggered: once cancelled, every later wait inside the
/// scope fails at once with operation_canceled until the scope is left. Scopes
/// nest: cancelling one cancels the scopes inside it, never the one outside.
/// A scope belongs to one loop thread; from other threads use with_stop_token.

#include "coronet/runtime/detail/operation.hpp"

#include <coroutine>
#include <cstdint>
#include <utility>

namespace coronet {

class cancel_scope;

namespace detail {

/// A pending wait, linked into the scope it was started in (scope_access::attach).
struct wait_link {
    // Only `scope` is read before attach() writes the rest.
    wait_link* prev;
    wait_link* next;
    cancel_scope* scope = nullptr;
    void* target;
    void (*on_cancel)(void* target) noexcept;
    /// Leaves the scope's list (after completion). Idempotent.
    inline void detach() noexcept;
};

struct scope_access;

/// The scope of the coroutine behind `h`, or nullptr for foreign coroutine types.
template <class P>
cancel_scope* scope_of(std::coroutine_handle<P> h) noexcept {
    if constexpr (requires { h.promise().scope; })
        return h.promise().scope;
    else
        return nullptr;
}

template <class A>
decltype(auto) awaiter_of(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await();
    else
        return std::forward<A>(a);
}

/// What co_await on an A yields.
template <class A>
using await_result_t = decltype(awaiter_of(std::declval<A>()).await_resume());

} // namespace detail

class cancel_scope {
public:
    template <class A>
    class scoped;

    cancel_scope() noexcept = default;
    cancel_scope(const cancel_scope&) = delete;
    cancel_scope& operator=(const cancel_scope&) = delete;
    ~cancel_scope();

    /// Cancels every wait pending in this scope and in scopes nested in it;
    /// later waits fail at once. Never resumes anything itself. Idempotent.
    void cancel() noexcept { cancel_as(false); }
    /// True once this scope or one around it was cancelled.
    bool cancelled() const noexcept { return cancelled_; }
    /// True if the cancellation came from a deadline (see timeout.hpp).
    bool timed_out() const noexcept { return timed_out_; }

    /// Awaits `a` (an awaitable or a task) inside this scope.
    template <class A>
    scoped<A> run(A&& a) {
        return scoped<A>(*this, std::forward<A>(a));
    }

private:
    friend struct detail::wait_link;
    friend struct detail::scope_access;
    void enter(cancel_scope* parent) noexcept; // nest inside `parent` (may be null)
    void leave() noexcept;
    void cancel_as(bool timeout) noexcept;

    cancel_scope* parent_ = nullptr;
    cancel_scope* first_child_ = nullptr;
    cancel_scope* next_sibling_ = nullptr;
    cancel_scope* prev_sibling_ = nullptr;
    detail::wait_link* waits_ = nullptr;
    const detail::mono_timespec* linked_deadline_ = nullptr;
    bool cancelled_ = false;
    bool timed_out_ = false;
};

namespace detail {

/// What awaitables and the loop do with scopes (not for application code).
struct scope_access {
    /// Links pending wait `w` into `s`: `on_cancel(target)` runs if `s` is
    /// cancelled before `w` detaches. `on_cancel` only asks (a backend
    /// cancel, a queue removal plus a wake-up); it never resumes anything.
    static void attach(cancel_scope& s, wait_link& w, void* target,
                       void (*on_cancel)(void*) noexcept) noexcept {
        w.target = target;
        w.on_cancel = on_cancel;
        w.scope = &s;
        w.prev = nullptr;
        w.next = s.waits_;
        if (s.waits_ != nullptr) s.waits_->prev = &w;
        s.waits_ = &w;
    }
    static void enter(cancel_scope& s, cancel_scope* parent) noexcept { s.enter(parent); }
    static void leave(cancel_scope& s) noexcept { s.leave(); }
    /// Cancels `s` as timed out (timeouts) or not.
    static void cancel(cancel_scope& s, bool timed_out) noexcept { s.cancel_as(timed_out); }
    /// A deadline the kernel enforces itself (io_uring linked timeout) for
    /// the single operation awaited directly in `s`; null if none.
    static const mono_timespec* linked_deadline(const cancel_scope& s) noexcept {
        return s.linked_deadline_;
    }
    static void set_linked_deadline(cancel_scope& s, const mono_timespec* t) noexcept {
        s.linked_deadline_ = t;
    }
};

inline void wait_link::detach() noexcept {
    if (scope == nullptr) return;
    (prev ? prev->next : scope->waits_) = next;
    if (next != nullptr) next->prev = prev;
    scope = nullptr;
}

} // namespace detail

/// The awaitable returned by cancel_scope::run: while `A` is awaited, the
/// awaiting coroutine's scope is this one.
template <class A>
class [[nodiscard]] cancel_scope::scoped {
public:
    /// Awaits `a` inside `s` (made by cancel_scope::run).
    scoped(cancel_scope& s, A&& a) : scope_(s), inner_(std::forward<A>(a)) {}

    bool await_ready() { return detail::awaiter_of(std::move(inner_)).await_ready(); }

    template <class P>
    auto await_suspend(std::coroutine_handle<P> h) {
        static_assert(
            requires { h.promise().scope; }, "cancel_scope::run needs a coronet::task coroutine");
        slot_ = &h.promise().scope;
        saved_ = *slot_;
        scope_.enter(saved_);
        *slot_ = &scope_;
        try {
            return detail::awaiter_of(std::move(inner_)).await_suspend(h);
        } catch (...) {
            restore();
            throw;
        }
    }

    decltype(auto) await_resume() {
        restore();
        return detail::awaiter_of(std::move(inner_)).await_resume();
    }

    /// The wrapped awaitable.
    const A& inner() const noexcept { return inner_; }
    /// The wrapped awaitable, for re-wrapping before it is awaited.
    A&& take() && noexcept { return std::forward<A>(inner_); }

private:
    void restore() noexcept {
        if (slot_ == nullptr) return;
        *slot_ = saved_;
        scope_.leave();
        slot_ = nullptr;
    }
    cancel_scope& scope_;
    A inner_;
    cancel_scope** slot_ = nullptr;
    cancel_scope* saved_ = nullptr;
};

} // namespace coronet
