// object_client: sends orders (nested records as JSON frames) to object_server
// and checks every receipt it gets back.
//
// Run:  build/examples/object_server &   then   build/examples/object_client
//       [--host 127.0.0.1] [--port 65432] [--message CUSTOMER] [--count N] [--backend auto]
//       [--connect-timeout MS]
#include "cli.hpp"
#include "records.hpp"
#include <coronet/net/object_stream.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/timeout.hpp>

#include <cmath>

using namespace coronet;

example::order make_order(std::uint64_t id, const std::string& customer) {
    return {id,
            customer,
            {{"apple", 3, 0.5}, {"pear", static_cast<int>(id % 5) + 1, 1.25}, {"fig", 0, 9.99}}};
}

bool matches(const example::receipt& r, const example::order& o) {
    auto want = example::make_receipt(o);
    bool same = r.error.empty() && r.order_id == o.id && r.customer == o.customer &&
                r.lines.size() == want.lines.size() && std::abs(r.total - want.total) < 1e-9;
    for (std::size_t i = 0; same && i < r.lines.size(); ++i)
        same = r.lines[i].sku == want.lines[i].sku && r.lines[i].quantity == want.lines[i].quantity;
    return same;
}

task<int> main_task(example::options opts) {
    auto conn = co_await with_timeout(opts.connect_timeout, tcp_stream::connect(opts.address));
    if (!conn) {
        fmt::print(stderr, "object_client: cannot connect to {}: {}\n", opts.address,
                   example::reason(conn.error(), opts));
        co_return 1;
    }
    stream_reader reader(*conn);
    example::receipt r;
    for (std::uint64_t id = 1; id <= opts.count; ++id) {
        auto o = make_order(id, opts.message);
        if (auto sent = co_await send_object(*conn, o); !sent) {
            fmt::print(stderr, "object_client: send to {} failed: {}\n", opts.address,
                       sent.error().message());
            co_return 1;
        }
        auto got = co_await recv_object<example::receipt>(reader, 1 << 16);
        if (!got) {
            fmt::print(stderr, "object_client: no receipt from {}: {}\n", opts.address,
                       got.error().message());
            co_return 1;
        }
        r = std::move(*got);
        if (!matches(r, o)) {
            fmt::print(stderr, "object_client: wrong receipt for order {}: {}\n", id,
                       encode_object(r).value());
            co_return 1;
        }
    }
    fmt::print("Receipt for order {} ({}): {} lines, total {:.2f}\n", r.order_id, r.customer,
               r.lines.size(), r.total);
    if (opts.count > 1) fmt::print("{} orders verified\n", opts.count);
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: object_client [--host ADDR] [--port N] [--message CUSTOMER] [--count N]\n"
        "                     [--connect-timeout MS] [--backend auto|io_uring|epoll]\n"
        "                     [--fast-paths on|off]\n"
        "Sends N orders for CUSTOMER to an object_server and verifies every receipt.\n"
        "Connecting gives up after MS ms (default 10000).\n";
    auto opts = example::parse(argc, argv, usage, true, example::connect_timeout);
    return example::run(main_task(opts), opts, "object_client");
}
