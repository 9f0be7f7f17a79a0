#pragma once
// Graceful shutdown for the example servers, in one place. After the first
// SIGINT/SIGTERM a server stops accepting and calls shut_down(): its open
// connections get the grace period to finish; the end of the grace period,
// or a second SIGINT/SIGTERM, cancels the rest at once. It prints
//   shutting down: finishing N connection(s)
// and, if any had to be cancelled,
//   grace period over: cancelled N connection(s)     (or "second signal: ...")
// Either way the server then exits 0. A server of several loops (run_loops)
// does the same on every loop, the group's stop levels standing for the
// signals (group_context::stopped(1) and stopped(2)).

#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/when_all.hpp>

#include <chrono>
#include <cstddef>
#include <fmt/core.h>
#include <utility>

namespace example {

/// co_await → the next signal of `s`: a task, to race a server in when_any.
inline coronet::task<coronet::result<int>> next_signal(coronet::signal_set& s) {
    co_return co_await s.wait();
}

namespace detail {

inline coronet::task<> join_all(coronet::task_group& connections) {
    co_await connections.join();
}

struct grace_end {
    bool hurried = false;    ///< told to hurry (a second signal), else the deadline
    std::size_t running = 0; ///< connections still open then: about to be cancelled
};

template <class Hurry>
coronet::task<grace_end> grace_period(coronet::task<Hurry> hurry, std::chrono::milliseconds grace,
                                      const coronet::task_group& connections) {
    auto told = co_await coronet::with_timeout(grace, std::move(hurry));
    co_return grace_end{told.has_value(), connections.size()};
}

} // namespace detail

/// co_await: waits until every connection has finished, at most `grace` or
/// until `hurry` completes (a second signal, or a group's stop level 2);
/// then cancels what is left and waits for it to end (when_any joins the
/// loser).
template <class Hurry>
coronet::task<> shut_down(coronet::task_group& connections, coronet::task<Hurry> hurry,
                          std::chrono::milliseconds grace) {
    fmt::print("shutting down: finishing {} connection(s)\n", connections.size());
    auto first = co_await coronet::when_any(
        detail::join_all(connections), detail::grace_period(std::move(hurry), grace, connections));
    if (first.index == 1) {
        const detail::grace_end& end = *std::get<1>(first.results);
        fmt::print("{}: cancelled {} connection(s)\n",
                   end.hurried ? "second signal" : "grace period over", end.running);
    }
}

/// shut_down for a one-loop server: a second signal of `signals` hurries it.
inline coronet::task<> shut_down(coronet::task_group& connections, coronet::signal_set& signals,
                                 std::chrono::milliseconds grace) {
    return shut_down(connections, next_signal(signals), grace);
}

} // namespace example
