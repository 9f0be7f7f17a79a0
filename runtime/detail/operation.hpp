#pragma once
// The record of one I/O request. An operation lives inside the awaitable that
// the awaiting coroutine keeps in its frame, so a request costs no heap
// allocation; its address is the backend's key for it (io_uring user_data).
//
// Operations describe; backends execute: nothing here makes a syscall. Every
// field means one thing; where an operation is in its life is `state`, which
// only the backends change, through set_state() (the allowed transitions are
// the table in DESIGN.md, "An operation's life", checked in debug builds).

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <sys/socket.h>

namespace coronet::detail {

enum class op_kind : std::uint8_t {
    accept,   // buffer: sockaddr out (may be null), addr_len in/out; result: new fd
    connect,  // buffer: const sockaddr*, length: its size; result: 0
    recv,     // buffer/length; result: bytes (0 = EOF)
    send,     // buffer/length; result: bytes sent (maybe fewer)
    send_all, // buffer/length; result: 0 once every byte is sent (progress in `sent`)
    read,     // read(2) on a non-socket fd (eventfd, signalfd); result: bytes
    recvmsg,  // buffer: msghdr*; flags MSG_TRUNC: result is the datagram's full length
    sendmsg,  // buffer: const msghdr*; result: bytes sent
    // A receive into a buffer of the loop's pool, taken when data is there:
    // result bytes (0 = EOF); on success `buffer` is the data and `buffer_id`
    // the pool buffer, which the awaitable turns into a lease.
    recv_pooled,
};

/// True for operations that wait for readability (the rest wait for writability).
constexpr bool is_read_side(op_kind k) noexcept {
    return k == op_kind::accept || k == op_kind::recv || k == op_kind::read ||
           k == op_kind::recvmsg || k == op_kind::recv_pooled;
}

/// Where an operation is in its life.
enum class op_state : std::uint8_t {
    idle,       // built, not started
    in_kernel,  // a request for it is in the kernel (io_uring: queued in the SQ or submitted)
    parked,     // waits outside the kernel: an epoll wait list, a socket's multishot waiters
    pool_wait,  // waits for a receive-pool buffer to come back
    polling,    // io_uring plain pooled receive: a POLL_ADD waits for readability
    zc_notify,  // io_uring zero-copy send: result in, the kernel still holds the buffer
    cancelling, // in the kernel and asked to stop; its completion follows
    done,       // result set; the waiter is resumed (or continues at once)
};
inline constexpr int op_state_count = 8;

/// The allowed transitions, from → to (DESIGN.md has the same table).
constexpr bool transition_allowed(op_state from, op_state to) noexcept {
    using s = op_state;
    constexpr auto bit = [](s x) { return 1u << static_cast<unsigned>(x); };
    constexpr unsigned allowed[op_state_count] = {
        /* idle */ bit(s::in_kernel) | bit(s::parked) | bit(s::pool_wait) | bit(s::polling) |
            bit(s::done),
        /* in_kernel: resubmitted (send_all's rest, a retry after EAGAIN), first CQE of a
           zero-copy send, plain pooled receive back to polling */
        bit(s::in_kernel) | bit(s::zc_notify) | bit(s::polling) | bit(s::cancelling) | bit(s::done),
        /* parked: epoll finds its socket readable but the pool empty */
        bit(s::pool_wait) | bit(s::done),
        /* pool_wait: io_uring plain receives with the buffer; epoll waits for the edge */
        bit(s::in_kernel) | bit(s::parked) | bit(s::done),
        /* polling */ bit(s::in_kernel) | bit(s::pool_wait) | bit(s::cancelling) | bit(s::done),
        /* zc_notify: send_all goes on with the rest */
        bit(s::in_kernel) | bit(s::cancelling) | bit(s::done),
        /* cancelling: a zero-copy send's first CQE keeps it cancelling */
        bit(s::cancelling) | bit(s::done),
        /* done */ 0,
    };
    return (allowed[static_cast<unsigned>(from)] & bit(to)) != 0;
}

/// An absolute CLOCK_MONOTONIC time (std::chrono::steady_clock's clock), laid
/// out like the kernel's __kernel_timespec.
struct mono_timespec {
    std::int64_t tv_sec;
    long long tv_nsec;
};

// Fields without an initializer are written before they are read: result
// by the completion, the list links by every push, buffer_id where a backend
// lends a buffer. Building an operation (twice per echoed message) stores
// only what may be read before that.
struct operation {
    op_kind kind = op_kind::recv;
    op_state state = op_state::idle;
    bool zero_copy = false;  // io_uring: this request went out as SEND_ZC
    std::uint16_t buffer_id; // recv_pooled: the pool buffer holding the data
    int fd = -1;
    int result;             // >= 0 value, < 0 is -errno
    void* buffer = nullptr; // data buffer, msghdr, or the address for accept/connect
    std::size_t length = 0;
    std::size_t sent = 0;                    // send_all: bytes sent so far
    socklen_t addr_len = 0;                  // accept: in/out length of the peer address
    const mono_timespec* deadline = nullptr; // io_uring: cancel via a linked timeout
    std::coroutine_handle<> waiter;          // (a handle's own constructor nulls it)
    operation* prev;                         // backend list links (an fd's requests, a wait list)
    operation* next;
};

/// Moves `op` to `to`; the transition must be in the table.
inline void set_state(operation& op, op_state to) noexcept {
    assert(transition_allowed(op.state, to) && "operation state transition not in the table");
    op.state = to;
}

/// Whether `op` waits somewhere a cancel can reach without the kernel.
constexpr bool waits_outside_kernel(op_state s) noexcept {
    return s == op_state::parked || s == op_state::pool_wait;
}

} // namespace coronet::detail
