// object_server: answers each order (JSON in a length-prefixed frame) with a
// receipt. A message that is not JSON or not an order gets an error receipt
// and the connection goes on; an oversized frame, or one that does not arrive
// whole within --read-timeout ms, gets one and is closed.
// SIGINT/SIGTERM: stop accepting, give connections --grace ms, exit 0.
//
// Run:   build/examples/object_server [--host 127.0.0.1] [--port 65432] [--backend auto]
//                                     [--read-timeout 30000] [--grace 1000]
// Then:  build/examples/object_client, or any language: 4-byte big-endian length + JSON.
#include "cli.hpp"
#include "records.hpp"
#include "shutdown.hpp"
#include <coronet/net/object_stream.hpp>
#include <coronet/net/tcp_listener.hpp>

#include <cstdio>

using namespace coronet;
using example::receipt;

constexpr std::size_t max_order = 60'000; // bytes of JSON; the reader holds 64 KiB

task<> serve_client(tcp_stream conn, std::chrono::milliseconds read_timeout) {
    stream_reader reader(conn);
    for (;;) { // a peer that stalls, idle or mid-frame, is timed out, not held forever
        auto next = recv_object<example::order>(reader, max_order);
        auto o = co_await with_timeout(read_timeout, std::move(next));
        if (!o && (o.error() == error::end_of_stream || o.error() == std::errc::operation_canceled))
            co_return; // the client is done, or the server is shutting down
        receipt r = o ? example::make_receipt(*o) : receipt{.error = o.error().message()};
        if (!o) fmt::print(stderr, "object_server: {}: {}\n", conn.peer_address(), r.error);
        bool in_sync = o || o.error() == error::invalid_json || o.error() == error::type_mismatch;
        if (!co_await send_object(conn, r) || !in_sync) co_return; // closes the connection
    }
}

task<> serve(tcp_listener& listener, task_group& connections, std::chrono::milliseconds timeout) {
    for (;;) {
        auto conn = co_await listener.accept_or_refuse(); // out of fds: refuses a client
        if (conn)
            connections.spawn(serve_client(std::move(*conn), timeout));
        else if (conn.error() != std::errc::too_many_files_open)
            co_return; // cancelled: stop accepting
    }
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
    co_await when_any(serve(*listener, connections, opts.read_timeout), example::next_signal(stop));
    listener->close();
    co_await example::shut_down(connections, stop, opts.grace);
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: object_server [--host ADDR] [--port N] [--grace MS] [--read-timeout MS]\n"
        "                     [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Answers JSON orders with receipts on ADDR:N (default 127.0.0.1:65432; "
        "0 = any free port).\nEach message must arrive whole within --read-timeout ms "
        "(default 30000).\nOn SIGINT/SIGTERM, open connections get MS ms (default 1000) "
        "to finish;\na second signal cancels them at once.\n";
    auto opts = example::parse(argc, argv, usage, false, example::read_timeout);
    return example::run(main_task(opts), opts, "object_server");
}
