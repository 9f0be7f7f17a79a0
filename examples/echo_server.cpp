// echo_server: a TCP (or Unix socket) echo server, one coroutine per
// connection, with a graceful shutdown: on SIGINT/SIGTERM it stops accepting,
// lets open connections finish for --grace milliseconds (default 1000), and
// cancels the rest then or at a second signal. Out of fds, it refuses clients
// at once and keeps serving the connections it has (accept_or_refuse).
// --threads N runs N loops, one thread each (0: one per CPU): each loop has
// its own SO_REUSEPORT listener, or with --handoff (always with --unix) loop
// 0 accepts and hands the connections to every loop in turn.
//
// Run:   build/examples/echo_server [--host 127.0.0.1|localhost] [--port 65432] [--backend auto]
//                                   [--fast-paths on|off] [--stats] [--threads N] [--handoff]
//        build/examples/echo_server --unix /tmp/echo.sock      (or --unix @echo: abstract)
// Then:  build/examples/echo_client (or the seed's Python client); Ctrl-C stops it.
#include "cli.hpp"
#include "shutdown.hpp"
#include <coronet/net/handoff.hpp>
#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/unix_listener.hpp>

using namespace coronet;

// Echoes every byte back until the peer closes its side, then closes ours (tcp_stream or
// unix_stream). Data arrives in buffers lent by the loop's pool: memory grows with the
// connections that have data, not with those that wait.
template <class Stream>
task<> echo(Stream conn) {
    for (;;) {
        auto data = co_await conn.recv_pooled();
        if (!data || data->empty()) co_return; // reset, cancelled, or EOF: all echoed
        if (!co_await conn.send_all(data->bytes())) co_return;
    } // each lease gives its buffer back at the end of its iteration
}

template <class Listener>
task<> serve(Listener& listener, task_group& connections) {
    for (;;) {
        auto conn = co_await listener.accept_or_refuse(); // out of fds: refuses a client
        if (conn)
            connections.spawn(echo(std::move(*conn)));
        else if (conn.error() != std::errc::too_many_files_open)
            co_return; // cancelled: stop accepting
    }
}

// A connection handed to this loop (--handoff) joins the loop's own connections.
thread_local task_group* handed_to = nullptr;

template <class Stream>
task<> adopt(Stream conn) {
    if (handed_to != nullptr) handed_to->spawn(echo(std::move(conn))); // else: shutting down
    co_return;
}

// One loop: serves its listener (with --handoff, loop 0 hands every connection on)
// until the group stops, then gives its connections the grace period.
template <class Listener>
task<> run_loop(const group_context& g, Listener* listener, const example::options& opts) {
    task_group connections;
    handed_to = &connections;
    if (g.index() == 0) example::print_listening(listener->local_address());
    if (g.index() == 0) example::print_backend_fallback(opts);
    auto give = [](auto conn) { return adopt(std::move(conn)); };
    if (listener != nullptr && opts.handoff)
        co_await when_any(hand_off(*listener, g.loops(), give), g.stopped());
    else if (listener != nullptr)
        co_await when_any(serve(*listener, connections), g.stopped());
    else
        co_await g.stopped();
    if (listener != nullptr) listener->close(); // a Unix socket's file is removed
    handed_to = nullptr;
    co_await example::shut_down(connections, g.stopped(2), opts.grace);
}

template <class Listener>
int run_server(result<std::vector<Listener>> listeners, const example::options& opts) {
    if (!listeners) {
        fmt::print(stderr, "echo_server: cannot listen on {}: {}\n", example::endpoint(opts),
                   example::reason(listeners.error(), opts));
        return 1;
    }
    std::vector<loop_stats> stats;
    auto loop = [&](const group_context& g) -> task<> {
        Listener* mine = g.index() < listeners->size() ? &(*listeners)[g.index()] : nullptr;
        co_await run_loop(g, mine, opts);
    };
    int code = example::run_loops(loop, opts, "echo_server", true, &stats);
    if (opts.stats && !stats.empty()) example::print_stats(stats);
    return code;
}

template <class Listener>
result<std::vector<Listener>> one(result<Listener> l) {
    if (!l) return l.error();
    std::vector<Listener> v;
    v.push_back(std::move(*l));
    return v;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: echo_server [--host ADDR|NAME] [--port N] [--unix PATH] [--grace MS] [--stats]\n"
        "                   [--threads N] [--handoff] [--backend auto|io_uring|epoll]\n"
        "                   [--fast-paths on|off]\n"
        "Echoes TCP on ADDR:N (default 127.0.0.1:65432; 0: any free port; NAME: its first\n"
        "address), or on the Unix socket PATH (@NAME: abstract; a stale socket file is\n"
        "replaced, a live one is not), on N loops (default 1; 0: one per CPU), each with a\n"
        "SO_REUSEPORT listener, or (--handoff, and always with --unix) loop 0 accepting for\n"
        "all. On SIGINT/SIGTERM, open connections get MS ms (default 1000) to finish, a\n"
        "second signal cancels them at once; then --stats prints each loop's counters and\n"
        "their total.\n";
    auto opts = example::parse(argc, argv, usage, false,
                               example::unix_socket | example::stats | example::threads);
    std::size_t n = opts.threads == 0 ? available_cpus() : opts.threads;
    opts.handoff = opts.handoff || !opts.unix_path.empty(); // Unix sockets: no SO_REUSEPORT
    if (!opts.unix_path.empty())
        return run_server(one(unix_listener::bind(opts.unix_path, {.replace_stale = true})), opts);
    if (n == 1 || opts.handoff) return run_server(one(tcp_listener::bind(opts.address)), opts);
    return run_server(tcp_listener::bind_reuse_port(opts.address, n), opts);
}
