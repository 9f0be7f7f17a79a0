// echo_server: a TCP (or Unix socket) echo server, one coroutine per
// connection, with a graceful shutdown: on SIGINT/SIGTERM it stops accepting,
// lets open connections finish for --grace milliseconds (default 1000), and
// cancels the rest then or at a second signal. Out of fds, it refuses clients
// at once and keeps serving the connections it has (accept_or_refuse).
//
// Run:   build/examples/echo_server [--host 127.0.0.1|localhost] [--port 65432] [--backend auto]
//                                   [--fast-paths on|off] [--stats]
//        build/examples/echo_server --unix /tmp/echo.sock      (or --unix @echo: abstract)
// Then:  build/examples/echo_client (or the seed's Python client); Ctrl-C stops it.
#include "cli.hpp"
#include "shutdown.hpp"
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

task<result<int>> next_signal(signal_set& s) {
    co_return co_await s.wait();
}

template <class Listener>
task<int> run_server(result<Listener> listener, example::options opts) {
    signal_set stop{SIGINT, SIGTERM};
    if (!listener) {
        fmt::print(stderr, "echo_server: cannot listen on {}: {}\n", example::endpoint(opts),
                   example::reason(listener.error(), opts));
        co_return 1;
    }
    example::print_listening(listener->local_address());
    example::print_backend_fallback(opts);
    task_group connections;
    co_await when_any(serve(*listener, connections), next_signal(stop));
    listener->close(); // a Unix socket's file is removed
    co_await example::shut_down(connections, stop, opts.grace);
    if (opts.stats) example::print_stats(current_loop().stats());
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: echo_server [--host ADDR|NAME] [--port N] [--unix PATH] [--grace MS] [--stats]\n"
        "                   [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Echoes TCP on ADDR:N (default 127.0.0.1:65432; 0: any free port; NAME: its first\n"
        "address), or on the Unix socket PATH (@NAME: abstract; a stale socket file is\n"
        "replaced, a live one is not). On SIGINT/SIGTERM, open connections get MS ms\n"
        "(default 1000) to finish, a second signal cancels them at once; then --stats\n"
        "prints the loop's counters.\n";
    auto opts = example::parse(argc, argv, usage, false, example::unix_socket | example::stats);
    auto main =
        opts.unix_path.empty()
            ? run_server(tcp_listener::bind(opts.address), opts)
            : run_server(unix_listener::bind(opts.unix_path, {.replace_stale = true}), opts);
    return example::run(std::move(main), opts, "echo_server");
}
