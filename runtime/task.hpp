#pragma once
/// \class coronet::task
/// coronet::task<T>: a lazy coroutine that produces a T (or throws).
///
/// A task starts when it is awaited (or handed to run()/spawn()) and resumes
/// its awaiter by symmetric transfer when it finishes, so chains of tasks
/// awaiting tasks do not grow the stack. Exceptions propagate to the awaiter.
///
/// Cancellation: an awaited task runs in its awaiter's cancel_scope, so
/// cancelling that scope cancels whatever the task waits on. Destroying a task
/// that has not finished destroys its frame (the loop does this only at
/// teardown, after every operation inside it has been cancelled and joined).
///
/// Frames come from the thread's frame pool (DESIGN.md, "Memory"): once it
/// has warmed up, creating and finishing tasks allocates nothing.

#include "coronet/runtime/detail/frame_pool.hpp"

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>

namespace coronet {

template <class T = void>
class task;
class cancel_scope;

namespace detail {

struct task_promise_base {
    std::coroutine_handle<> continuation = std::noop_coroutine();
    std::exception_ptr error;
    cancel_scope* scope = nullptr; // where this coroutine's waits are cancelled from

    // The frame: from the thread's pool, returned with its size (no header).
    static void* operator new(std::size_t n) { return frame_pool::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_pool::deallocate(p, n); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            return h.promise().continuation;
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
    void rethrow_if_failed() {
        if (error) std::rethrow_exception(error);
    }
};

template <class T>
struct task_promise : task_promise_base {
    std::optional<T> value;
    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
    T take() {
        rethrow_if_failed();
        return std::move(*value);
    }
};

template <>
struct task_promise<void> : task_promise_base {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_failed(); }
};

template <class T>
struct task_awaiter {
    std::coroutine_handle<task_promise<T>> h;
    bool await_ready() const noexcept { return !h || h.done(); }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
        h.promise().continuation = caller;
        if constexpr (requires { caller.promise().scope; })
            h.promise().scope = caller.promise().scope; // inherit cancellation
        return h;
    }
    T await_resume() { return h.promise().take(); }
};

} // namespace detail

/// A lazily started coroutine returning T. Move-only; owns its frame.
template <class T>
class [[nodiscard]] task {
public:
    /// The coroutine's promise (what the compiler uses).
    using promise_type = detail::task_promise<T>;
    /// The coroutine handle handle() returns.
    using handle_type = std::coroutine_handle<promise_type>;

    /// An empty task (valid() is false).
    task() noexcept = default;
    /// Takes ownership of the coroutine `h` (the promise makes tasks this way).
    explicit task(handle_type h) noexcept : h_(h) {}
    /// Takes over `o`'s coroutine; `o` becomes empty.
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    /// Destroys this task's coroutine, if any, then takes over `o`'s.
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~task() { reset(); }

    /// True once the coroutine has run to completion (value or exception).
    bool done() const noexcept { return !h_ || h_.done(); }
    /// True while the task owns a coroutine (false once moved from).
    bool valid() const noexcept { return static_cast<bool>(h_); }

    /// Starts the task (symmetric transfer) and resumes the awaiter when it ends.
    detail::task_awaiter<T> operator co_await() && noexcept { return {h_}; }

    /// The finished task's value, or its exception rethrown. Only after done().
    T take_result() { return h_.promise().take(); }
    /// The coroutine handle, for the event loop. The task keeps ownership.
    handle_type handle() const noexcept { return h_; }

private:
    void reset() noexcept {
        if (h_) h_.destroy();
        h_ = {};
    }
    handle_type h_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

} // namespace coronet
