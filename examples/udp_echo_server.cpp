// udp_echo_server: a UDP echo server. Every datagram is sent straight back to
// its sender; there are no connections, so one coroutine serves everyone.
// SIGINT/SIGTERM stop it with exit code 0.
//
// Run:   build/examples/udp_echo_server [--host 127.0.0.1] [--port 65432] [--backend auto]
// Then:  build/examples/udp_echo_client (or any UDP client); Ctrl-C stops it.
#include "cli.hpp"
#include "shutdown.hpp"
#include <coronet/net/udp_socket.hpp>
#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/when_all.hpp>

#include <array>
#include <cstdio>

using namespace coronet;

// Echoes datagrams until cancelled; returns early only on a socket error.
task<> serve(udp_socket& sock) {
    std::array<std::byte, 65536> buf; // the largest UDP payload fits: nothing is cut
    for (;;) {
        auto d = co_await sock.recv_from(buf);
        if (!d) {
            if (d.error() == std::errc::operation_canceled) co_return; // shutting down
            fmt::print(stderr, "udp_echo_server: receive failed: {}\n", d.error().message());
            co_return;
        }
        // UDP has no delivery guarantee: a reply that cannot be sent is dropped,
        // exactly as if the network had lost it.
        [[maybe_unused]] auto sent = co_await sock.send_to(std::span(buf).first(d->size), d->peer);
    }
}

task<int> main_task(example::options opts) {
    signal_set stop{SIGINT, SIGTERM};
    auto sock = udp_socket::bind(opts.address);
    if (!sock) {
        fmt::print(stderr, "udp_echo_server: cannot bind {}: {}\n", opts.address,
                   example::reason(sock.error(), opts));
        co_return 1;
    }
    fmt::print("listening on {} (backend: {})\n", sock->local_address().value(),
               to_string(current_loop().backend()));
    std::fflush(stdout);
    auto first = co_await when_any(serve(*sock), example::next_signal(stop));
    co_return first.index == 1 ? 0 : 1; // a signal, or serve() failed
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: udp_echo_server [--host ADDR] [--port N]\n"
        "                       [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Echoes UDP datagrams on ADDR:N (default 127.0.0.1:65432; 0 = any free "
        "port)\nback to their senders until SIGINT/SIGTERM.\n";
    auto opts = example::parse(argc, argv, usage, false);
    return example::run(main_task(opts), opts, "udp_echo_server");
}
