#pragma once
// The epoll backend's class (internal): readiness based. Its code is split
// by concept (DESIGN.md has the file map):
//   epoll_backend.cpp   submit, cancel, close/forget, drain, the wait and its edges
//   epoll_perform.hpp   the syscall each kind of operation makes, and read readiness
//   epoll_pooled.cpp    pooled receives: a pool buffer only when data is there
//
// Each fd is registered once, edge triggered, the first time an operation on
// it would block; every operation tries its syscall first and parks on the
// fd's read or write wait list only on EAGAIN. An edge retries the parked
// operations of that direction in order.
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/fd_table.hpp"

#include <array>
#include <sys/epoll.h>

namespace coronet::detail {

class epoll_backend final : public backend {
public:
    /// Throws std::system_error when epoll cannot be set up.
    epoll_backend(ready_queue& ready, const backend_config& config, wake_fd& wake);
    ~epoll_backend() override;

    backend_kind kind() const noexcept override { return backend_kind::epoll; }
    std::string features() const override { return pwait2_ ? "epoll_pwait2" : "epoll_wait"; }
    bool submit(operation& op) override;
    void cancel(operation& op) noexcept override;
    void close(int fd) noexcept override;
    bool forget(int fd) noexcept override;
    void drain() noexcept override;
    std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) override;
    void release_buffer(std::uint16_t id) noexcept override;

private:
    struct fd_state {
        operation_list readers;
        operation_list writers;
        bool registered = false;
        bool drained = false;     // a receive emptied it; no read edge since
        bool peer_closed = false; // EOF, reset or error seen: receives always try
        /// Known to be empty: a read-side operation parks without a syscall.
        bool known_empty() const noexcept { return drained && !peer_closed && registered; }
    };

    // epoll_backend.cpp
    int wait(std::optional<std::chrono::nanoseconds> timeout);
    int register_fd(int fd, fd_state& st) noexcept;
    bool park(operation& op, fd_state& st, int r);
    void drive(fd_state& st, operation_list& list) noexcept;
    void cancel_all(fd_state& st) noexcept;
    void settle(int fd) noexcept;
    // epoll_perform.hpp
    int attempt(operation& op, fd_state& st) noexcept;
    // epoll_pooled.cpp
    int attempt_pooled(operation& op, fd_state& st) noexcept;
    void give_to_pool_waiter() noexcept;

    int epfd_ = -1;
    bool pwait2_ = true;
    fd_table<fd_state> fds_;
    std::array<epoll_event, 256> events_{};
};

} // namespace coronet::detail
