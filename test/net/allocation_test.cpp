// Proves that a steady-state echo loop allocates nothing per round trip:
// every operation lives in its coroutine's frame.
#include "net/udp_socket.hpp"
#include "test/test_util.hpp"

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
