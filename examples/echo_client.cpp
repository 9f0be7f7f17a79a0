// echo_client: sends a message to an echo server, reads it back and checks it.
//
// Run:  build/examples/echo_server &   then   build/examples/echo_client
//       [--host 127.0.0.1|localhost] [--port 65432] [--unix PATH] [--message TEXT] [--count N]
//       [--connect-timeout MS]
#include "cli.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/net/unix_stream.hpp>
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/timeout.hpp>

#include <string>

using namespace coronet;

// Sends the message --count times and checks each echo: the same code for
// tcp_stream and unix_stream.
template <class Stream>
task<int> talk(result<Stream> conn, example::options opts) {
    if (!conn) {
        fmt::print(stderr, "echo_client: cannot connect to {}: {}\n", example::endpoint(opts),
                   example::reason(conn.error(), opts));
        co_return 1;
    }
    std::string reply(opts.message.size(), '\0');
    for (unsigned long i = 0; i < opts.count; ++i) {
        if (auto sent = co_await conn->send_all(opts.message); !sent) {
            fmt::print(stderr, "echo_client: send to {} failed: {}\n", example::endpoint(opts),
                       sent.error().message());
            co_return 1;
        }
        for (std::size_t got = 0; got < reply.size();) {
            auto n = co_await conn->recv(std::span(reply).subspan(got));
            if (!n || *n == 0) {
                fmt::print(stderr, "echo_client: {}: {} after {} of {} bytes\n",
                           example::endpoint(opts), n ? "connection closed" : n.error().message(),
                           got, reply.size());
                co_return 1;
            }
            got += *n;
        }
        if (reply != opts.message) {
            fmt::print(stderr, "echo_client: echo from {} does not match: '{}'\n",
                       example::endpoint(opts), reply);
            co_return 1;
        }
    }
    fmt::print("Received '{}'\n", reply);
    if (opts.count > 1) fmt::print("{} round trips verified\n", opts.count);
    co_return 0;
}

task<int> main_task(example::options opts) {
    if (!opts.unix_path.empty()) {
        auto conn =
            co_await with_timeout(opts.connect_timeout, unix_stream::connect(opts.unix_path));
        co_return co_await talk(std::move(conn), opts);
    }
    // By name: each address of the host is tried in turn (IPv6 and IPv4 alike).
    auto conn =
        co_await with_timeout(opts.connect_timeout, tcp_stream::connect(opts.host, opts.port));
    co_return co_await talk(std::move(conn), opts);
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: echo_client [--host ADDR|NAME] [--port N] [--unix PATH] [--message TEXT]\n"
        "                   [--count N] [--connect-timeout MS] [--backend auto|io_uring|epoll]\n"
        "                   [--fast-paths on|off]\n"
        "Sends TEXT N times to an echo server (on the Unix socket PATH, if given; @NAME is\n"
        "abstract) and verifies every echo. Connecting gives up after MS ms (default 10000).\n";
    auto opts = example::parse(argc, argv, usage, true,
                               example::names | example::unix_socket | example::connect_timeout);
    return example::run(main_task(opts), opts, "echo_client");
}
