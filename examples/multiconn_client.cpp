// multiconn_client: opens N connections to an echo server at once, sends M
// messages on each, checks every echo and prints a summary: the coroutine
// version of the selectors-based multi-connection client of Python's socket
// tutorial (one coroutine per connection instead of a hand-written state machine).
//
// Run:  build/examples/echo_server --port 0 &   then
//       build/examples/multiconn_client --port PORT [--connections 10] [--messages 5]
//       [--host 127.0.0.1|localhost] [--unix PATH] [--message TEXT] [--backend auto]
//       [--connect-timeout MS]
#include "cli.hpp"
#include <coronet/net/resolve.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/net/unix_stream.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace coronet;

struct totals {
    unsigned long connected = 0, messages = 0, bytes = 0, errors = 0;
    std::string first_error;
    void fail(unsigned long id, const std::string& what) {
        if (errors++ == 0) first_error = fmt::format("connection {}: {}", id, what);
    }
};

// Sends the messages one by one and checks each echo (tcp_stream or unix_stream).
template <class Stream>
task<> converse(Stream conn, unsigned long id, const example::options& opts, totals& t) {
    ++t.connected;
    for (unsigned long m = 1; m <= opts.messages; ++m) {
        std::string msg = fmt::format("{} #{} from connection {}\n", opts.message, m, id);
        std::string reply(msg.size(), '\0');
        if (auto sent = co_await conn.send_all(msg); !sent)
            co_return t.fail(id, sent.error().message());
        for (std::size_t got = 0; got < reply.size();) {
            auto n = co_await conn.recv(std::span(reply).subspan(got));
            if (!n || *n == 0)
                co_return t.fail(id, n ? "closed by the server" : n.error().message());
            got += *n;
        }
        if (reply != msg) co_return t.fail(id, "echo does not match");
        ++t.messages;
        t.bytes += msg.size();
    }
}

task<> one_connection(unsigned long id, const std::vector<socket_address>& addrs,
                      const example::options& opts, totals& t) {
    if (!opts.unix_path.empty()) {
        auto conn =
            co_await with_timeout(opts.connect_timeout, unix_stream::connect(opts.unix_path));
        if (!conn) co_return t.fail(id, example::reason(conn.error(), opts));
        co_return co_await converse(std::move(*conn), id, opts, t);
    }
    std::error_code last;
    for (const socket_address& a : addrs) { // in order, like tcp_stream::connect(host, port)
        auto conn = co_await with_timeout(opts.connect_timeout, tcp_stream::connect(a));
        if (conn) co_return co_await converse(std::move(*conn), id, opts, t);
        last = conn.error();
    }
    t.fail(id, example::reason(last, opts));
}

task<int> main_task(example::options opts) {
    std::vector<socket_address> addrs; // resolved once for every connection
    if (opts.unix_path.empty()) {
        auto found = co_await resolve(opts.host, opts.port);
        if (!found) {
            fmt::print(stderr, "multiconn_client: cannot resolve '{}': {}\n", opts.host,
                       found.error().message());
            co_return 1;
        }
        addrs = std::move(*found);
    }
    totals t;
    auto start = std::chrono::steady_clock::now();
    task_group group;
    for (unsigned long id = 1; id <= opts.connections; ++id) // all open at once
        group.spawn(one_connection(id, addrs, opts, t));
    co_await group.join();
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (t.errors > 0)
        fmt::print(stderr, "multiconn_client: {}: {}\n", example::endpoint(opts), t.first_error);
    fmt::print("connections: {}/{}, messages: {}, bytes: {}, errors: {}, elapsed: {:.3f} s\n",
               t.connected, opts.connections, t.messages, t.bytes, t.errors, elapsed.count());
    co_return t.errors == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: multiconn_client [--connections N] [--messages M] [--message TEXT]\n"
        "                        [--host ADDR|NAME] [--port N] [--unix PATH]\n"
        "                        [--connect-timeout MS] [--backend auto|io_uring|epoll]\n"
        "                        [--fast-paths on|off]\n"
        "Opens N connections (default 10) to an echo server at once, sends M messages\n"
        "(default 5) on each, verifies every echo and prints a summary; exit 1 on any error.\n"
        "Connecting gives up after MS ms (default 10000).\n";
    auto opts = example::parse(argc, argv, usage, true,
                               example::names | example::unix_socket | example::connections |
                                   example::connect_timeout);
    return example::run(main_task(opts), opts, "multiconn_client");
}
