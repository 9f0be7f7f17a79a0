#pragma once
// The base of every I/O awaitable: holds the operation in the awaiting
// coroutine's frame and hands it to the current loop's backend.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/operation.hpp"

#include <coroutine>

namespace coronet::detail {

/// Starts `op` for coroutine `h` on the current loop, cancellable through
/// `scope` (may be null). Returns true if `h` must stay suspended (the loop
/// resumes it on completion), false if the result is already in `op` (an
/// inline completion, or -ECANCELED because the scope is cancelled) and `h`
/// may continue at once. Throws std::logic_error when no loop is running.
bool start_operation(operation& op, wait_link& link, std::coroutine_handle<> h,
                     cancel_scope* scope);

struct io_awaitable {
    io_awaitable() noexcept = default;
    // Moving is allowed only before the awaitable is awaited: once started,
    // the operation's address is the kernel's key.
    io_awaitable(io_awaitable&&) noexcept = default;
    io_awaitable& operator=(io_awaitable&&) = delete;

    operation op;
    wait_link link;

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return start_operation(op, link, h, scope_of(h));
    }
    /// The kernel-style result; leaves the cancel scope. Every await_resume calls it.
    int take_result() noexcept {
        link.detach();
        return op.result;
    }
};

} // namespace coronet::detail
