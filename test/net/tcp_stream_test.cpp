#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <sys/socket.h>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// A free loopback port: bound, then released.
socket_address closed_port() {
    auto l = test::listen_loopback();
    auto a = l.local_address();
    l.close();
    return a;
}

task<std::string> round_trip(bool v6) {
    auto l = test::listen_loopback(v6);
    spawn(test::serve_echo(l, 1));
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    CHECK(c.set_nodelay(true));
    CHECK(co_await c.send_all("Hello, world"));
    std::string reply(12, '\0');
    CHECK(co_await test::recv_exactly(c, std::as_writable_bytes(std::span(reply))));
    co_return reply;
}

} // namespace

TEST_CASE("tcp_stream: one echo round trip over IPv4") {
    CHECK(test::run(round_trip(false)) == "Hello, world");
}

TEST_CASE("tcp_stream: one echo round trip over IPv6 ::1") {
    CHECK(test::run(round_trip(true)) == "Hello, world");
}

TEST_CASE("tcp_stream: a refused connection is an error result, and throws via value()") {
    auto main = []() -> task<> {
        auto addr = closed_port();
        auto r = co_await tcp_stream::connect(addr);
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::connection_refused);
        bool threw = false;
        try {
            (co_await tcp_stream::connect(addr)).value();
        } catch (const std::system_error& e) {
            threw = e.code() == std::errc::connection_refused;
        }
        CHECK(threw);
    };
    auto before = test::open_fds();
    test::run(main());
    CHECK(test::open_fds() == before); // the failed sockets were closed
}

TEST_CASE("tcp_stream: EOF is a 0-byte result") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        s.close();
        std::byte buf[16];
        auto n = co_await c.recv(buf);
        REQUIRE(n);
        CHECK(*n == 0);
    };
    test::run(main());
}

TEST_CASE("tcp_stream: half-close: the peer reads EOF and can still answer") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto data = test::pattern(100'000);
        CHECK(co_await c.send_all(data));
        CHECK(c.shutdown(SHUT_WR));
        // Server: read to EOF, then reply on the still-open direction.
        std::vector<std::byte> got(data.size());
        CHECK(co_await test::recv_exactly(s, got));
        std::byte extra[1];
        CHECK(*(co_await s.recv(extra)) == 0);
        CHECK(got == data);
        CHECK(co_await s.send_all("bye"));
        s.close();
        std::byte reply[3];
        CHECK(co_await test::recv_exactly(c, reply));
        CHECK(std::memcmp(reply, "bye", 3) == 0);
        CHECK(*(co_await c.recv(extra)) == 0);
    };
    test::run(main());
}

TEST_CASE("tcp_stream: a peer reset mid-stream is connection_reset, and sends never SIGPIPE") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        CHECK(co_await c.send_all("some bytes the server never reads"));
        linger hard{1, 0}; // close with RST
        ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        s.close();
        std::byte buf[64];
        auto n = co_await c.recv(buf);
        REQUIRE_FALSE(n);
        CHECK(n.error() == std::errc::connection_reset);
        // Writing to the dead connection: an error result, the process survives.
        auto big = test::pattern(1 << 20);
        auto sent = co_await c.send_all(big);
        REQUIRE_FALSE(sent);
        CHECK((sent.error() == std::errc::broken_pipe ||
               sent.error() == std::errc::connection_reset));
    };
    test::run(main());
}

TEST_CASE("tcp_stream: 8 MiB written and read concurrently arrive intact") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        spawn(test::serve_echo(l, 1));
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        auto data = test::pattern(8 << 20, 7);
        bool sent = false;
        spawn([](tcp_stream& s, std::span<const std::byte> d, bool& ok) -> task<> {
            ok = static_cast<bool>(co_await s.send_all(d));
        }(c, data, sent));
        std::vector<std::byte> back(data.size());
        CHECK(co_await test::recv_exactly(c, back));
        CHECK(sent);
        CHECK(back == data);
    };
    test::run(main());
}

TEST_CASE("tcp_stream: send reports a partial count, send_all an empty buffer succeeds") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto n = co_await c.send("abc");
        REQUIRE(n);
        CHECK(*n == 3);
        CHECK(co_await c.send_all(std::string_view{}));
        std::byte buf[3];
        CHECK(co_await test::recv_exactly(s, buf));
    };
    test::run(main());
}

TEST_CASE("tcp_stream: closing a stream cancels a pending recv; its fd number is reused safely") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto [c, s] = co_await test::connect_pair(l);
        std::error_code got;
        bool done = false;
        std::byte buf[16];
        spawn([](tcp_stream& st, std::span<std::byte> b, std::error_code& e, bool& d) -> task<> {
            auto r = co_await st.recv(b);
            e = r.error();
            d = true;
        }(c, buf, got, done));
        co_await sleep_for(1ms);
        int old_fd = c.native_handle();
        c.close();
        CHECK(co_await test::yield_until([&] { return done; }, 100));
        CHECK(got == std::errc::operation_canceled);
        // The next socket takes the same fd number and works normally.
        auto c2 = (co_await tcp_stream::connect(l.local_address())).value();
        CHECK(c2.native_handle() == old_fd);
        auto s2 = (co_await l.accept()).value();
        CHECK(co_await s2.send_all("x"));
        auto n = co_await c2.recv(buf);
        REQUIRE(n);
        CHECK(*n == 1);
    };
    test::run(main());
}

TEST_CASE("tcp_stream: I/O on a closed stream is bad_file_descriptor, not a crash") {
    auto main = []() -> task<> {
        tcp_stream never_opened;
        std::byte buf[4];
        auto r = co_await never_opened.recv(buf);
        CHECK(r.error() == std::errc::bad_file_descriptor);
        auto l = test::listen_loopback();
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        c.close();
        auto s = co_await c.send_all("x");
        CHECK(s.error() == std::errc::bad_file_descriptor);
    };
    test::run(main());
}
