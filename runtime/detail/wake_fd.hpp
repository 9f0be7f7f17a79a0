#pragma once
// The eventfd through which other threads wake a loop blocked in its backend
// (event_loop::post, a pool job finishing). Both backends wait on it: epoll
// has it in its set, io_uring keeps a read of it in the ring.

#include <cstdint>

namespace coronet::detail {

class wake_fd {
public:
    /// Throws std::system_error when no eventfd can be made.
    wake_fd();
    ~wake_fd();
    wake_fd(const wake_fd&) = delete;
    wake_fd& operator=(const wake_fd&) = delete;

    int fd() const noexcept { return fd_; }
    /// Makes the fd readable. Thread-safe and async-signal-safe.
    void signal() noexcept;
    /// Consumes pending signals (epoll; io_uring reads through the ring).
    void clear() noexcept;

private:
    int fd_ = -1;
};

} // namespace coronet::detail
