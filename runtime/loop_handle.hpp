#pragma once
/// \file
/// Reaching a loop from other threads and other loops: loop_handle,
/// spawn_on and run_on.
///
///     loop_handle there = other_loop_handle;              // from loop_group, or handle()
///     there.post([] { ... });                             // any thread: run a function there
///     coronet::spawn_on(there, serve(std::move(conn)));    // start a task there
///     auto n = co_await coronet::run_on(there, count());   // run there, resume here
///
/// A loop and everything in it belong to its thread; what crosses threads is
/// a message to a loop, delivered through its mailbox (lock-free, one wakeup
/// per batch) and run there at the start of a turn. A loop that has stopped
/// takes no more messages: sending to it fails with error::loop_closed and
/// nothing is leaked (a task that was not started is destroyed).

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/loop_shared.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <atomic>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace coronet {

class event_loop;
class loop_handle;

namespace detail {
/// The library's way into a loop_handle (not for application code).
struct handle_access {
    static loop_shared* shared(const loop_handle& h) noexcept;
    static loop_handle make(std::shared_ptr<loop_shared> s) noexcept;
};
} // namespace detail

/// A thread-safe, copyable reference to a loop: what may cross threads.
/// Holding one keeps the loop's mailbox alive, not the loop: once the loop
/// has stopped, every send through the handle fails with error::loop_closed.
class loop_handle {
public:
    /// A handle to no loop (every send fails with loop_closed).
    loop_handle() noexcept = default;

    /// Whether this handle refers to a loop (stopped or not).
    explicit operator bool() const noexcept { return shared_ != nullptr; }
    /// Whether the loop still takes messages (it may stop right after).
    bool is_open() const noexcept { return shared_ && !shared_->box.is_closed(); }

    /// Runs `fn` on the loop's thread at the start of its next turn. Any
    /// thread. `fn` must not block; it may spawn or schedule. Errors:
    /// loop_closed (the loop has stopped; `fn` is destroyed, never run).
    /// Costs one allocation.
    result<void> post(std::function<void()> fn) const;

    /// Two handles to the same loop compare equal.
    friend bool operator==(const loop_handle& a, const loop_handle& b) noexcept {
        return a.shared_ == b.shared_;
    }

private:
    friend struct detail::handle_access;
    explicit loop_handle(std::shared_ptr<detail::loop_shared> s) noexcept : shared_(std::move(s)) {}
    std::shared_ptr<detail::loop_shared> shared_;
};

/// Starts `t` detached on the loop behind `target` (like that loop's
/// spawn: it owns the task, reports an escaping exception on stderr, and
/// cancels it at teardown). Any thread. Errors: loop_closed (`t` is
/// destroyed here without running). A socket moved into `t` must not have
/// operations on this loop; call its forget_loop() first if it had any.
result<void> spawn_on(const loop_handle& target, task<> t);

namespace detail {

/// What co_await run_on yields for a task<T>.
template <class T>
struct run_on_result {
    using type = result<T>;
};
template <class U>
struct run_on_result<result<U>> {
    using type = result<U>;
};

/// One run_on call, shared by the caller's loop and the target's; freed by
/// the last of its owners (the caller's awaitable, the request in flight,
/// a cancel in flight).
struct remote_call {
    struct node : message {
        remote_call* call;
    };
    remote_call() noexcept;
    remote_call(const remote_call&) = delete;
    remote_call& operator=(const remote_call&) = delete;
    virtual ~remote_call() = default;

    /// On the target: runs the work in `scope`, keeping its outcome.
    virtual task<> run() = 0;
    /// The target stopped before the work began: destroys it unrun.
    virtual void drop_work() noexcept = 0;

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    /// Caller side: sends the request; false if the target has stopped.
    bool start(loop_shared& target, std::coroutine_handle<> caller);
    /// Caller side, from its scope's cancellation: asks the target to
    /// cancel the work (once); the result still comes back.
    void request_cancel() noexcept;
    /// Caller side: the awaiting frame goes away without being resumed.
    void abandon() noexcept;

    std::atomic<int> refs{1};
    node request, reply, cancel;
    loop_shared* target = nullptr;
    std::shared_ptr<loop_shared> home; // where the reply goes
    std::coroutine_handle<> caller;    // home thread only
    bool cancel_sent = false;          // home thread only
    cancel_scope scope;                // target thread only, once the request is there
    std::exception_ptr error;          // the work's exception
    std::error_code failure;           // loop_closed: the work never ran
};

template <class T>
struct remote_call_of final : remote_call {
    explicit remote_call_of(task<T> t) : work(std::move(t)) {}
    task<> run() override;
    void drop_work() noexcept override { work = task<T>{}; }
    task<T> work;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
};

template <class T>
task<> remote_call_of<T>::run() {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await scope.run(std::move(work));
            value.emplace(true);
        } else {
            value.emplace(co_await scope.run(std::move(work)));
        }
    } catch (...) {
        error = std::current_exception();
    }
}

/// Links a run_on wait into the caller's scope (see run_on_awaitable).
void attach_remote(cancel_scope* scope, wait_link& link, remote_call& call) noexcept;

} // namespace detail

/// The awaitable returned by run_on: co_await it once (see run_on for what
/// it yields, its errors and its cancellation). Nothing is sent until it is
/// awaited: destroyed unawaited, it destroys the task unrun.
template <class T>
class [[nodiscard]] run_on_awaitable {
public:
    /// What co_await yields: `result<T>`, or for a `task<result<U>>` that
    /// `result<U>` as it is (`result<void>` for a `task<void>`).
    using result_type = typename detail::run_on_result<T>::type;

    /// Takes `t` to run on `target` once awaited (made by run_on()).
    /// Allocates the state both loops share: throws std::bad_alloc.
    run_on_awaitable(loop_handle target, task<T> t)
        : target_(std::move(target)), call_(new detail::remote_call_of<T>(std::move(t))) {}
    /// Takes over an unawaited call; `o` is left empty and must not be
    /// awaited.
    run_on_awaitable(run_on_awaitable&& o) noexcept
        : target_(std::move(o.target_)), call_(std::exchange(o.call_, nullptr)) {}
    run_on_awaitable& operator=(run_on_awaitable&&) = delete;
    ~run_on_awaitable() {
        link_.detach();
        if (call_ == nullptr) return;
        if (suspended_) call_->abandon();
        call_->release();
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_scope* scope = detail::scope_of(h);
        if (scope != nullptr && scope->cancelled()) {
            call_->failure = std::make_error_code(std::errc::operation_canceled);
            return false;
        }
        detail::loop_shared* t = detail::handle_access::shared(target_);
        if (t == nullptr || !call_->start(*t, h)) return false;
        suspended_ = true;
        detail::attach_remote(scope, link_, *call_);
        return true;
    }
    result_type await_resume() {
        link_.detach();
        suspended_ = false;
        auto& c = *call_;
        if (c.error) std::rethrow_exception(c.error);
        if (!c.value) return c.failure ? c.failure : make_error_code(error::loop_closed);
        if constexpr (std::is_void_v<T>)
            return {};
        else
            return std::move(*c.value);
    }

private:
    loop_handle target_;
    detail::remote_call_of<T>* call_;
    detail::wait_link link_;
    bool suspended_ = false;
};

/// Runs `t` on the loop behind `target` and resumes the caller on its own
/// loop with the outcome: `t`'s value (a `result<U>` comes back as it is),
/// its exception rethrown, or error::loop_closed when the target has
/// stopped before `t` could begin (`t` is then destroyed unrun).
/// Cancellation is request + join from either side: cancelling the
/// caller's scope cancels `t` there and waits for it (its real value wins
/// if it finished first); the target's own teardown cancelling `t` reaches
/// the caller as `t`'s outcome. If the caller's scope is already cancelled
/// when it awaits, `t` is not sent and the result is operation_canceled.
/// The call costs one allocation (the state both loops share).
template <class T>
run_on_awaitable<T> run_on(const loop_handle& target, task<T> t) {
    return run_on_awaitable<T>(target, std::move(t));
}

namespace detail {
inline loop_shared* handle_access::shared(const loop_handle& h) noexcept {
    return h.shared_.get();
}
inline loop_handle handle_access::make(std::shared_ptr<loop_shared> s) noexcept {
    return loop_handle(std::move(s));
}
} // namespace detail

} // namespace coronet
