// Pooled receives (stream_socket::recv_pooled) when the pool is scarce, on
// every backend configuration: an exhausted pool makes receives wait until a
// lease returns, idle sockets hold no buffer, a returned buffer reaches a
// socket that has data, a receive that waited for a buffer completes when
// data comes, and data piling up unread holds a bounded number of buffers.
#include "test/net/recv_pooled.hpp"
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <utility>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

task<> exhaustion() {
    auto l = test::listen_loopback();
    auto a = co_await test::connect_pair(l);
    auto b = co_await test::connect_pair(l);
    auto c = co_await test::connect_pair(l);
    auto d = co_await test::connect_pair(l);
    auto da = test::pattern(40, 1), db = test::pattern(40, 2), dc = test::pattern(40, 3),
         dd = test::pattern(40, 4);
    CHECK(co_await a.client.send_all(da));
    CHECK(co_await b.client.send_all(db));
    CHECK(co_await c.client.send_all(dc));

    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    auto lb = co_await with_timeout(5s, b.server.recv_pooled());
    REQUIRE(la);
    REQUIRE(lb);
    CHECK(test::same_bytes(la->bytes(), da));
    CHECK(test::same_bytes(lb->bytes(), db));
    CHECK(test::stats().pool_buffers_in_use == 2);

    // The pool is empty: c's receive waits although its data is there.
    bool started = false, done = false;
    result<buffer_lease> lc = buffer_lease{};
    spawn(test::pooled_once(c.server, started, done, lc));
    auto is_started = [&] { return started; };
    REQUIRE(co_await test::yield_until(is_started));
    co_await test::yield_turns(50);
    CHECK_FALSE(done);
    CHECK(test::stats().pool_buffers_in_use == 2);

    // One lease comes back: c's receive completes with its own bytes.
    la->release();
    auto is_done = [&] { return done; };
    REQUIRE(co_await test::yield_until(is_done));
    REQUIRE(lc);
    CHECK(test::same_bytes(lc->bytes(), dc));
    CHECK(test::stats().pool_buffers_in_use == 2);

    // Empty again: a pooled receive waiting for a buffer times out cleanly.
    CHECK(co_await d.client.send_all(dd));
    auto t0 = clock::now();
    auto ld = co_await with_timeout(20ms, d.server.recv_pooled());
    REQUIRE_FALSE(ld);
    CHECK(ld.error() == error::timed_out);
    CHECK(clock::now() - t0 >= 20ms);
    CHECK(test::stats().pool_buffers_in_use == 2);
    CHECK(test::stats().in_flight == 0);

    // With buffers back, d's bytes are all there.
    lb->release();
    lc->release();
    CHECK(test::stats().pool_buffers_in_use == 0);
    auto ld2 = co_await with_timeout(5s, d.server.recv_pooled());
    REQUIRE(ld2);
    CHECK(test::same_bytes(ld2->bytes(), dd));
    ld2->release();
    auto st = test::stats();
    CHECK(st.pool_buffers_in_use == 0);
    CHECK(st.pool_buffers_peak == 2);
    CHECK(st.pool_buffers == 2);
}

} // namespace

TEST_CASE("recv_pooled: an exhausted pool makes receives wait until a lease returns") {
    coronet::run(exhaustion(), loop_options{.pool_buffer_size = 64, .pool_buffers = 2});
}

namespace {

task<> pooled_into(tcp_stream& s, int& started, int& done, buffer_lease& out, int& ok) {
    ++started;
    auto r = co_await s.recv_pooled();
    ok = r ? 1 : 0;
    if (r) out = std::move(*r);
    ++done;
}

} // namespace

TEST_CASE("recv_pooled: idle connections hold no buffers; each takes one when data comes") {
    auto main = []() -> task<> {
        constexpr int n = 64;
        auto l = test::listen_loopback();
        std::vector<test::stream_pair> pairs;
        pairs.reserve(n);
        for (int i = 0; i < n; ++i)
            pairs.push_back(co_await test::connect_pair(l));
        std::vector<buffer_lease> leases(n);
        std::vector<int> ok(n, 0);
        int started = 0, done = 0;
        for (std::size_t i = 0; i < n; ++i)
            spawn(pooled_into(pairs[i].server, started, done, leases[i], ok[i]));
        auto all_started = [&] { return started == n; };
        REQUIRE(co_await test::yield_until(all_started));
        co_await test::yield_turns(20);
        CHECK(done == 0);
        // 64 waiting receives, no buffer (every configuration: io_uring
        // without a buffer ring waits for readability first).
        CHECK(test::stats().pool_buffers_in_use == 0);
        for (int i = 0; i < n; ++i) {
            std::byte one[1] = {static_cast<std::byte>(i)};
            CHECK(co_await pairs[static_cast<std::size_t>(i)].client.send_all(one));
        }
        auto all_done = [&] { return done == n; };
        REQUIRE(co_await test::yield_until(all_done));
        bool right = true;
        for (int i = 0; i < n; ++i) {
            auto& lease = leases[static_cast<std::size_t>(i)];
            right = right && ok[static_cast<std::size_t>(i)] && lease.size() == 1 &&
                    lease.data()[0] == static_cast<std::byte>(i);
        }
        CHECK(right);
        CHECK(test::stats().pool_buffers_in_use == n);
        leases.clear();
        CHECK(test::stats().pool_buffers_in_use == 0);
        CHECK(test::stats().pool_buffers_peak == n);
    };
    test::run(main());
}

namespace {

// Pool of one buffer, held by a lease on `a`; `idle` then waits for a
// buffer with nothing to read, and `busy` waits for one with data queued.
task<> idle_waiter_first() {
    auto l = test::listen_loopback();
    auto a = co_await test::connect_pair(l);
    auto idle = co_await test::connect_pair(l);
    auto busy = co_await test::connect_pair(l);
    auto da = test::pattern(30, 1), dbusy = test::pattern(30, 2), didle = test::pattern(30, 3);
    CHECK(co_await a.client.send_all(da));
    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    REQUIRE(la);
    CHECK(test::stats().pool_buffers_in_use == 1);

    bool idle_started = false, idle_done = false, busy_started = false, busy_done = false;
    result<buffer_lease> lidle = buffer_lease{}, lbusy = buffer_lease{};
    spawn(test::pooled_once(idle.server, idle_started, idle_done, lidle));
    auto is_idle_started = [&] { return idle_started; };
    REQUIRE(co_await test::yield_until(is_idle_started));
    CHECK(co_await busy.client.send_all(dbusy));
    spawn(test::pooled_once(busy.server, busy_started, busy_done, lbusy));
    auto is_busy_started = [&] { return busy_started; };
    REQUIRE(co_await test::yield_until(is_busy_started));
    co_await test::yield_turns(20);
    CHECK_FALSE(idle_done);
    CHECK_FALSE(busy_done);

    la->release();
    auto is_busy_done = [&] { return busy_done; };
    // The returned buffer must reach the socket that has data, even though
    // an idle socket asked for one first.
    CHECK(co_await test::yield_until(is_busy_done, 20'000));
    CHECK_FALSE(idle_done);

    // The idle socket's data arrives: its receive completes (after `busy`
    // gives its buffer back, where the pool has to).
    CHECK(co_await idle.client.send_all(didle));
    // Each lease is checked and dropped as soon as it comes.
    bool idle_checked = false, busy_checked = false;
    auto check_and_drop = [&] {
        if (busy_done && !busy_checked) {
            busy_checked = true;
            CHECK((lbusy && test::same_bytes(lbusy->bytes(), dbusy)));
            lbusy = buffer_lease{};
        }
        if (idle_done && !idle_checked) {
            idle_checked = true;
            CHECK((lidle && test::same_bytes(lidle->bytes(), didle)));
            lidle = buffer_lease{};
        }
        return idle_checked && busy_checked;
    };
    if (!co_await test::yield_until(check_and_drop)) {
        FAIL_CHECK("a pooled receive never completed (idle done: " << idle_done << ", busy done: "
                                                                   << busy_done << ")");
        idle.server.close(); // unblock the receives so the test can end
        busy.server.close();
        auto both_done = [&] { return idle_done && busy_done; };
        REQUIRE(co_await test::yield_until(both_done));
        lidle = buffer_lease{};
        lbusy = buffer_lease{};
    }
    CHECK(test::stats().pool_buffers_in_use == 0);
    CHECK(test::stats().in_flight == 0);
}

} // namespace

TEST_CASE("recv_pooled: a returned buffer reaches a socket with data, not only the first waiter") {
    coronet::run(idle_waiter_first(), loop_options{.pool_buffer_size = 64, .pool_buffers = 1});
}

namespace {

// Pool of one buffer, held; an idle socket's pooled receive waits for it.
// The buffer comes back while the socket still has nothing to read; later
// its data arrives and the receive must complete.
task<> buffer_then_data() {
    auto l = test::listen_loopback();
    auto a = co_await test::connect_pair(l);
    auto idle = co_await test::connect_pair(l);
    CHECK(co_await a.client.send_all("a"));
    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    REQUIRE(la);
    bool started = false, done = false;
    result<buffer_lease> r = buffer_lease{};
    spawn(test::pooled_once(idle.server, started, done, r));
    auto is_started = [&] { return started; };
    REQUIRE(co_await test::yield_until(is_started));
    co_await test::yield_turns(10);
    la->release(); // nothing to read on `idle` yet
    co_await test::yield_turns(10);
    CHECK_FALSE(done);
    auto data = test::pattern(20, 9);
    CHECK(co_await idle.client.send_all(data));
    auto is_done = [&] { return done; };
    CHECK(co_await test::yield_until(is_done, 20'000));
    if (done) {
        REQUIRE(r);
        CHECK(test::same_bytes(r->bytes(), data));
    } else {
        idle.server.close(); // unblock the receive so the test can end
        REQUIRE(co_await test::yield_until(is_done));
    }
    r = buffer_lease{};
    CHECK(test::stats().pool_buffers_in_use == 0);
    CHECK(test::stats().in_flight == 0);
}

} // namespace

TEST_CASE("recv_pooled: a receive that waited for a buffer on an idle socket completes when data "
          "comes") {
    coronet::run(buffer_then_data(), loop_options{.pool_buffer_size = 64, .pool_buffers = 1});
}

TEST_CASE("recv_pooled: data that piles up while nobody reads holds a bounded number of buffers") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        // A first pooled receive (on io_uring: arms the socket's multishot receive).
        CHECK(co_await p.client.send_all("x"));
        auto first = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(first);
        first->release();
        auto data = test::pattern(16 << 20, 17); // more than the socket buffers hold
        bool sent = false;
        spawn(test::send_chunks(p.client, data, sent));
        std::size_t most = 0;
        for (int i = 0; i < 300; ++i) { // nobody reads meanwhile
            co_await sleep_for(0ms);
            most = std::max(most, test::stats().pool_buffers_in_use);
        }
        // io_uring stops a socket's multishot at 16 queued buffers; allow for
        // what the kernel delivered before the stop took effect.
        CHECK(most <= 48);
        if (test::has_feature("multishot_recv")) CHECK(most >= 1); // it did queue, nobody waiting
        MESSAGE("at most " << most << " buffers queued while nobody read");
        std::vector<std::byte> got;
        got.reserve(data.size());
        for (int i = 0; i < 10'000'000; ++i) {
            auto r = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(r);
            if (r->empty()) break;
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(sent);
        CHECK(got.size() == data.size());
        CHECK(got == std::vector<std::byte>(data.begin(), data.end()));
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}
