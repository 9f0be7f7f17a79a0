#include "net/tcp_listener.hpp"
#include "runtime/timer.hpp"
#include "test/test_util.hpp"

#include <chrono>
#include <doctest/doctest.h>

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
        for (int i = 0; i < 100 && !done; ++i)
            co_await sleep_for(0ms);
        CHECK(done);
        CHECK(got == std::errc::operation_canceled);
    };
    test::run(main());
}
