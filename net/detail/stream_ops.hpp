#pragma once
// The awaitables shared by every byte stream (TCP now, Unix sockets later).
// Each holds its operation in the awaiting coroutine's frame.

#include "coronet/runtime/buffer_lease.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <span>

namespace coronet::detail {

/// stream_socket::recv's awaitable: co_await → result<std::size_t>. What each
/// awaitable here does, its errors and its cancellation are documented on the
/// stream_socket member that returns it.
///
/// Cancellation (for every awaitable here): cancelling the enclosing
/// cancel_scope, a timeout, or closing the socket cancels the operation and
/// joins it; if the kernel completed it first, the real result (bytes
/// received or sent) is returned instead of operation_canceled.
struct [[nodiscard]] recv_awaitable : io_awaitable {
    recv_awaitable(int fd, std::span<std::byte> buf) noexcept
        : io_awaitable(op_kind::recv, fd, buf.data(), buf.size()) {}
    result<std::size_t> await_resume() noexcept { return from_syscall<std::size_t>(take_result()); }
};

/// stream_socket::recv_pooled's awaitable: co_await → result<buffer_lease>.
struct [[nodiscard]] recv_pooled_awaitable : io_awaitable {
    explicit recv_pooled_awaitable(int fd) noexcept
        : io_awaitable(op_kind::recv_pooled, fd, nullptr, 0) {}
    result<buffer_lease> await_resume() noexcept {
        int res = take_result();
        if (res < 0) return errno_code(-res);
        if (res == 0) return buffer_lease{}; // EOF: the backend kept no buffer
        return result<buffer_lease>(std::in_place, loop_access::io(*running_loop), op.buffer_id,
                                    static_cast<std::byte*>(op.buffer),
                                    static_cast<std::size_t>(res));
    }
};

/// stream_socket::send's awaitable: co_await → result<std::size_t>.
struct [[nodiscard]] send_awaitable : io_awaitable {
    send_awaitable(int fd, std::span<const std::byte> buf) noexcept
        : io_awaitable(op_kind::send, fd, buf.data(), buf.size()) {}
    result<std::size_t> await_resume() noexcept { return from_syscall<std::size_t>(take_result()); }
};

/// stream_socket::send_all's awaitable: co_await → result<void>.
struct [[nodiscard]] send_all_awaitable : io_awaitable {
    send_all_awaitable(int fd, std::span<const std::byte> buf) noexcept
        : io_awaitable(op_kind::send_all, fd, buf.data(), buf.size()) {}
    result<void> await_resume() noexcept {
        if (int res = take_result(); res < 0) return errno_code(-res);
        return {};
    }
    /// Bytes the kernel has taken so far (after an error or a cancellation too).
    std::size_t bytes_sent() const noexcept { return op.sent; }
};

} // namespace coronet::detail
