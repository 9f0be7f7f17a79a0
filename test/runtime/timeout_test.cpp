#include "test/test_util.hpp"
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("timeout: a recv with no data times out; the stream stays usable") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        std::byte buf[8];
        auto t0 = clock::now();
        auto r = co_await with_timeout(20ms, c.recv(buf));
        auto took = clock::now() - t0;
        REQUIRE_FALSE(r);
        CHECK(r.error() == error::timed_out);
        CHECK(r.error() == std::errc::timed_out); // the generic condition too
        CHECK(r.error() != std::errc::operation_canceled);
        CHECK(took >= 20ms);
        CHECK(took < 5s);
        CHECK(co_await s.send_all("late"));
        auto n = co_await with_timeout(5s, c.recv(buf));
        REQUIRE(n);
        CHECK(*n == 4);
    };
    test::run(main());
}

TEST_CASE("timeout: what finishes in time passes through unchanged") {
    auto main = []() -> task<> {
        auto r = co_await with_timeout(1s, sleep_for(1ms));
        CHECK(r);
        auto value = []() -> task<int> { co_return 5; };
        auto v = co_await with_timeout(1s, value());
        REQUIRE(v);
        CHECK(*v == 5);
        auto nothing = []() -> task<> { co_return; };
        CHECK(co_await with_timeout(1s, nothing()));
    };
    test::run(main());
}

TEST_CASE("timeout: timeout_at bounds a whole task; an expired deadline fails at once") {
    auto main = []() -> task<> {
        auto slow = []() -> task<result<int>> {
            for (int i = 0; i < 1000; ++i) {
                auto r = co_await sleep_for(1ms);
                if (!r) co_return r.error();
            }
            co_return 1;
        };
        auto r = co_await timeout_at(clock::now() + 10ms, slow());
        CHECK(r.error() == error::timed_out);
        auto past = co_await timeout_at(clock::now() - 1s, sleep_for(1h));
        CHECK(past.error() == error::timed_out);
        auto v = []() -> task<> { co_await sleep_for(1h); };
        auto vr = co_await timeout_at(clock::now() + 1ms, v());
        CHECK(vr.error() == error::timed_out);
    };
    test::run(main());
}

TEST_CASE("timeout: nested deadlines: the earlier one wins, an outer cancel is not a timeout") {
    auto main = []() -> task<> {
        auto inner = []() -> task<result<void>> {
            co_return co_await with_timeout(1h, sleep_for(1h));
        };
        auto r = co_await with_timeout(5ms, inner());
        CHECK(r.error() == error::timed_out);

        cancel_scope outer;
        task_group g;
        g.spawn([](cancel_scope& o) -> task<> {
            co_await sleep_for(1ms);
            o.cancel();
        }(outer));
        auto r2 = co_await outer.run(with_timeout(1h, sleep_for(1h)));
        co_await g.join();
        CHECK(r2.error() == std::errc::operation_canceled);
    };
    test::run(main());
}

TEST_CASE("timeout: an accept that times out leaves the listener working") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto a = co_await with_timeout(5ms, l.accept());
        CHECK(a.error() == error::timed_out);
        auto c = co_await tcp_stream::connect(l.local_address());
        REQUIRE(c);
        auto b = co_await with_timeout(5s, l.accept());
        CHECK(b);
    };
    test::run(main());
}

TEST_CASE("timeout: a single operation on io_uring is bounded by a linked timeout") {
    auto main = []() -> task<> {
        auto& loop = current_loop();
        bool linked =
            loop.backend() == backend_kind::io_uring && test::has_feature(loop, "linked_timeout");
        auto l = test::listen_loopback();
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        std::size_t loop_timers_during_wait = 99;
        task_group g;
        g.spawn([](event_loop& lp, std::size_t& n) -> task<> {
            co_await sleep_for(2ms); // its own timer has fired when it runs
            n = detail::loop_access::timers(lp).size();
        }(loop, loop_timers_during_wait));
        std::byte buf[4];
        auto r = co_await with_timeout(30ms, c.recv(buf));
        co_await g.join();
        CHECK(r.error() == error::timed_out);
        // io_uring: the kernel holds the deadline; epoll: the loop's timer does.
        CHECK(loop_timers_during_wait == (linked ? 0u : 1u));
    };
    test::run(main());
}
