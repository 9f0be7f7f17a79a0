// echo_once: the seeds' first echo server, line for line in coronet: listen,
// accept one connection, echo it until the client closes its side, exit. The
// tutorial (docs/tutorial.md) starts here; echo_server.cpp is where it ends up.
//
// Run:   build/examples/tutorial/echo_once [--host 127.0.0.1] [--port 65432]
// Then:  build/examples/tutorial/hello_client   (or the seeds' Python client)
#include "../cli.hpp"
#include <coronet/net/tcp_listener.hpp>

#include <array>
#include <span>

using namespace coronet;

task<int> main_task(example::options opts) {
    auto listener = tcp_listener::bind(opts.address); // socket(), bind(), listen()
    if (!listener) {
        fmt::print(stderr, "echo_once: cannot listen on {}: {}\n", opts.address,
                   example::reason(listener.error(), opts));
        co_return 1;
    }
    example::print_listening(listener->local_address());
    auto conn = co_await listener->accept(); // conn, addr = s.accept()
    if (!conn) {                             // out of file descriptors, say
        fmt::print(stderr, "echo_once: accept failed: {}\n", conn.error().message());
        co_return 1;
    }
    fmt::print("Connected by {}\n", conn->peer_address());
    std::array<std::byte, 1024> buf;
    for (;;) {
        auto n = co_await conn->recv(buf);                             // data = conn.recv(1024)
        if (!n || *n == 0) break;                                      // if not data: break
        auto sent = co_await conn->send_all(std::span(buf).first(*n)); // conn.sendall(data)
        if (!sent) break;
    }
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: echo_once [--host ADDR|NAME] [--port N] [--backend auto|io_uring|epoll]\n"
        "                 [--fast-paths on|off]\n"
        "Echoes one TCP connection on ADDR:N (default 127.0.0.1:65432; 0: any free\n"
        "port), then exits.\n"
        "Exit status: 0 after the connection; 1 runtime failure (cannot listen: one line\n"
        "on stderr names the address and the reason); 2 usage error.\n";
    auto opts = example::parse(argc, argv, usage, false);
    return example::run(main_task(opts), opts, "echo_once");
}
