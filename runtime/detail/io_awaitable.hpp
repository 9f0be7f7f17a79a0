#pragma once
// The base of every I/O awaitable: holds the operation in the awaiting
// coroutine's frame and hands it to the running loop's backend.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/detail/loop_access.hpp"
#include "coronet/runtime/detail/operation.hpp"

#include <cerrno>
#include <coroutine>

namespace coronet::detail {

/// A scope's on_cancel for an I/O operation: the backend's cancel.
void cancel_io(void* op) noexcept;

/// `op` does not start: a cancelled scope (-ECANCELED) or a closed or
/// moved-from socket (-EBADF). Returns false: the coroutine continues.
bool refuse_operation(operation& op, cancel_scope* scope) noexcept;

/// Starts `op` for coroutine `h` on the running loop, cancellable through
/// `scope` (may be null). Returns true if `h` must stay suspended (the loop
/// resumes it on completion), false if the result is already in `op` (an
/// inline completion, or -ECANCELED because the scope is cancelled) and `h`
/// may continue at once. Throws std::logic_error when no loop is running.
[[gnu::always_inline]] inline bool start_operation(operation& op, wait_link& link,
                                                   std::coroutine_handle<> h, cancel_scope* scope) {
    if ((scope != nullptr && scope->cancelled()) || op.fd < 0) [[unlikely]]
        return refuse_operation(op, scope);
    event_loop& loop = running_loop_or_throw();
    op.waiter = h;
    op.deadline = scope != nullptr ? scope_access::linked_deadline(*scope) : nullptr;
    if (!loop_access::io(loop).submit(op)) {
        if (scope != nullptr) scope_access::attach(*scope, link, &op, &cancel_io);
        return true;
    }
    if (loop_access::take_inline_budget(loop)) return false;
    loop_access::schedule(loop, h);
    return true;
}

struct io_awaitable {
    io_awaitable() noexcept = default;
    io_awaitable(op_kind kind, int fd, const void* buffer, std::size_t length) noexcept {
        op.kind = kind;
        op.fd = fd;
        op.buffer = const_cast<void*>(buffer);
        op.length = length;
    }
    // Moving is allowed only before the awaitable is awaited: once started,
    // the operation's address is the kernel's key.
    io_awaitable(io_awaitable&&) noexcept = default;
    io_awaitable& operator=(io_awaitable&&) = delete;

    operation op;
    wait_link link;

    bool await_ready() const noexcept { return false; }
    template <class P>
    [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<P> h) {
        return start_operation(op, link, h, scope_of(h));
    }
    /// The kernel-style result; leaves the cancel scope. Every await_resume calls it.
    int take_result() noexcept {
        link.detach();
        return op.result;
    }
};

} // namespace coronet::detail
