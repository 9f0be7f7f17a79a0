#pragma once
// Graceful shutdown for the example servers, in one place. After the first
// SIGINT/SIGTERM a server stops accepting and calls shut_down(): its open
// connections get the grace period to finish; the end of the grace period,
// or a second SIGINT/SIGTERM, cancels the rest at once. It prints
//   shutting down: finishing N connection(s)
// and, if any had to be cancelled,
//   grace period over: cancelled N connection(s)     (or "second signal: ...")
// Either way the server then exits 0.

#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/when_all.hpp>

#include <chrono>
#include <cstddef>
#include <fmt/core.h>

namespace example {

namespace detail {

inline coronet::task<> join_all(coronet::task_group& connections) {
    co_await connections.join();
}

struct grace_end {
    bool signalled = false;  ///< a second signal ended it (else the deadline)
    std::size_t running = 0; ///< connections still open then: about to be cancelled
};

inline coronet::task<grace_end> grace_period(coronet::signal_set& signals,
                                             std::chrono::milliseconds grace,
                                             const coronet::task_group& connections) {
    auto sig = co_await coronet::with_timeout(grace, signals.wait());
    co_return grace_end{sig.has_value(), connections.size()};
}

} // namespace detail

/// co_await: waits until every connection has finished, at most `grace` or
/// until `signals` delivers another signal; then cancels what is left and
/// waits for it to end (when_any joins the loser).
inline coronet::task<> shut_down(coronet::task_group& connections, coronet::signal_set& signals,
                                 std::chrono::milliseconds grace) {
    fmt::print("shutting down: finishing {} connection(s)\n", connections.size());
    auto first = co_await coronet::when_any(detail::join_all(connections),
                                            detail::grace_period(signals, grace, connections));
    if (first.index == 1) {
        const detail::grace_end& end = *std::get<1>(first.results);
        fmt::print("{}: cancelled {} connection(s)\n",
                   end.signalled ? "second signal" : "grace period over", end.running);
    }
}

} // namespace example
