#pragma once
/// \class coronet::fd_reserve
/// coronet::fd_reserve: one file descriptor held back for the moment the
/// process runs out of them (the reserve-fd technique of libuv and libev).
///
/// At its fd limit a server cannot accept: accept(2) fails with EMFILE at once,
/// even while no client is waiting, and clients in the backlog wait for an
/// answer that never comes. With a reserve, the server gives the slot back,
/// accepts one client, closes that connection at once (the client sees a reset
/// instead of hanging) and takes the slot again. tcp_listener and
/// unix_listener do this in accept_or_refuse(); a program needs fd_reserve
/// itself only to apply the technique to another accept loop.
///
///     coronet::fd_reserve spare;
///     spare.acquire();          // at start-up, while fds are free
///     ...                       // out of fds:
///     spare.release();          // one slot free again
///     ...                       // accept, close, then:
///     spare.acquire();
///
/// The spare is "/" opened read-only and close-on-exec: it exists on every
/// system, and holding it costs nothing but the slot. Nothing here waits, so
/// there is nothing to cancel. Not thread-safe; a reserve belongs to the
/// thread that uses it.

#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"
#include "coronet/runtime/timer.hpp"

#include <cerrno>
#include <chrono>
#include <system_error>
#include <utility>

namespace coronet {

class fd_reserve {
public:
    /// Holds nothing yet (see acquire()).
    fd_reserve() noexcept = default;
    /// Takes over `o`'s spare, if it holds one; `o` then holds nothing.
    fd_reserve(fd_reserve&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    /// Closes this reserve's own spare, if any, then takes over `o`'s;
    /// `o` then holds nothing.
    fd_reserve& operator=(fd_reserve&& o) noexcept {
        if (this != &o) {
            release();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    /// Closes the spare, if held.
    ~fd_reserve() { release(); }

    /// Opens the spare if it is not held; true once it is held (at once if it
    /// already was). False when it cannot be opened, as when the process has
    /// no fd to spare (EMFILE, ENFILE): call again once fds are freed.
    bool acquire() noexcept;
    /// Closes the spare, freeing its slot. Idempotent.
    void release() noexcept;
    /// Whether the spare is held now (acquire() succeeded, release() not
    /// called since).
    bool held() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

namespace detail {

inline bool out_of_fds(const std::error_code& e) noexcept {
    return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system;
}

/// Closes an accepted connection so that the peer sees a reset at once
/// (SO_LINGER with a zero timeout; on a Unix socket, a plain close).
void refuse_connection(int fd) noexcept;

/// listener.accept(), and at the fd limit the reserve-fd technique: see
/// tcp_listener::accept_or_refuse.
template <class Listener>
auto accept_or_refuse(Listener& listener, fd_reserve& spare)
    -> task<await_result_t<decltype(listener.accept())>> {
    using namespace std::chrono_literals;
    for (;;) {
        if (listener.is_open()) spare.acquire(); // the first call, or a slot not taken back
        auto conn = co_await listener.accept();
        if (conn || !out_of_fds(conn.error())) co_return std::move(conn);
        if (!spare.held()) {
            // Nothing to give back: pause rather than spin on EMFILE.
            if (auto slept = co_await sleep_for(100ms); !slept) co_return slept.error();
            continue;
        }
        spare.release();
        auto victim = co_await listener.accept(); // waits if no client is queued
        if (!victim) {
            if (listener.is_open()) spare.acquire();
            co_return std::move(victim); // cancelled, or the slot was taken by someone else
        }
        if (spare.acquire()) co_return std::move(victim); // fds were freed meanwhile: serve it
        refuse_connection(victim->native_handle());
        victim->close();
        spare.acquire();
        co_return std::make_error_code(std::errc::too_many_files_open);
    }
}

} // namespace detail
} // namespace coronet
