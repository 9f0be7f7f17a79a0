#pragma once
// The base of every I/O awaitable: holds the operation in the awaiting
// coroutine's frame and hands it to the current loop's backend.

#include "runtime/detail/operation.hpp"

#include <coroutine>

namespace coronet::detail {

/// Starts `op` for coroutine `h` on the current loop. Returns true if `h`
/// must stay suspended (the loop resumes it on completion), false if the
/// result is already in `op` and `h` may continue at once. Throws
/// std::logic_error when no loop is running.
bool start_operation(operation& op, std::coroutine_handle<> h);

struct io_awaitable {
    io_awaitable() noexcept = default;
    // The operation's address is the kernel's key: awaitables never move.
    io_awaitable(const io_awaitable&) = delete;
    io_awaitable& operator=(const io_awaitable&) = delete;

    operation op;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) { return start_operation(op, h); }
};

} // namespace coronet::detail
