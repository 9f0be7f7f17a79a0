// Cross-loop messages (loop_handle, spawn_on, run_on) between the loops of a
// group and from plain threads: every message delivered exactly once and in
// order per sender, cancellation of a cross-loop await from either side,
// and loops that stop while others still send to them.
#include "test/test_util.hpp"
#include <coronet/runtime/loop_group.hpp>
#include <coronet/runtime/loop_handle.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timer.hpp>

#include <atomic>
#include <chrono>
#include <doctest/doctest.h>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

loop_group_options two_loops() {
    loop_group_options o;
    o.threads = 2;
    return o;
}

// Counts its live instances: a message discarded unrun must still destroy what it carries.
struct tracked {
    static inline std::atomic<int> live{0};
    tracked() { ++live; }
    tracked(const tracked&) { ++live; }
    ~tracked() { --live; }
};

task<int> add_on(int a, int b) {
    co_await sleep_for(1ms);
    co_return a + b;
}

task<int> wait_forever(std::atomic<bool>& started) {
    started = true;
    auto r = co_await sleep_for(1h); // cancelled, never reached
    co_return r ? 1 : -1;
}

} // namespace

TEST_CASE("loop_handle: 100,000 messages from another loop arrive once each, in order") {
    constexpr int n = 100'000;
    std::vector<int> seen; // loop 1's
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                for (int i = 0; i < n; ++i) {
                    REQUIRE(g.loop(1).post([&seen, i] { seen.push_back(i); }));
                    if (i % 1000 == 0) co_await sleep_for(0ms); // let the batches flow
                }
                g.request_stop();
            } else {
                co_await g.stopped();
                CHECK(co_await test::yield_until([&] { return seen.size() == n; }, 1'000'000));
            }
        },
        two_loops());
    REQUIRE(seen.size() == n);
    bool in_order = true;
    for (int i = 0; i < n; ++i)
        in_order = in_order && seen[static_cast<std::size_t>(i)] == i;
    CHECK(in_order);
}

TEST_CASE("loop_handle: posts from plain threads reach the loop; a sleeping loop wakes") {
    constexpr int per_thread = 20'000;
    int count = 0;
    auto main = [&]() -> task<> {
        loop_handle h = current_loop().handle();
        std::vector<std::thread> threads;
        for (int t = 0; t < 3; ++t)
            threads.emplace_back([h] {
                for (int i = 0; i < per_thread; ++i)
                    (void)h.post([] {}); // wakes the loop asleep in its backend
            });
        for (int t = 0; t < 3; ++t)
            threads.emplace_back([h, &count] {
                for (int i = 0; i < per_thread; ++i)
                    REQUIRE(h.post([&count] { ++count; }));
            });
        for (auto& t : threads)
            t.join();
        CHECK(co_await test::yield_until([&] { return count == 3 * per_thread; }, 1'000'000));
    };
    test::run(main());
    CHECK(count == 3 * per_thread);
}

TEST_CASE("run_on: the value comes back to the caller's loop; an exception is rethrown") {
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() != 0) { // serves until loop 0 is done
                co_await g.stopped();
                co_return;
            }
            auto r = co_await run_on(g.loop(1), add_on(2, 3));
            REQUIRE(r);
            CHECK(*r == 5);
            auto thrower = []() -> task<> {
                throw std::runtime_error("from loop 1");
                co_return;
            };
            CHECK_THROWS_WITH((void)(co_await run_on(g.loop(1), thrower())), "from loop 1");
            g.request_stop();
        },
        two_loops());
}

TEST_CASE("run_on: cancelling the caller cancels the work on the other loop and joins it") {
    std::atomic<bool> started{false};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() != 0) {
                co_await g.stopped();
                co_return;
            }
            cancel_scope scope;
            auto call = [&]() -> task<result<int>> {
                co_return co_await run_on(g.loop(1), wait_forever(started));
            };
            result<int> out = 0;
            auto caller = [&]() -> task<> { out = co_await scope.run(call()); };
            task_group tg;
            tg.spawn(caller());
            CHECK(co_await test::yield_until([&] { return started.load(); }, 1'000'000));
            scope.cancel();
            co_await tg.join();
            CHECK(out); // the work ended by its own cancellation: its value is what it returned
            if (out) CHECK(*out == -1);
            g.request_stop();
        },
        two_loops());
}

TEST_CASE("run_on: the target's teardown cancels the work; the caller learns it") {
    std::atomic<bool> started{false};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 1) { // stops as soon as the work has started there
                co_await test::yield_until([&] { return started.load(); }, 1'000'000);
                co_return;
            }
            auto r = co_await run_on(g.loop(1), wait_forever(started));
            CHECK(r);
            if (r) CHECK(*r == -1); // its sleep was cancelled by loop 1's teardown
            auto late = co_await run_on(g.loop(1), add_on(1, 1));
            CHECK(late.error() == error::loop_closed);
        },
        two_loops());
}

TEST_CASE("spawn_on and post to a loop that has stopped fail with loop_closed; nothing leaks") {
    const std::size_t fds = test::open_fds();
    const int live = tracked::live;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 1) co_return; // stops at once
            std::size_t sent = 0;
            for (int guard = 0; guard < 1'000'000; ++guard) { // until loop 1 is gone
                auto conn = test::listen_loopback();          // an fd the task owns
                auto work = [](tcp_listener l, tracked t) -> task<> {
                    (void)l, (void)t;
                    co_return;
                }(std::move(conn), tracked{});
                auto r = spawn_on(g.loop(1), std::move(work));
                if (!r) {
                    CHECK(r.error() == error::loop_closed);
                    break;
                }
                ++sent;
                co_await sleep_for(0ms);
            }
            CHECK_FALSE(g.loop(1).is_open());
            CHECK(g.loop(1).post([] {}).error() == error::loop_closed);
            MESSAGE(sent << " tasks sent before loop 1 stopped");
        },
        two_loops());
    CHECK(tracked::live == live);   // tasks run, discarded or refused: all destroyed
    CHECK(test::open_fds() == fds); // and their sockets closed
}
