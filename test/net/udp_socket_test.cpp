#include "test/test_util.hpp"
#include <coronet/net/udp_socket.hpp>
#include <coronet/runtime/cancel_scope.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <string>
#include <string_view>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

template <>
struct doctest::StringMaker<socket_address> {
    static String convert(const socket_address& a) { return a.to_string().c_str(); }
};

namespace {

socket_address loopback(bool v6) {
    return v6 ? socket_address::loopback_v6() : socket_address::loopback_v4();
}

udp_socket bind_loopback(bool v6 = false) {
    return udp_socket::bind(loopback(v6)).value();
}

std::string_view text(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The address a peer sees for `s`: an unbound socket's first send binds it to
// the wildcard address, and loopback datagrams come from the loopback address.
socket_address seen_as(const udp_socket& s) {
    auto a = loopback(s.family() == AF_INET6);
    a.set_port(s.local_address().value().port());
    return a;
}

// A UDP port on 127.0.0.1 that nothing is bound to: bound, then released.
socket_address closed_port() {
    auto s = bind_loopback();
    auto a = s.local_address().value();
    s.close();
    return a;
}

// Echoes `count` datagrams back to their senders.
task<> serve_echo(udp_socket& s, std::size_t count) {
    std::array<std::byte, 2048> buf;
    for (std::size_t i = 0; i < count; ++i) {
        auto d = co_await s.recv_from(buf);
        if (!d) co_return;
        if (!co_await s.send_to(std::span(buf).first(d->size), d->peer)) co_return;
    }
}

task<> round_trip(bool v6) {
    auto server = bind_loopback(v6);
    auto server_addr = server.local_address().value();
    CHECK(server_addr.port() != 0);
    CHECK(server_addr.is_v6() == v6);
    auto client = udp_socket::open(v6 ? AF_INET6 : AF_INET).value();

    auto sent = co_await client.send_to("Hello, world", server_addr);
    REQUIRE(sent);
    CHECK(*sent == 12);
    auto client_addr = seen_as(client); // bound by the first send
    CHECK(client_addr.port() != 0);

    std::array<std::byte, 64> buf;
    auto d = co_await server.recv_from(buf);
    REQUIRE(d);
    CHECK(d->size == 12);
    CHECK(d->full_size == 12);
    CHECK_FALSE(d->truncated);
    CHECK(text(std::span(buf).first(d->size)) == "Hello, world");
    CHECK(d->peer == client_addr);
    CHECK(d->peer.is_v6() == v6);

    CHECK(co_await server.send_to(std::span(buf).first(d->size), d->peer));
    std::array<char, 64> back{};
    auto r = co_await client.recv_from(back);
    REQUIRE(r);
    CHECK(std::string_view(back.data(), r->size) == "Hello, world");
    CHECK(r->peer == server_addr);
}

} // namespace

TEST_CASE("udp_socket: one round trip over IPv4") {
    test::run(round_trip(false));
}

TEST_CASE("udp_socket: one round trip over IPv6 ::1") {
    test::run(round_trip(true));
}

TEST_CASE("udp_socket: 2,000 datagrams of varying size echo back intact and in order") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        spawn(serve_echo(server, 2000));
        auto client = udp_socket::open(AF_INET).value();
        REQUIRE(client.connect(server.local_address().value()));
        std::array<std::byte, 2048> back;
        int good = 0;
        for (unsigned i = 0; i < 2000; ++i) {
            auto data = test::pattern(i % 1500, i); // sizes 0..1499
            if (!co_await client.send(data)) break;
            auto d = co_await with_timeout(5s, client.recv(back));
            if (!d || d->truncated || d->size != data.size()) break;
            if (!std::equal(data.begin(), data.end(), back.begin())) break;
            ++good;
        }
        CHECK(good == 2000);
    };
    test::run(main());
}

TEST_CASE("udp_socket: a burst of 32 datagrams keeps its boundaries") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        auto to = server.local_address().value();
        auto client = udp_socket::open(AF_INET).value();
        for (unsigned i = 0; i < 32; ++i) {
            std::string msg = "datagram " + std::to_string(i);
            CHECK(co_await client.send_to(msg, to));
        }
        std::array<char, 256> buf;
        for (unsigned i = 0; i < 32; ++i) { // one recv, one datagram: never merged or split
            auto d = co_await with_timeout(5s, server.recv_from(buf));
            REQUIRE(d);
            CHECK(std::string_view(buf.data(), d->size) == "datagram " + std::to_string(i));
        }
    };
    test::run(main());
}

TEST_CASE("udp_socket: recv_from reports a truncated datagram") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        auto client = udp_socket::open(AF_INET).value();
        auto data = test::pattern(100, 3);
        CHECK(co_await client.send_to(data, server.local_address().value()));
        CHECK(co_await client.send_to("next", server.local_address().value()));
        std::array<std::byte, 10> small;
        auto d = co_await server.recv_from(small);
        REQUIRE(d);
        CHECK(d->truncated);
        CHECK(d->size == 10);
        CHECK(d->full_size == 100);
        CHECK(std::equal(small.begin(), small.end(), data.begin()));
        CHECK(d->peer == seen_as(client));
        // The rest of the cut datagram is gone; the next one is whole.
        auto next = co_await server.recv_from(small);
        REQUIRE(next);
        CHECK_FALSE(next->truncated);
        CHECK(text(std::span(small).first(next->size)) == "next");
    };
    test::run(main());
}

TEST_CASE("udp_socket: connected recv reports a truncated datagram") {
    auto main = []() -> task<> {
        auto a = bind_loopback();
        auto b = bind_loopback();
        REQUIRE(a.connect(b.local_address().value()));
        REQUIRE(b.connect(a.local_address().value()));
        auto data = test::pattern(100, 4);
        auto sent = co_await a.send(data);
        REQUIRE(sent);
        CHECK(*sent == 100);
        std::array<std::byte, 10> small;
        auto d = co_await b.recv(small);
        REQUIRE(d);
        CHECK(d->truncated);
        CHECK(d->size == 10);
        CHECK(d->full_size == 100);
        CHECK(std::equal(small.begin(), small.end(), data.begin()));
        CHECK(d->peer == a.local_address().value());
        // A buffer of exactly the datagram's size is not truncation.
        CHECK(co_await a.send(std::span(data).first(10)));
        auto exact = co_await b.recv(small);
        REQUIRE(exact);
        CHECK_FALSE(exact->truncated);
        CHECK(exact->full_size == 10);
    };
    test::run(main());
}

TEST_CASE("udp_socket: connected send/recv talk to the peer only") {
    auto main = []() -> task<> {
        auto a = bind_loopback();
        auto b = bind_loopback();
        auto stranger = bind_loopback();
        auto a_addr = a.local_address().value();
        auto b_addr = b.local_address().value();
        REQUIRE(a.connect(b_addr));
        CHECK(a.peer_address().value() == b_addr);
        CHECK(b.peer_address().error() == std::errc::not_connected);
        // The kernel drops datagrams for `a` that do not come from its peer.
        CHECK(co_await stranger.send_to("from a stranger", a_addr));
        CHECK(co_await b.send_to("from the peer", a_addr));
        std::array<char, 64> buf;
        auto d = co_await with_timeout(5s, a.recv(buf));
        REQUIRE(d);
        CHECK(std::string_view(buf.data(), d->size) == "from the peer");
        CHECK(d->peer == b_addr);
        // send() goes to the peer.
        CHECK(co_await a.send("reply"));
        auto r = co_await with_timeout(5s, b.recv_from(buf));
        REQUIRE(r);
        CHECK(std::string_view(buf.data(), r->size) == "reply");
        CHECK(r->peer == a_addr);
        // send() without a peer: an error, not a crash.
        auto unconnected = co_await b.send("nowhere");
        REQUIRE_FALSE(unconnected);
        CHECK(unconnected.error() == std::errc::destination_address_required);
    };
    test::run(main());
}

TEST_CASE("udp_socket: a connected socket learns of a closed port as connection_refused") {
    auto main = []() -> task<> {
        auto s = udp_socket::open(AF_INET).value();
        REQUIRE(s.connect(closed_port()));
        // The ICMP port unreachable for one datagram fails a later send or
        // recv. On loopback it arrives at once; retry a bounded number of
        // times in case one ICMP reply is rate limited.
        std::error_code got;
        std::array<std::byte, 16> buf;
        for (int attempt = 0; attempt < 20 && !got; ++attempt) {
            if (auto sent = co_await s.send("anyone there?"); !sent) {
                got = sent.error();
                break;
            }
            auto d = co_await with_timeout(200ms, s.recv(buf));
            REQUIRE_FALSE(d); // nothing can answer
            if (d.error() != error::timed_out) got = d.error();
        }
        CHECK(got == std::errc::connection_refused);
    };
    test::run(main());
}

TEST_CASE("udp_socket: a recv_from cut short by a timeout is timed_out; the socket still works") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        std::array<std::byte, 64> buf;
        auto start = clock::now();
        auto d = co_await with_timeout(20ms, server.recv_from(buf));
        REQUIRE_FALSE(d);
        CHECK(d.error() == error::timed_out);
        CHECK(clock::now() - start >= 20ms);
        auto client = udp_socket::open(AF_INET).value();
        CHECK(co_await client.send_to("after the timeout", server.local_address().value()));
        auto again = co_await with_timeout(5s, server.recv_from(buf));
        REQUIRE(again);
        CHECK(text(std::span(buf).first(again->size)) == "after the timeout");
    };
    test::run(main());
}

TEST_CASE("udp_socket: a cancelled recv_from is operation_canceled and loses no datagram") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        std::array<std::byte, 64> buf;
        cancel_scope scope;
        scope.cancel();
        auto d = co_await scope.run(server.recv_from(buf));
        REQUIRE_FALSE(d);
        CHECK(d.error() == std::errc::operation_canceled);
        auto client = udp_socket::open(AF_INET).value();
        CHECK(co_await client.send_to("kept", server.local_address().value()));
        auto again = co_await with_timeout(5s, server.recv_from(buf));
        REQUIRE(again);
        CHECK(text(std::span(buf).first(again->size)) == "kept");
    };
    test::run(main());
}

TEST_CASE("udp_socket: closing a socket cancels a pending recv_from") {
    auto main = []() -> task<> {
        auto s = bind_loopback();
        std::error_code got;
        bool started = false, done = false;
        std::array<std::byte, 16> buf;
        spawn([](udp_socket& u, std::span<std::byte> b, std::error_code& e, bool& go,
                 bool& fin) -> task<> {
            go = true; // the recv below starts before this task yields
            auto r = co_await u.recv_from(b);
            e = r.error();
            fin = true;
        }(s, buf, got, started, done));
        REQUIRE(co_await test::yield_until([&] { return started; }, 100));
        REQUIRE_FALSE(done);
        s.close();
        CHECK(co_await test::yield_until([&] { return done; }, 100));
        CHECK(got == std::errc::operation_canceled);
    };
    test::run(main());
}

TEST_CASE("udp_socket: an empty datagram round trips") {
    auto main = []() -> task<> {
        auto server = bind_loopback();
        auto client = udp_socket::open(AF_INET).value();
        auto sent = co_await client.send_to(std::string_view{}, server.local_address().value());
        REQUIRE(sent);
        CHECK(*sent == 0);
        std::array<std::byte, 16> buf;
        auto d = co_await with_timeout(5s, server.recv_from(buf));
        REQUIRE(d);
        CHECK(d->size == 0);
        CHECK(d->full_size == 0);
        CHECK_FALSE(d->truncated);
        CHECK(d->peer == seen_as(client));
        // Also connected, and into an empty buffer.
        REQUIRE(client.connect(server.local_address().value()));
        CHECK(co_await client.send(std::span<const std::byte>{}));
        auto e = co_await with_timeout(5s, server.recv(std::span<std::byte>{}));
        REQUIRE(e);
        CHECK(e->size == 0);
        CHECK_FALSE(e->truncated);
    };
    test::run(main());
}

TEST_CASE("udp_socket: an address of the other family is address_family_not_supported") {
    auto main = []() -> task<> {
        auto v4 = udp_socket::open(AF_INET).value();
        auto r = co_await v4.send_to("x", socket_address::loopback_v6(9));
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::address_family_not_supported);
        CHECK(v4.connect(socket_address::loopback_v6(9)).error() ==
              std::errc::address_family_not_supported);
        auto v6 = udp_socket::open(AF_INET6).value();
        auto r6 = co_await v6.send_to("x", socket_address::loopback_v4(9));
        REQUIRE_FALSE(r6);
        CHECK(r6.error() == std::errc::address_family_not_supported);
        // The socket is fine afterwards.
        auto server = bind_loopback();
        CHECK(co_await v4.send_to("ok", server.local_address().value()));
        std::array<char, 8> buf;
        auto d = co_await with_timeout(5s, server.recv_from(buf));
        REQUIRE(d);
        CHECK(std::string_view(buf.data(), d->size) == "ok");
    };
    test::run(main());
}

TEST_CASE("udp_socket: bind and open errors") {
    auto held = bind_loopback();
    auto taken = udp_socket::bind(held.local_address().value());
    REQUIRE_FALSE(taken);
    CHECK(taken.error() == std::errc::address_in_use);
    CHECK(udp_socket::bind("not an address").error() == std::errc::invalid_argument);
    CHECK(udp_socket::open(AF_UNIX).error() == std::errc::address_family_not_supported);
    auto parsed = udp_socket::bind("127.0.0.1:0");
    REQUIRE(parsed);
    CHECK(parsed->family() == AF_INET);
    CHECK(parsed->local_address().value().port() != 0);
}

TEST_CASE("udp_socket: operations on a closed socket fail with bad_file_descriptor") {
    auto main = []() -> task<> {
        udp_socket s;
        std::array<std::byte, 4> buf;
        auto r = co_await s.recv(buf);
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::bad_file_descriptor);
        auto w = co_await s.send_to("x", socket_address::loopback_v4(9));
        REQUIRE_FALSE(w);
        CHECK(w.error() == std::errc::bad_file_descriptor);
    };
    test::run(main());
}

TEST_CASE("udp_socket: sockets are closed when they go away") {
    auto before = test::open_fds();
    test::run(round_trip(false));
    test::run(round_trip(true));
    CHECK(test::open_fds() == before);
}
