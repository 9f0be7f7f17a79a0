#pragma once
// The part of a loop that other threads may reach (through loop_handle): its
// mailbox, the eventfd that wakes it, and, for io_uring loops of one
// loop_group, a duplicate of its ring fd that other loops' rings post
// IORING_OP_MSG_RING wakeups to. It outlives the loop for as long as a
// handle holds it, so a message sent to a stopped loop fails cleanly
// (mailbox closed) and a late wakeup writes to a live eventfd or ring.

#include "coronet/runtime/detail/mailbox.hpp"
#include "coronet/runtime/detail/wake_fd.hpp"

#include <atomic>
#include <cstddef>
#include <functional>

namespace coronet::detail {

struct loop_group_state;

struct loop_shared {
    loop_shared() = default;
    loop_shared(const loop_shared&) = delete;
    loop_shared& operator=(const loop_shared&) = delete;
    ~loop_shared();

    mailbox box;
    wake_fd wake;
    /// A dup of the loop's io_uring ring fd when its kernel has MSG_RING (-1
    /// otherwise): another io_uring loop of the same group wakes this one by
    /// a MSG_RING from its own ring, batched into its next io_uring_enter.
    std::atomic<int> ring_fd{-1};
    /// The group this loop belongs to (null for a lone loop): MSG_RING is
    /// used only between loops of one group, which outlives all of them.
    loop_group_state* group = nullptr;
    /// Connections handed to this loop and not finished yet (least-loaded).
    std::atomic<std::size_t> load{0};
    /// Set by the loop once it has joined `group` (made its MSG_RING target).
    void join_group_ring(int msg_ring_fd) noexcept;
};

/// Wakes the loop behind `target` after a push that found its box empty:
/// from an io_uring loop of the same group by MSG_RING (no syscall of its
/// own), else through its eventfd. Any thread.
void notify(loop_shared& target) noexcept;

/// Pushes `m` to `target` and wakes it when needed; false if the loop has
/// stopped (`m` was not taken). Any thread.
bool send(loop_shared& target, message* m) noexcept;

/// Sends `fn` to run on `target`'s thread; false if the loop has stopped
/// (`fn` is destroyed unrun). Throws std::bad_alloc.
bool post_to(loop_shared& target, std::function<void()> fn);

} // namespace coronet::detail
