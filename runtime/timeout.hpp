#pragma once
/// \file
/// Timeouts: cancellation with a clock.
///
///     auto n = co_await coronet::with_timeout(2s, conn.recv(buf));
///     if (!n && n.error() == coronet::error::timed_out) ...
///     auto r = co_await coronet::timeout_at(deadline, whole_exchange(conn)); // a task
///
/// The awaitable or task runs inside a fresh cancel_scope; when the deadline
/// passes first, the scope is cancelled (request + join, see cancel_scope.hpp)
/// and the result becomes error::timed_out. If the operation completed anyway
/// (bytes arrived at the deadline, a connection was accepted), its real result
/// is returned: nothing is lost. A result<X> passes through as result<X>;
/// other types T come back as result<T> (void: result<void>, timed_out when the
/// deadline fired). Cancelling an outer scope gives operation_canceled, not
/// timed_out. No allocation: the scope and the timer live in the awaitable.
/// On io_uring, a timeout around a single I/O operation is a linked timeout
/// (IORING_OP_LINK_TIMEOUT, absolute): the kernel cancels the operation at the
/// deadline, with no loop timer at all.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/detail/timer_heap.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/timer.hpp"

#include <chrono>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace coronet {

class event_loop;

namespace detail {

template <class T>
struct as_result {
    using type = result<T>;
};
template <class T>
struct as_result<result<T>> {
    using type = result<T>;
};
template <>
struct as_result<sleep_result> {
    using type = result<void>;
};

/// A loop timer that cancels a scope as timed out when it fires.
class deadline {
public:
    deadline() noexcept = default;
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    ~deadline() { disarm(); }
    /// Arms on the current loop; a deadline already past cancels at once.
    void arm(cancel_scope& scope, clock::time_point when);
    /// Lets the kernel enforce `when` for the one operation awaited directly
    /// in `scope` (io_uring linked timeout) instead of a loop timer. False
    /// where the backend cannot, or the deadline has already passed.
    bool link(cancel_scope& scope, clock::time_point when, const operation& op);
    void disarm() noexcept;

private:
    timer_node node_;
    event_loop* loop_ = nullptr;
    mono_timespec abs_{};
};

} // namespace detail

/// The awaitable returned by with_timeout and timeout_at: co_await it once
/// for a result_type.
template <class A>
class [[nodiscard]] timeout_awaitable {
public:
    /// What awaiting `A` yields.
    using inner_result = detail::await_result_t<A>;
    /// What co_await yields: `result<X>` for an `A` that yields `result<X>`
    /// or X, `result<void>` for void or a sleep.
    using result_type = typename detail::as_result<inner_result>::type;

    /// Awaits `a` until `when` (made by with_timeout and timeout_at).
    timeout_awaitable(clock::time_point when, A&& a)
        : when_(when), inner_(scope_, std::forward<A>(a)) {}
    /// Only before it is awaited (so it can be nested in another wrapper).
    timeout_awaitable(timeout_awaitable&& o)
        : when_(o.when_), inner_(scope_, std::move(o.inner_).take()) {}

    bool await_ready() { return inner_.await_ready(); }
    template <class P>
    auto await_suspend(std::coroutine_handle<P> h) {
        if constexpr (std::is_base_of_v<detail::io_awaitable, std::remove_cvref_t<A>>)
            linked_ = deadline_.link(scope_, when_, inner_.inner().op);
        if (!linked_) deadline_.arm(scope_, when_);
        return inner_.await_suspend(h);
    }
    result_type await_resume() {
        deadline_.disarm();
        if constexpr (std::is_void_v<inner_result>) {
            inner_.await_resume();
            if (expired()) return make_error_code(error::timed_out);
            return {};
        } else {
            result_type r = inner_.await_resume();
            if constexpr (std::is_base_of_v<result_type, inner_result>) {
                if (!r && r.error() == std::errc::operation_canceled && expired())
                    return make_error_code(error::timed_out);
            }
            return r;
        }
    }

private:
    // A linked timeout cancels in the kernel: the scope never hears of it.
    bool expired() const noexcept {
        return scope_.timed_out() || (linked_ && !scope_.cancelled() && clock::now() >= when_);
    }
    clock::time_point when_;
    bool linked_ = false;
    cancel_scope scope_;
    cancel_scope::scoped<A> inner_;
    detail::deadline deadline_;
};

/// Awaits `a` (an awaitable or a task) until `when` at the latest: its
/// result, or error::timed_out when `when` passes first (then `a` is cancelled
/// and joined, and a result it reached anyway is returned instead).
/// Cancelling the caller's scope gives operation_canceled, not timed_out.
template <class A>
timeout_awaitable<A> timeout_at(clock::time_point when, A&& a) {
    return timeout_awaitable<A>(when, std::forward<A>(a));
}

/// Awaits `a` for at most `d`: timeout_at(now + d, a).
template <class Rep, class Period, class A>
timeout_awaitable<A> with_timeout(std::chrono::duration<Rep, Period> d, A&& a) {
    return timeout_awaitable<A>(clock::now() + std::chrono::ceil<clock::duration>(d),
                                std::forward<A>(a));
}

} // namespace coronet
