#include "test/test_util.hpp"
#include <coronet/net/tcp_listener.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("tcp_listener: port 0 binds a real port, readable back") {
    auto l = tcp_listener::bind("127.0.0.1:0").value();
    CHECK(l.local_address().port() != 0);
    CHECK(l.local_address().host() == "127.0.0.1");
    auto l6 = tcp_listener::bind("[::1]:0");
    REQUIRE(l6);
    CHECK(l6->local_address().is_v6());
    CHECK(l6->local_address().port() != 0);
}

TEST_CASE("tcp_listener: binding a port in use fails with address_in_use") {
    auto a = tcp_listener::bind("127.0.0.1:0").value();
    auto b = tcp_listener::bind(a.local_address());
    REQUIRE_FALSE(b);
    CHECK(b.error() == std::errc::address_in_use);
    CHECK(a.is_open()); // the first listener is untouched
}

TEST_CASE("tcp_listener: bad addresses are clear errors") {
    auto r = tcp_listener::bind("not an address");
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::invalid_argument);
    auto r2 = tcp_listener::bind("192.0.2.1:0"); // TEST-NET: not a local address
    REQUIRE_FALSE(r2);
    CHECK(r2.error() == std::errc::address_not_available);
}

TEST_CASE("tcp_listener: accept yields a stream and the peer's address") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        // The handshake completes in the backlog, before accept is called.
        auto connected = co_await tcp_stream::connect(l.local_address());
        auto accepted = co_await l.accept();
        REQUIRE(accepted);
        REQUIRE(connected);
        CHECK(accepted->peer_address() == connected->local_address().value());
        CHECK(connected->peer_address() == l.local_address());
    };
    test::run(main());
}

TEST_CASE("tcp_listener: accepts connections that queued before accept was called") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        std::vector<tcp_stream> clients;
        for (int i = 0; i < 5; ++i)
            clients.push_back((co_await tcp_stream::connect(l.local_address())).value());
        for (int i = 0; i < 5; ++i)
            CHECK(co_await l.accept());
    };
    test::run(main());
}

TEST_CASE("tcp_listener: closing the listener cancels a pending accept") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        std::error_code got;
        bool done = false;
        spawn([](tcp_listener& lis, std::error_code& e, bool& d) -> task<> {
            auto c = co_await lis.accept();
            e = c.error();
            d = true;
        }(l, got, done));
        co_await sleep_for(1ms);
        l.close();
        CHECK(co_await test::yield_until([&] { return done; }, 100));
        CHECK(got == std::errc::operation_canceled);
    };
    test::run(main());
}

namespace {

// Connects `n` clients to `l` without accepting them, after one accepted
// connection (on io_uring with fast paths that accept arms the multishot
// accept, which then takes every new connection off the backlog with
// nobody waiting). Returns once the kernel has accepted them, where it does.
task<std::vector<tcp_stream>> queue_connections(tcp_listener& l, int n) {
    auto first = (co_await tcp_stream::connect(l.local_address())).value();
    CHECK(co_await l.accept());
    auto base = test::open_fds();
    std::vector<tcp_stream> clients;
    for (int i = 0; i < n; ++i)
        clients.push_back((co_await tcp_stream::connect(l.local_address())).value());
    if (test::has_feature("multishot_accept")) {
        // The multishot accept installs a server-side fd for each one.
        const std::size_t want = base + 2 * static_cast<std::size_t>(n);
        co_await test::yield_until([&] { return test::open_fds() >= want; }, 100'000);
        CHECK(test::open_fds() == want);
    }
    co_return clients;
}

} // namespace

TEST_CASE("tcp_listener: closing it with connections queued ends them; no fd leaks") {
    auto before = test::open_fds();
    auto main = []() -> task<> {
        constexpr int n = 16;
        auto l = test::listen_loopback();
        auto clients = co_await queue_connections(l, n);
        l.close();
        // Each client sees the end of its connection: EOF (a queued fd was
        // closed) or a reset (never accepted).
        int eof = 0, reset = 0;
        for (auto& c : clients) {
            std::byte buf[16];
            auto r = co_await with_timeout(5s, c.recv(buf));
            if (r && *r == 0)
                ++eof;
            else if (!r && r.error() == std::errc::connection_reset)
                ++reset;
            else
                FAIL_CHECK("client saw " << (r ? "data" : r.error().message()));
        }
        CHECK(eof + reset == n);
        MESSAGE(eof << " clients saw EOF, " << reset << " a reset");
    };
    test::run(main());
    CHECK(test::open_fds() == before);
}

TEST_CASE("tcp_listener: connections queued when the loop ends are closed by its teardown") {
    constexpr int n = 8;
    auto before = test::open_fds();
    auto l = test::listen_loopback(); // outlives the loop
    std::vector<tcp_stream> clients;  // so do the clients
    auto main = [](tcp_listener& lis, std::vector<tcp_stream>& out) -> task<> {
        out = co_await queue_connections(lis, n);
    };
    test::run(main(l, clients));
    // Left: the listener and the clients; every server-side fd is closed.
    CHECK(test::open_fds() == before + 1 + n);
    clients.clear();
    l.close();
    CHECK(test::open_fds() == before);
}

TEST_CASE("tcp_listener: accepts after a timed-out accept get every queued connection once") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        for (int i = 0; i < 3; ++i) {
            auto r = co_await with_timeout(5ms, l.accept());
            REQUIRE_FALSE(r);
            CHECK(r.error() == coronet::error::timed_out);
        }
        std::vector<tcp_stream> clients;
        for (int i = 0; i < 10; ++i)
            clients.push_back((co_await tcp_stream::connect(l.local_address())).value());
        // Each accepted stream is one client's (matched by addresses), once.
        std::vector<int> seen(clients.size(), 0);
        for (int i = 0; i < 10; ++i) {
            auto s = co_await with_timeout(5s, l.accept());
            REQUIRE(s);
            auto peer = s->peer_address();
            for (std::size_t k = 0; k < clients.size(); ++k)
                if (clients[k].local_address().value() == peer) ++seen[k];
        }
        CHECK(seen == std::vector<int>(clients.size(), 1));
        auto extra = co_await with_timeout(5ms, l.accept());
        CHECK(extra.error() == coronet::error::timed_out);
    };
    test::run(main());
}
