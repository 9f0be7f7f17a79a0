#pragma once
/// \file
/// hand_off: one accepting loop hands accepted connections to other loops.
///
///     // on loop 0 of a group (run_loops):
///     co_await coronet::hand_off(listener, g.loops(),
///                                [](coronet::tcp_stream c) { return echo(std::move(c)); });
///
/// The other way to share a port is a SO_REUSEPORT listener per loop
/// (tcp_listener::bind_reuse_port): no message per connection, but the
/// kernel spreads connections by a hash of the client's address, so a few
/// clients, or a few heavy ones, can load the loops unevenly. hand_off
/// spreads them evenly (in turn, or to the least-loaded loop) for the cost
/// of one cross-loop message per connection, and works for Unix sockets,
/// which have no SO_REUSEPORT.

#include "coronet/runtime/detail/loop_shared.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/loop_handle.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <atomic>
#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

namespace coronet {

/// How hand_off picks the loop for a connection.
enum class handoff_policy {
    round_robin,  ///< each loop in turn
    least_loaded, ///< the loop with the fewest handed-off connections still open
};

namespace detail {

/// Runs `t` (on the target loop), counting it in that loop's load meanwhile.
inline task<> counted(task<> t, loop_shared* where) {
    struct uncount {
        loop_shared* s;
        ~uncount() { s->load.fetch_sub(1, std::memory_order_relaxed); }
    } guard{where};
    co_await std::move(t);
}

/// The loop for the next connection, or -1 when every target has stopped.
inline std::ptrdiff_t pick_target(std::span<const loop_handle> targets, handoff_policy policy,
                                  std::size_t& turn) noexcept {
    const std::size_t n = targets.size();
    std::ptrdiff_t best = -1;
    std::size_t best_load = 0;
    for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (turn + k) % n;
        if (!targets[i].is_open()) continue;
        if (policy == handoff_policy::round_robin) {
            best = static_cast<std::ptrdiff_t>(i);
            break;
        }
        std::size_t load = handle_access::shared(targets[i])->load.load(std::memory_order_relaxed);
        if (best < 0 || load < best_load) {
            best = static_cast<std::ptrdiff_t>(i);
            best_load = load;
        }
    }
    turn = best < 0 ? turn : static_cast<std::size_t>(best) + 1; // ties rotate
    return best;
}

} // namespace detail

/// Accepts on `listener` (a tcp_listener or unix_listener on this loop) and
/// runs `handler(conn)`, a task<>, on one of `targets` for each connection,
/// as spawn_on does (the target owns it; an escaping exception is reported
/// there). Out of fds, it refuses a client and goes on (accept_or_refuse).
/// A target that has stopped is skipped (a connection sent to it as it
/// stopped is closed, never leaked). co_await → result<void>, only when it
/// ends: operation_canceled (the awaiting scope was cancelled or the
/// listener closed: the normal way to stop it), error::loop_closed (every
/// target has stopped), or the accept error that ended it.
template <class Listener, class Handler>
task<result<void>> hand_off(Listener& listener, std::span<const loop_handle> targets,
                            Handler handler, handoff_policy policy = handoff_policy::round_robin) {
    std::size_t turn = 0;
    for (;;) {
        auto conn = co_await listener.accept_or_refuse();
        if (!conn) {
            if (conn.error() == std::errc::too_many_files_open) continue; // one refused
            co_return conn.error();
        }
        std::ptrdiff_t i = detail::pick_target(targets, policy, turn);
        if (i < 0) co_return make_error_code(error::loop_closed);
        const loop_handle& target = targets[static_cast<std::size_t>(i)];
        (void)conn->forget_loop(); // nothing of it is known here: it cannot have data pending
        detail::loop_shared* where = detail::handle_access::shared(target);
        where->load.fetch_add(1, std::memory_order_relaxed);
        if (!spawn_on(target, detail::counted(handler(std::move(*conn)), where))) {
            // It stopped between the check and the send: the task, and with
            // it the connection, was destroyed here; the next one goes on.
            where->load.fetch_sub(1, std::memory_order_relaxed);
        }
    }
}

} // namespace coronet
