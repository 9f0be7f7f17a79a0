// echo_round_trip: an echo server and its client in one program, written the way a
// project that uses coronet would write it: only <coronet/...> headers, built against
// coronet as a meson subproject (meson.build beside this file) or an installed coronet
// found by pkg-config (test/consumer/build_consumer.py builds it both ways).
//
// Run:  echo_round_trip [BYTES]     (CORONET_BACKEND=io_uring|epoll picks the backend)
// (CORONET_FAST_PATHS=0 turns io_uring's fast paths off.) Prints "echoed BYTES bytes
// over 127.0.0.1:PORT (backend: NAME)" and exits 0 when
// every byte came back in order; exits 1 on a mismatch or an error, 77 when the
// backend asked for cannot run on this machine.
#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <string>

using namespace coronet;
using namespace std::chrono_literals;

// The server side: echoes until the client closes its write side.
task<> echo(tcp_stream conn) {
    char buf[4096];
    for (;;) {
        auto n = co_await conn.recv(buf);
        if (!n || *n == 0) co_return;
        if (!co_await conn.send_all(std::string_view(buf, *n))) co_return;
    }
}

// The client side: sends `message`, half-closes, reads the echo until EOF.
task<result<std::string>> talk(const socket_address& server, const std::string& message) {
    auto conn = co_await tcp_stream::connect(server);
    if (!conn) co_return conn.error();
    if (auto sent = co_await conn->send_all(message); !sent) co_return sent.error();
    if (auto done = conn->shutdown(); !done) co_return done.error();
    std::string reply;
    char buf[4096];
    for (;;) {
        auto n = co_await conn->recv(buf);
        if (!n) co_return n.error();
        if (*n == 0) co_return reply;
        reply.append(buf, *n);
    }
}

task<int> round_trip(std::size_t bytes) {
    auto listener = tcp_listener::bind("127.0.0.1:0");
    if (!listener) {
        fmt::print(stderr, "echo_round_trip: bind: {}\n", listener.error().message());
        co_return 1;
    }
    std::string message(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i)
        message[i] = static_cast<char>('a' + i % 26);

    auto serve = [](tcp_listener& l) -> task<> {
        if (auto conn = co_await l.accept()) co_await echo(std::move(*conn));
    };
    spawn(serve(*listener));
    auto reply = co_await with_timeout(20s, talk(listener->local_address(), message));
    if (!reply) {
        fmt::print(stderr, "echo_round_trip: {}\n", reply.error().message());
        co_return 1;
    }
    if (*reply != message) {
        fmt::print(stderr, "echo_round_trip: {} bytes sent, {} different bytes came back\n",
                   message.size(), reply->size());
        co_return 1;
    }
    fmt::print("echoed {} bytes over {} (backend: {}{})\n", bytes, listener->local_address(),
               to_string(current_loop().backend()),
               current_loop().fast_paths() ? "" : ", fast paths off");
    co_return 0;
}

int main(int argc, char** argv) {
    std::size_t bytes = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
    try {
        return run(round_trip(bytes));
    } catch (const backend_unavailable& e) {
        std::printf("SKIP: %s\n", e.what());
        return 77;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_round_trip: %s\n", e.what());
        return 1;
    }
}
