#pragma once
/// \class coronet::task_group
/// coronet::task_group: a nursery. Tasks spawned into it run concurrently and
/// are joined by join(); the first failure cancels the rest.
///
///     task_group group;
///     for (auto& c : conns) group.spawn(handle(std::move(c)));
///     co_await group.join();   // all finished; rethrows the first exception
///
/// Failure: an exception escaping a child cancels the group (every sibling's
/// waits complete with operation_canceled) and is rethrown by join() once all
/// children have finished; later exceptions are reported on stderr, never
/// swallowed.
///
/// Cancellation: the group's children run in the group's cancel_scope. It is
/// nested in the scope of the coroutine that awaits join() (until then, in the
/// loop's), so cancelling that coroutine or a timeout around join() cancels the
/// children; join() still waits for them to finish (request + join).
///
/// A group must be joined before it is destroyed. If it is not, its children
/// are cancelled, handed to the loop to finish, and a warning is printed.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/event_loop.hpp"
#include "coronet/runtime/task.hpp"

#include <coroutine>
#include <cstddef>
#include <exception>

namespace coronet {

class task_group {
public:
    class join_awaitable;

    /// Needs a running loop (std::logic_error otherwise). `parent` is the
    /// scope to nest in until join() picks the joiner's (default: the loop's).
    explicit task_group(cancel_scope* parent = nullptr);
    ~task_group();
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// Starts `t` in the group (it runs from the loop's next turn on, in the
    /// group's scope). A group already cancelled starts it too: its waits then
    /// fail at once with operation_canceled.
    void spawn(task<> t);
    /// Cancels every child (see cancel_scope::cancel).
    void cancel() noexcept { scope_.cancel(); }
    /// Children still running.
    std::size_t size() const noexcept { return running_; }
    /// True once cancel() was called, a child failed, or the scope around
    /// the group was cancelled.
    bool cancelled() const noexcept { return scope_.cancelled(); }

    /// co_await: waits until every child has finished, then rethrows the
    /// first exception a child raised, if any. Cancelling the joiner (its
    /// scope, a timeout around join()) cancels the children, and join()
    /// still waits for them to finish.
    join_awaitable join() noexcept;

private:
    // What the children report to; outlives the group if the group is
    // destroyed before they finish (one allocation per group).
    struct state final : detail::child_observer {
        task_group* group = nullptr;
        std::size_t children = 0;
        void child_done(std::exception_ptr error) noexcept override;
    };
    void on_child_done(std::exception_ptr error) noexcept;
    event_loop& loop_;
    state* state_;
    cancel_scope scope_;
    std::size_t running_ = 0;
    std::exception_ptr first_error_;
    std::coroutine_handle<> joiner_;
};

/// The awaitable returned by task_group::join: co_await it once.
class [[nodiscard]] task_group::join_awaitable {
public:
    /// A join of `g` (made by join()).
    explicit join_awaitable(task_group& g) noexcept : group_(g) {}
    bool await_ready() const noexcept { return group_.running_ == 0; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
        suspend(h, detail::scope_of(h));
    }
    void await_resume();

private:
    void suspend(std::coroutine_handle<> h, cancel_scope* scope) noexcept;
    task_group& group_;
};

inline task_group::join_awaitable task_group::join() noexcept {
    return join_awaitable(*this);
}

namespace detail {
/// co_await current_scope() → the awaiting coroutine's cancel_scope (or null).
struct current_scope {
    cancel_scope* scope = nullptr;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        scope = scope_of(h);
        return false;
    }
    cancel_scope* await_resume() const noexcept { return scope; }
};
} // namespace detail

} // namespace coronet
