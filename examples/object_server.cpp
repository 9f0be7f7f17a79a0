// object_server: answers each order (JSON in a length-prefixed frame) with a
// receipt. A message that is not JSON or not an order gets an error receipt
// and the connection goes on; an oversized frame gets one and is closed.
// SIGINT/SIGTERM: stop accepting, give connections --grace ms, exit 0.
//
// Run:   build/examples/object_server [--host 127.0.0.1] [--port 65432] [--backend auto]
// Then:  build/examples/object_client, or any language: 4-byte big-endian length + JSON.
#include "cli.hpp"
#include "records.hpp"
#include <coronet/net/object_stream.hpp>
#include <coronet/net/tcp_listener.hpp>
#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/when_all.hpp>

#include <cstdio>

using namespace coronet;
using namespace std::chrono_literals;
using example::receipt;

constexpr std::size_t max_order = 60'000; // bytes of JSON; the reader holds 64 KiB

task<> serve_client(tcp_stream conn) {
    stream_reader reader(conn);
    for (;;) {
        auto o = co_await recv_object<example::order>(reader, max_order);
        if (!o && (o.error() == error::end_of_stream || o.error() == std::errc::operation_canceled))
            co_return; // the client is done, or the server is shutting down
        receipt r = o ? example::make_receipt(*o) : receipt{.error = o.error().message()};
        if (!o) fmt::print(stderr, "object_server: {}: {}\n", conn.peer_address(), r.error);
        bool in_sync = o || o.error() == error::invalid_json || o.error() == error::type_mismatch;
        if (!co_await send_object(conn, r) || !in_sync) co_return; // closes the connection
    }
}

task<> serve(tcp_listener& listener, task_group& connections) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (conn)
            connections.spawn(serve_client(std::move(*conn)));
        else if (conn.error() == std::errc::too_many_files_open)
            co_await sleep_for(100ms); // out of fds: existing connections go on
        else
            co_return; // cancelled: stop accepting
    }
}

task<result<int>> next_signal(signal_set& s) {
    co_return co_await s.wait();
}

task<int> main_task(example::options opts) {
    signal_set stop{SIGINT, SIGTERM};
    auto listener = tcp_listener::bind(opts.address);
    if (!listener) {
        fmt::print(stderr, "object_server: cannot listen on {}: {}\n", opts.address,
                   example::reason(listener.error(), opts));
        co_return 1;
    }
    fmt::print("listening on {} (backend: {})\n", listener->local_address(),
               to_string(current_loop().backend()));
    std::fflush(stdout);
    task_group connections;
    co_await when_any(serve(*listener, connections), next_signal(stop));
    listener->close();
    if (!co_await with_timeout(opts.grace, connections.join())) // cancels what is left
        fmt::print("grace period over: remaining connections cancelled\n");
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: object_server [--host ADDR] [--port N] [--grace MS]\n"
        "                     [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Answers JSON orders with receipts on ADDR:N (default 127.0.0.1:65432; "
        "0 = any free port).\nOn SIGINT/SIGTERM, open connections get MS ms "
        "(default 5000) to finish.\n";
    auto opts = example::parse(argc, argv, usage, false);
    return example::run(main_task(opts), opts, "object_server");
}
