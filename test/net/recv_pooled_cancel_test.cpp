// Pooled receives (stream_socket::recv_pooled) that are cancelled, on every
// backend configuration: timeouts that lose nothing arriving later, a cancel
// racing with arriving data, close() cancelling a waiting pooled receive
// (queued buffers go back), and short timeouts all through a trickling
// stream.
#include "test/net/recv_pooled.hpp"
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/cancel_scope.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("recv_pooled: a timed-out pooled receive loses nothing that arrives later") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        for (int i = 0; i < 3; ++i) {
            auto t0 = clock::now();
            auto r = co_await with_timeout(10ms, p.server.recv_pooled());
            REQUIRE_FALSE(r);
            CHECK(r.error() == error::timed_out);
            CHECK(clock::now() - t0 >= 10ms);
            CHECK(test::stats().pool_buffers_in_use == 0);
            CHECK(test::stats().in_flight == 0);
        }
        auto data = test::pattern(50'000, 5);
        CHECK(co_await p.client.send_all(data));
        std::vector<std::byte> got;
        for (int i = 0; i < 100'000 && got.size() < data.size(); ++i) {
            auto r = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(r);
            REQUIRE_FALSE(r->empty());
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(got == data);
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

namespace {

// One pooled receive inside `scope`; records what it got.
task<> pooled_in_scope(tcp_stream& s, cancel_scope& scope, bool& started, bool& done,
                       result<buffer_lease>& out) {
    started = true;
    out = co_await scope.run(s.recv_pooled());
    done = true;
}

} // namespace

TEST_CASE("recv_pooled: a cancel racing with arriving data gives the data or operation_canceled, "
          "never a loss") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        std::vector<std::byte> sent, got;
        int cancelled = 0, delivered = 0;
        for (int i = 0; i < 300; ++i) {
            cancel_scope scope;
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(pooled_in_scope(p.server, scope, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await test::yield_until(is_started));
            // The receive waits now. Data arrives, then the cancel, after 0..3
            // loop trips: sometimes before the completion, sometimes after.
            auto chunk = test::pattern(1 + i % 200, static_cast<unsigned>(i));
            REQUIRE(::send(p.client.native_handle(), chunk.data(), chunk.size(), MSG_NOSIGNAL) ==
                    static_cast<ssize_t>(chunk.size()));
            sent.insert(sent.end(), chunk.begin(), chunk.end());
            co_await test::yield_turns(i % 4);
            scope.cancel();
            auto is_done = [&] { return done; };
            REQUIRE(co_await test::yield_until(is_done));
            if (r) {
                REQUIRE_FALSE(r->empty());
                ++delivered;
                got.insert(got.end(), r->bytes().begin(), r->bytes().end());
            } else {
                CHECK(r.error() == std::errc::operation_canceled);
                ++cancelled;
            }
            r = buffer_lease{}; // drop the lease
            // Whatever the cancelled receive did not take comes with the next ones.
            for (int k = 0; k < 1000 && got.size() < sent.size(); ++k) {
                auto more = co_await with_timeout(5s, p.server.recv_pooled());
                REQUIRE(more);
                REQUIRE_FALSE(more->empty());
                got.insert(got.end(), more->bytes().begin(), more->bytes().end());
            }
            REQUIRE(got.size() == sent.size());
        }
        CHECK(got == sent);
        CHECK(test::stats().pool_buffers_in_use == 0);
        MESSAGE(delivered << " receives got the data, " << cancelled << " were cancelled");
    };
    test::run(main());
}

TEST_CASE("recv_pooled: close() cancels a waiting pooled receive; queued buffers go back") {
    auto before = test::open_fds();
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        // A receive waiting on a socket that is closed under it.
        {
            auto p = co_await test::connect_pair(l);
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(test::pooled_once(p.server, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await test::yield_until(is_started));
            p.server.close();
            auto is_done = [&] { return done; };
            REQUIRE(co_await test::yield_until(is_done));
            REQUIRE_FALSE(r);
            CHECK(r.error() == std::errc::operation_canceled);
            CHECK(test::stats().pool_buffers_in_use == 0);
            CHECK(test::stats().in_flight == 0);
        }
        // Data queued for the socket (multishot receive, nobody waiting) when it closes.
        {
            auto p = co_await test::connect_pair(l);
            CHECK(co_await p.client.send_all("first"));
            auto first = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(first);
            first->release();
            for (unsigned i = 0; i < 4; ++i) { // separate segments: likely separate buffers
                auto chunk = test::pattern(100, i);
                CHECK(co_await p.client.send_all(chunk));
            }
            if (test::has_feature("multishot_recv")) {
                auto queued = [] { return test::stats().pool_buffers_in_use >= 1; };
                CHECK(co_await test::yield_until(queued)); // arrived while nobody waits
            }
            p.server.close();
            CHECK(test::stats().pool_buffers_in_use == 0);
            CHECK(test::stats().in_flight == 0);
        }
        // Data arriving as the socket closes under a waiting receive.
        for (int i = 0; i < 50; ++i) {
            auto p = co_await test::connect_pair(l);
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(test::pooled_once(p.server, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await test::yield_until(is_started));
            REQUIRE(::send(p.client.native_handle(), "xyz", 3, MSG_NOSIGNAL) == 3);
            co_await test::yield_turns(i % 3);
            p.server.close();
            auto is_done = [&] { return done; };
            REQUIRE(co_await test::yield_until(is_done));
            if (r)
                CHECK(r->size() == 3);
            else
                CHECK(r.error() == std::errc::operation_canceled);
            r = buffer_lease{};
            CHECK(test::stats().pool_buffers_in_use == 0);
        }
        CHECK(test::stats().in_flight == 0);
    };
    test::run(main());
    CHECK(test::open_fds() == before);
}

namespace {

// Sends `data` in small irregular pieces with loop trips in between, so that
// receives often have to wait; then half-closes.
task<> trickle(tcp_stream& s, std::span<const std::byte> data, bool& ok) {
    std::uint32_t x = 777;
    std::size_t off = 0;
    while (off < data.size()) {
        x = x * 1103515245u + 12345u;
        std::size_t n = std::min<std::size_t>(1 + (x >> 16) % 3000, data.size() - off);
        if (!co_await s.send_all(data.subspan(off, n))) co_return;
        off += n;
        for (unsigned k = 0; k < (x >> 8) % 24; ++k)
            co_await sleep_for(0ms);
    }
    ok = static_cast<bool>(s.shutdown(SHUT_WR));
}

} // namespace

TEST_CASE("recv_pooled: short timeouts all through a trickling stream lose and repeat nothing") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto data = test::pattern(1 << 20, 31);
        bool sent = false;
        spawn(trickle(p.client, data, sent));
        std::vector<std::byte> got;
        got.reserve(data.size());
        int timeouts = 0;
        std::uint32_t x = 12345;
        bool eof = false;
        for (int i = 0; i < 10'000'000 && !eof; ++i) {
            x = x * 1103515245u + 12345u;
            auto limit = std::chrono::microseconds(1 + (x >> 16) % 100); // 1 .. 100 us
            auto r = co_await with_timeout(limit, p.server.recv_pooled());
            if (!r) {
                REQUIRE(r.error() == error::timed_out);
                ++timeouts;
                continue;
            }
            eof = r->empty();
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(eof);
        CHECK(sent);
        CHECK(got.size() == data.size());
        CHECK(got == data);
        CHECK(test::stats().pool_buffers_in_use == 0);
        CHECK(test::stats().in_flight == 0);
        MESSAGE(timeouts << " receives timed out");
    };
    test::run(main());
}
