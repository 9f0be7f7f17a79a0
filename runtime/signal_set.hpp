#pragma once
/// \class coronet::signal_set
/// coronet::signal_set: wait for POSIX signals as ordinary awaitables.
///
///     coronet::signal_set stop{SIGINT, SIGTERM};
///     int sig = (co_await stop.wait()).value();   // SIGINT or SIGTERM
///
/// The constructor blocks the signals in the calling thread (so their default
/// action, e.g. terminating the process, no longer happens) and routes them to
/// a signalfd; the destructor restores the previous mask. Create it on the
/// thread that runs the loop, before other threads start.
///
/// Cancellation: cancelling the enclosing cancel_scope (or a timeout), or
/// destroying the set, cancels a pending wait() with operation_canceled; a
/// signal the kernel had already dequeued for it is returned instead.

#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"

#include <csignal>
#include <initializer_list>
#include <sys/signalfd.h>

namespace coronet {

class signal_set {
public:
    /// Blocks `signals` in this thread and routes them to the set. Throws
    /// std::system_error if signalfd(2) fails.
    signal_set(std::initializer_list<int> signals);
    ~signal_set();
    signal_set(const signal_set&) = delete;
    signal_set& operator=(const signal_set&) = delete;

    /// The awaitable returned by wait(): co_await it once for a `result<int>`.
    class [[nodiscard]] wait_awaitable : public detail::io_awaitable {
    public:
        /// A wait on the set's signalfd `fd` (made by wait()).
        explicit wait_awaitable(int fd) noexcept;
        bool await_ready() noexcept;
        /// The signal number received.
        result<int> await_resume() noexcept;

    private:
        signalfd_siginfo info_{};
    };

    /// co_await → result<int>: the next of the set's signals to arrive (one
    /// delivered before the wait started is returned at once). Errors:
    /// operation_canceled (see Cancellation above).
    wait_awaitable wait() noexcept { return wait_awaitable(fd_); }

private:
    int fd_ = -1;
    sigset_t previous_{};
};

} // namespace coronet
