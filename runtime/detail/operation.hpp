#pragma once
// The record of one I/O request. An operation lives inside the awaitable that
// the awaiting coroutine keeps in its frame, so a request costs no heap
// allocation; its address is the backend's key for it (io_uring user_data).
//
// Operations describe; backends execute: nothing here makes a syscall.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <sys/socket.h>

namespace coronet::detail {

enum class op_code : std::uint8_t {
    accept,   // buffer: sockaddr out, addr_len in/out; result: new fd
    connect,  // buffer: const sockaddr*, length: its size; result: 0
    recv,     // buffer/length; result: bytes (0 = EOF)
    send,     // buffer/length; result: bytes sent (maybe fewer)
    send_all, // buffer/length; result: 0 when every byte is sent (progress in `done`)
    read,     // read(2) on a non-socket fd (eventfd, signalfd); result: bytes
    recvmsg,  // buffer: msghdr*; flags MSG_TRUNC: result is the datagram's full length
    sendmsg,  // buffer: const msghdr*; result: bytes sent
    // A receive into a buffer of the loop's pool (taken when data is there):
    // result bytes
    // (0 = EOF); on success `buffer` is the data and `buffer_id` the pool
    // buffer, which the awaitable turns into a lease.
    recv_pooled,
};

/// True for operations that wait for readability (the rest wait for writability).
constexpr bool is_read_side(op_code c) noexcept {
    return c == op_code::accept || c == op_code::recv || c == op_code::read ||
           c == op_code::recvmsg || c == op_code::recv_pooled;
}

enum class op_state : std::uint8_t { idle, in_flight, done };

/// An absolute CLOCK_MONOTONIC time (std::chrono::steady_clock's clock), laid
/// out like the kernel's __kernel_timespec.
struct mono_timespec {
    std::int64_t tv_sec;
    long long tv_nsec;
};

struct operation {
    op_code code = op_code::recv;
    op_state state = op_state::idle;
    bool internal = false;         // owned by a backend: completion resumes nobody
    bool cancel_requested = false; // a cancel was asked for: never resubmit
    std::uint16_t buffer_id = 0;   // recv_pooled: the pool buffer holding the data
    int fd = -1;
    int result = 0;         // >= 0 value, < 0 is -errno
    void* buffer = nullptr; // data buffer, or the address for accept/connect
    std::size_t length = 0;
    std::size_t done = 0;                    // send_all: bytes sent so far; connect: started
    socklen_t addr_len = 0;                  // accept: in/out length of the peer address
    const mono_timespec* deadline = nullptr; // io_uring: cancel via a linked timeout
    std::coroutine_handle<> waiter;
    operation* prev = nullptr; // backend list links (in-flight or wait list)
    operation* next = nullptr;
};

} // namespace coronet::detail
