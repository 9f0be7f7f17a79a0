// hello_client: the seeds' first echo client in coronet: connect, send
// "Hello, world", receive up to 1024 bytes and print them. Like the seeds'
// client it reads once; echo_client.cpp reads until the whole echo is back.
//
// Run:  build/examples/tutorial/echo_once &   then   build/examples/tutorial/hello_client
//       [--host 127.0.0.1] [--port 65432] [--message TEXT] [--connect-timeout MS]
#include "../cli.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/timeout.hpp>

#include <array>
#include <string_view>

using namespace coronet;

task<int> main_task(example::options opts) {
    auto conn = co_await with_timeout(opts.connect_timeout, tcp_stream::connect(opts.address));
    if (!conn) { // s.connect((HOST, PORT)) raised
        fmt::print(stderr, "hello_client: cannot connect to {}: {}\n", opts.address,
                   example::reason(conn.error(), opts));
        co_return 1;
    }
    if (auto sent = co_await conn->send_all(opts.message); !sent) { // s.sendall(b'Hello, world')
        fmt::print(stderr, "hello_client: send to {} failed: {}\n", opts.address,
                   sent.error().message());
        co_return 1;
    }
    std::array<char, 1024> buf;
    auto n = co_await conn->recv(buf); // data = s.recv(1024)
    if (!n) {
        fmt::print(stderr, "hello_client: no reply from {}: {}\n", opts.address,
                   n.error().message());
        co_return 1;
    }
    fmt::print("Received '{}'\n", std::string_view(buf.data(), *n)); // print('Received', data)
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: hello_client [--host ADDR|NAME] [--port N] [--message TEXT]\n"
        "                    [--connect-timeout MS] [--backend auto|io_uring|epoll]\n"
        "                    [--fast-paths on|off]\n"
        "Sends TEXT (default 'Hello, world') to an echo server and prints what\n"
        "comes back in one receive.\n";
    auto opts = example::parse(argc, argv, usage, true, example::connect_timeout | example::once);
    return example::run(main_task(opts), opts, "hello_client");
}
