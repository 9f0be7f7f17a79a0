#pragma once
// What the chat and notification servers share: serve_until_signal, the
// skeleton echo_server.cpp spells out (listen on --host/--port, print the
// listening lines, run one session per connection until SIGINT/SIGTERM, then
// stop accepting, let the program wind its sessions down with `on_stop`, and
// shut down as shutdown.hpp does), and two line helpers.

#include "cli.hpp"
#include "shutdown.hpp"
#include <coronet/net/tcp_listener.hpp>
#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>
#include <coronet/runtime/when_all.hpp>

#include <string_view>

namespace example {

/// Writes `text` through `out` and flushes: sent now, not queued behind
/// anything. co_await → false if the connection failed; a prompt may ignore
/// that, since the next read or write on the connection fails too.
template <class Writer>
coronet::task<bool> say(Writer& out, std::string_view text) {
    auto written = co_await out.write(text);
    if (!written) co_return false;
    auto flushed = co_await out.flush();
    co_return bool(flushed);
}

/// A line without its "\n" or "\r\n" (nc -C and telnet send "\r\n").
inline std::string_view trim(std::string_view line) {
    return line.substr(0, line.find_last_not_of("\r\n") + 1);
}

namespace detail {

template <class Session>
coronet::task<> accept_all(coronet::tcp_listener& listener, coronet::task_group& sessions,
                           Session& session) {
    for (;;) {
        auto conn = co_await listener.accept_or_refuse(); // out of fds: refuses a client
        if (conn)
            sessions.spawn(session(std::move(*conn)));
        else if (conn.error() != std::errc::too_many_files_open)
            co_return; // cancelled: stop accepting
    }
}

} // namespace detail

/// co_await → the exit code: 0 after SIGINT/SIGTERM, 1 (one line on stderr
/// naming the address and the reason) if it cannot listen. `session(conn)`
/// returns the task<> that serves one tcp_stream; `on_stop()` runs once
/// accepting has stopped.
template <class Session, class OnStop>
coronet::task<int> serve_until_signal(const char* prog, options opts, Session session,
                                      OnStop on_stop) {
    coronet::signal_set stop{SIGINT, SIGTERM};
    auto listener = coronet::tcp_listener::bind(opts.address);
    if (!listener) {
        fmt::print(stderr, "{}: cannot listen on {}: {}\n", prog, opts.address,
                   reason(listener.error(), opts));
        co_return 1;
    }
    print_listening(listener->local_address());
    coronet::task_group sessions;
    co_await coronet::when_any(detail::accept_all(*listener, sessions, session), next_signal(stop));
    listener->close();
    on_stop();
    co_await shut_down(sessions, stop, opts.grace);
    co_return 0;
}

} // namespace example
