// echo_server: a TCP echo server, one coroutine per connection.
//
// Run:   build/examples/echo_server [--host 127.0.0.1] [--port 65432] [--backend auto]
// Then:  build/examples/echo_client (or the seed's Python client); Ctrl-C stops it.
#include "examples/cli.hpp"
#include "net/tcp_listener.hpp"
#include "runtime/event_loop.hpp"
#include "runtime/signal_set.hpp"
#include "runtime/timer.hpp"

#include <array>
#include <chrono>
#include <cstdio>

using namespace coronet;
using namespace std::chrono_literals;

// Echoes every byte back until the peer closes its side, then closes ours.
task<> echo(tcp_stream conn) {
    std::array<std::byte, 16384> buf;
    for (;;) {
        auto n = co_await conn.recv(buf);
        if (!n || *n == 0) co_return; // reset, or EOF after everything was echoed
        if (!co_await conn.send_all(std::span(buf).first(*n))) co_return;
    }
}

task<> serve(tcp_listener& listener) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (conn) {
            spawn(echo(std::move(*conn)));
        } else if (conn.error() == std::errc::too_many_files_open) {
            co_await sleep_for(100ms); // out of fds: existing connections go on
        } else if (conn.error() == std::errc::operation_canceled) {
            co_return;
        }
    }
}

task<int> main_task(example::options opts) {
    signal_set stop{SIGINT, SIGTERM};
    auto listener = tcp_listener::bind(opts.address);
    if (!listener) {
        fmt::print(stderr, "echo_server: cannot listen on {}: {}\n", opts.address,
                   listener.error().message());
        co_return 1;
    }
    fmt::print("listening on {} (backend: {})\n", listener->local_address(),
               to_string(current_loop().backend()));
    std::fflush(stdout);
    spawn(serve(*listener));
    int sig = (co_await stop.wait()).value();
    fmt::print("signal {}: shutting down\n", sig);
    co_return 0; // run() then cancels and joins every connection
}

int main(int argc, char** argv) {
    const char* usage = "usage: echo_server [--host ADDR] [--port N] [--backend auto|io_uring|epoll]\n"
                        "Echoes TCP connections on ADDR:N (default 127.0.0.1:65432; 0 = any free "
                        "port).\n";
    auto opts = example::parse(argc, argv, usage, false);
    return example::run(main_task(opts), opts, "echo_server");
}
