// Proves that a steady-state echo loop allocates nothing per round trip
// (every operation lives in its coroutine's frame), and that connection churn
// allocates nothing either (coroutine frames come from the per-thread pool).
#include "test/test_util.hpp"
#include <coronet/net/udp_socket.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <doctest/doctest.h>
#include <new>

namespace {
std::atomic<std::size_t> allocations{0};
}

void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

using namespace coronet;

namespace {

task<bool> ping_pong(tcp_stream& c, int rounds) {
    std::byte msg[64] = {std::byte{1}};
    std::byte back[64];
    for (int i = 0; i < rounds; ++i) {
        if (!co_await c.send_all(msg)) co_return false;
        for (std::size_t got = 0; got < sizeof back;) {
            auto n = co_await c.recv(std::span(back).subspan(got));
            if (!n || *n == 0) co_return false;
            got += *n;
        }
    }
    co_return true;
}

// Operator-new calls made while `steady` runs. Its frame was allocated when
// it was created, before the count starts.
task<std::size_t> allocations_during(task<bool> steady) {
    std::size_t before = allocations.load();
    bool ok = co_await std::move(steady);
    std::size_t after = allocations.load();
    CHECK(ok);
    co_return after - before;
}

task<std::size_t> measure() {
    auto l = test::listen_loopback();
    spawn(test::serve_echo(l, 1));
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    CHECK(co_await ping_pong(c, 200)); // warm-up: queues and tables reach their size
    co_return co_await allocations_during(ping_pong(c, 2000));
}

} // namespace

TEST_CASE("allocation: a steady echo loop allocates nothing per round trip") {
    // Both ends count: the client loop here and the server's echo task.
    CHECK(test::run(measure()) == 0);
}

namespace {

task<> udp_echo(udp_socket& s, int rounds) {
    std::byte buf[64];
    for (int i = 0; i < rounds; ++i) {
        auto d = co_await s.recv_from(buf);
        if (!d || !co_await s.send_to(std::span(buf, d->size), d->peer)) co_return;
    }
}

task<bool> udp_ping_pong(udp_socket& c, int rounds) {
    std::byte msg[64] = {std::byte{1}};
    std::byte back[64];
    for (int i = 0; i < rounds; ++i) {
        if (!co_await c.send(msg)) co_return false;
        auto d = co_await c.recv(back);
        if (!d || d->size != sizeof msg) co_return false;
    }
    co_return true;
}

task<std::size_t> measure_udp() {
    auto server = udp_socket::bind(socket_address::loopback_v4()).value();
    spawn(udp_echo(server, 2200));
    auto c = udp_socket::open(AF_INET).value();
    c.connect(server.local_address().value()).value();
    CHECK(co_await udp_ping_pong(c, 200)); // warm-up
    co_return co_await allocations_during(udp_ping_pong(c, 2000));
}

} // namespace

TEST_CASE("allocation: a steady UDP echo loop allocates nothing per datagram") {
    CHECK(test::run(measure_udp()) == 0);
}

namespace {

// `connections` times: connect to `server`, send 64 bytes, receive the echo,
// close. Each connection makes a connect on this side and, on the server, an
// accept, a spawned echo task (its frame, its spawn wrapper's frame) and a
// recv_exactly task here.
task<bool> churn(socket_address server, int connections) {
    std::byte msg[64] = {std::byte{7}};
    std::byte back[64];
    for (int i = 0; i < connections; ++i) {
        auto c = co_await tcp_stream::connect(server);
        if (!c || !co_await c->send_all(msg)) co_return false;
        if (!co_await test::recv_exactly(*c, back)) co_return false;
    } // the stream closes here; the server's echo task sees EOF and ends
    co_return true;
}

// Opens `n` connections at once, echoes 64 bytes on each, closes them all:
// the server holds `n` echo tasks at the same time.
task<bool> burst(const socket_address& server) {
    std::array<tcp_stream, 8> conns;
    std::byte msg[64] = {std::byte{9}};
    std::byte back[64];
    for (auto& c : conns) {
        auto r = co_await tcp_stream::connect(server);
        if (!r) co_return false;
        c = std::move(*r);
    }
    for (auto& c : conns)
        if (!co_await c.send_all(msg) || !co_await test::recv_exactly(c, back)) co_return false;
    co_return true;
}

task<std::size_t> measure_churn() {
    constexpr int burst_size = 8, warm_up = 100, measured = 500;
    auto l = test::listen_loopback();
    spawn(test::serve_echo(l, burst_size + warm_up + measured));
    auto server = l.local_address();
    // Warm-up: the burst leaves headroom in the frame pool for the few echo
    // tasks that may overlap while the next connection starts; the churn runs
    // in the same shape as the measured one (the measuring frame included),
    // and the fd tables reach their size.
    CHECK(co_await burst(server));
    std::size_t warm = co_await allocations_during(churn(server, warm_up));
    std::size_t steady = co_await allocations_during(churn(server, measured));
    MESSAGE("churn: " << warm << " allocations over " << warm_up << " warm-up connections, "
                      << steady << " over " << measured);
    co_return steady;
}

} // namespace

TEST_CASE("allocation: connection churn allocates nothing per connection") {
    // Client and server both count: connect, accept, spawn, the echo task's
    // frame and the client's recv task, 500 times.
    CHECK(test::run(measure_churn()) == 0);
}

namespace {

// The server side of a pooled echo: each receive borrows a pool buffer,
// the bytes go back from it, and the lease returns the buffer.
task<> pooled_echo(tcp_stream s) {
    for (;;) {
        auto data = co_await s.recv_pooled();
        if (!data || data->empty()) co_return;
        if (!co_await s.send_all(data->bytes())) co_return;
    }
}

task<> serve_pooled_echo(tcp_listener& l) {
    auto c = co_await l.accept();
    if (c) spawn(pooled_echo(std::move(*c)));
}

// The client receives with recv_pooled too.
task<bool> pooled_ping_pong(tcp_stream& c, int rounds) {
    std::byte msg[64] = {std::byte{5}};
    for (int i = 0; i < rounds; ++i) {
        if (!co_await c.send_all(msg)) co_return false;
        for (std::size_t got = 0; got < sizeof msg;) {
            auto r = co_await c.recv_pooled();
            if (!r || r->empty()) co_return false;
            got += r->size();
        }
    }
    co_return true;
}

task<std::size_t> measure_pooled() {
    auto l = test::listen_loopback();
    spawn(serve_pooled_echo(l));
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    CHECK(co_await ping_pong(c, 200));        // warm-up, plain receives on this side
    CHECK(co_await pooled_ping_pong(c, 200)); // warm-up: the pool is reserved now
    std::size_t plain = co_await allocations_during(ping_pong(c, 2000));
    std::size_t pooled = co_await allocations_during(pooled_ping_pong(c, 2000));
    MESSAGE("pooled echo: " << plain << " allocations over 2000 round trips with a plain client, "
                            << pooled << " with a pooled one");
    CHECK(current_loop().stats().pool_buffers_in_use <= 1); // the server's receive may wait
    co_return plain + pooled;
}

} // namespace

TEST_CASE("allocation: a steady pooled echo (recv_pooled, send_all of the lease) allocates "
          "nothing") {
    CHECK(test::run(measure_pooled()) == 0);
}
