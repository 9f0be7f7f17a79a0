// run_loops: N loops on N threads, the first error stops the others and is
// rethrown, exit codes, stop levels (request_stop, signals), thread count
// from the options and CORONET_THREADS, pinning, per-loop counters.
#include "test/test_util.hpp"
#include <coronet/runtime/loop_group.hpp>
#include <coronet/runtime/timer.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <set>
#include <stdexcept>
#include <thread>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("run_loops: every loop runs its own task on its own thread; loop 0 on the caller's") {
    std::mutex m;
    std::set<std::thread::id> threads;
    std::set<std::size_t> indexes;
    std::thread::id loop0;
    auto r = run_loops(
        [&](const group_context& g) -> task<> {
            co_await sleep_for(1ms);
            std::lock_guard lock(m);
            threads.insert(std::this_thread::get_id());
            indexes.insert(g.index());
            if (g.index() == 0) loop0 = std::this_thread::get_id();
            CHECK(g.size() == 3);
            CHECK(g.loops().size() == 3);
            CHECK(event_loop::current() != nullptr);
        },
        loop_group_options{.threads = 3});
    CHECK(r.exit_code == 0);
    CHECK(threads.size() == 3);
    CHECK(indexes == std::set<std::size_t>{0, 1, 2});
    CHECK(loop0 == std::this_thread::get_id());
    REQUIRE(r.stats.size() == 3);
    for (const loop_stats& s : r.stats)
        CHECK(s.turns > 0);
}

TEST_CASE("run_loops: the first exception cancels the other loops and is rethrown") {
    std::atomic<int> cancelled{0};
    auto run = [&] {
        run_loops(
            [&](const group_context& g) -> task<> {
                if (g.index() == 1) {
                    co_await sleep_for(5ms);
                    throw std::runtime_error("loop 1 failed");
                }
                auto r = co_await sleep_for(1h); // until loop 1's failure cancels it
                if (!r) ++cancelled;
            },
            loop_group_options{.threads = 3});
    };
    CHECK_THROWS_WITH(run(), "loop 1 failed");
    CHECK(cancelled == 2);
}

TEST_CASE("run_loops: a nonzero exit code is the group's and stops the others") {
    auto r = run_loops(
        [&](const group_context& g) -> task<int> {
            if (g.index() == 0) co_return 7;
            co_await sleep_for(1h); // cancelled
            co_return 3;            // after the first nonzero code: not the group's
        },
        loop_group_options{.threads = 2});
    CHECK(r.exit_code == 7);
}

TEST_CASE("run_loops: request_stop raises the stop level on every loop, one level at a time") {
    std::atomic<int> saw_stop{0}, saw_hurry{0};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) g.request_stop(); // from a loop; any thread may
            co_await g.stopped();
            CHECK(g.stop_level() >= 1);
            ++saw_stop;
            if (g.index() == 1) g.request_stop();
            co_await g.stopped(2);
            CHECK(g.stop_level() >= 2);
            ++saw_hurry;
        },
        loop_group_options{.threads = 3});
    CHECK(saw_stop == 3);
    CHECK(saw_hurry == 3);
}

TEST_CASE("run_loops: a stop signal reaches every loop; the calling thread's mask is restored") {
    sigset_t before;
    pthread_sigmask(SIG_BLOCK, nullptr, &before);
    loop_group_options o = loop_group_options{.threads = 2};
    o.stop_signals = {SIGUSR1};
    std::atomic<int> stopped{0};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) ::kill(::getpid(), SIGUSR1); // the process gets it
            co_await g.stopped();
            if (g.stop_level() >= 1) ++stopped;
        },
        o);
    CHECK(stopped == 2);
    sigset_t after;
    pthread_sigmask(SIG_BLOCK, nullptr, &after);
    CHECK(sigismember(&after, SIGUSR1) == sigismember(&before, SIGUSR1));
}

TEST_CASE("run_loops: a loop that cannot start fails the group; the others are cancelled") {
    loop_group_options o = loop_group_options{.threads = 2};
    o.loop.pool_buffers = 0; // every loop refuses this (invalid_argument)
    CHECK_THROWS_AS(run_loops([](const group_context&) -> task<> { co_return; }, o),
                    std::invalid_argument);
}

TEST_CASE("run_loops: CORONET_THREADS chooses the count when the options do not") {
    ::setenv("CORONET_THREADS", "2", 1);
    auto r = run_loops([](const group_context&) -> task<> { co_return; });
    CHECK(r.stats.size() == 2);
    ::setenv("CORONET_THREADS", "zero", 1);
    CHECK_THROWS_AS(run_loops([](const group_context&) -> task<> { co_return; }),
                    std::invalid_argument);
    ::unsetenv("CORONET_THREADS");
    CHECK(configured_threads() == available_cpus());
    auto one_per_cpu = run_loops([](const group_context&) -> task<> { co_return; },
                                 loop_group_options{.threads = 0});
    CHECK(one_per_cpu.stats.size() == available_cpus());
}

TEST_CASE("run_loops: pinned loops run on the CPUs of the affinity mask") {
    loop_group_options o = loop_group_options{.threads = 2};
    o.pin_threads = true;
    std::atomic<int> pinned{0};
    run_loops(
        [&](const group_context&) -> task<> {
            cpu_set_t set;
            CPU_ZERO(&set);
            REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
            if (CPU_COUNT(&set) == 1) ++pinned;
            co_return;
        },
        o);
    CHECK(pinned == 2);
}
