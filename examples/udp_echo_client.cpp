// udp_echo_client: sends a datagram to a UDP echo server, waits for the echo
// and checks it, --count times. UDP may lose a datagram or its reply: each
// wait has a timeout, and a missing echo is an error (exit 1), never a hang.
//
// Run:  build/examples/udp_echo_server &   then   build/examples/udp_echo_client
//       [--host 127.0.0.1] [--port 65432] [--message TEXT] [--count N] [--backend auto]
#include "cli.hpp"
#include <coronet/net/udp_socket.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <string>

using namespace coronet;
using namespace std::chrono_literals;

constexpr auto reply_timeout = 2s;

task<int> main_task(example::options opts) {
    auto sock = udp_socket::open(opts.address.family());
    // Connected UDP: only the server's replies are received, and a closed port
    // is reported (connection_refused) instead of silently timing out.
    auto ok = sock ? sock->connect(opts.address) : result<void>(sock.error());
    if (!ok) {
        fmt::print(stderr, "udp_echo_client: cannot use {}: {}\n", opts.address,
                   ok.error().message());
        co_return 1;
    }
    std::string reply(opts.message.size() + 1, '\0'); // one spare byte: a longer echo is cut
    std::size_t got = 0;
    for (unsigned long i = 0; i < opts.count; ++i) {
        if (auto sent = co_await sock->send(opts.message); !sent) {
            fmt::print(stderr, "udp_echo_client: send to {} failed: {}\n", opts.address,
                       sent.error().message());
            co_return 1;
        }
        auto d = co_await with_timeout(reply_timeout, sock->recv(reply));
        if (!d) {
            if (d.error() == error::timed_out)
                fmt::print(stderr, "udp_echo_client: no reply from {} within {} s (lost?)\n",
                           opts.address, reply_timeout.count());
            else
                fmt::print(stderr, "udp_echo_client: no reply from {}: {}\n", opts.address,
                           d.error().message());
            co_return 1;
        }
        got = d->size;
        if (d->truncated || std::string_view(reply).substr(0, got) != opts.message) {
            fmt::print(stderr, "udp_echo_client: echo does not match: '{}' ({} bytes)\n",
                       std::string_view(reply).substr(0, got), d->full_size);
            co_return 1;
        }
    }
    fmt::print("Received '{}'\n", std::string_view(reply).substr(0, got));
    if (opts.count > 1) fmt::print("{} round trips verified\n", opts.count);
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: udp_echo_client [--host ADDR] [--port N] [--message TEXT] [--count N]\n"
        "                       [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Sends TEXT as a datagram N times to a UDP echo server and verifies every echo;\n"
        "an echo missing after 2 s is an error (exit 1).\n";
    auto opts = example::parse(argc, argv, usage, true);
    return example::run(main_task(opts), opts, "udp_echo_client");
}
