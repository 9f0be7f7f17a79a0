// multiconn_client: opens N connections to an echo server at once, sends M
// messages on each, checks every echo and prints a summary: the coroutine
// version of the selectors-based multi-connection client of Python's socket
// tutorial (one coroutine per connection instead of a hand-written state machine).
//
// Run:  build/examples/echo_server --port 0 &   then
//       build/examples/multiconn_client --port PORT [--connections 10] [--messages 5]
//       [--host 127.0.0.1|localhost] [--unix PATH] [--message TEXT] [--backend auto]
//       [--connect-timeout MS] [--threads N]
#include "cli.hpp"
#include <coronet/net/resolve.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/net/unix_stream.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

using namespace coronet;

struct totals {
    unsigned long connected = 0, messages = 0, bytes = 0, errors = 0;
    std::string first_error;
    void fail(unsigned long id, const std::string& what) {
        if (errors++ == 0) first_error = fmt::format("connection {}: {}", id, what);
    }
    void add(const totals& o) {
        connected += o.connected, messages += o.messages, bytes += o.bytes;
        if (errors == 0) first_error = o.first_error;
        errors += o.errors;
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

// One loop's share of the connections: ids index+1, index+1+N, ... (N loops).
task<int> run_loop(const group_context& g, const example::options& opts, totals& all,
                   std::mutex& m) {
    std::vector<socket_address> addrs; // resolved once for every connection of this loop
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
    task_group group;
    for (unsigned long id = g.index() + 1; id <= opts.connections; id += g.size()) // all at once
        group.spawn(one_connection(id, addrs, opts, t));
    co_await group.join();
    std::lock_guard lock(m);
    all.add(t);
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: multiconn_client [--connections N] [--messages M] [--message TEXT]\n"
        "                        [--host ADDR|NAME] [--port N] [--unix PATH]\n"
        "                        [--connect-timeout MS] [--backend auto|io_uring|epoll]\n"
        "                        [--fast-paths on|off] [--threads T]\n"
        "Opens N connections (default 10) to an echo server at once, sends M messages\n"
        "(default 5) on each, verifies every echo and prints a summary; exit 1 on any error.\n"
        "Connecting gives up after MS ms (default 10000). T loops (default 1; 0: one per\n"
        "CPU) share the connections.\n";
    auto opts = example::parse(argc, argv, usage, true,
                               example::names | example::unix_socket | example::connections |
                                   example::connect_timeout | example::threads);
    totals t;
    std::mutex m;
    auto start = std::chrono::steady_clock::now();
    auto loop = [&](const group_context& g) { return run_loop(g, opts, t, m); };
    if (int code = example::run_loops(loop, opts, "multiconn_client", false); code != 0)
        return code;
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (t.errors > 0)
        fmt::print(stderr, "multiconn_client: {}: {}\n", example::endpoint(opts), t.first_error);
    fmt::print("connections: {}/{}, messages: {}, bytes: {}, errors: {}, elapsed: {:.3f} s\n",
               t.connected, opts.connections, t.messages, t.bytes, t.errors, elapsed.count());
    return t.errors == 0 ? 0 : 1;
}
