#include "test/test_util.hpp"
#include <coronet/runtime/sync/event.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/thread_pool.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <memory>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <thread>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// Holds workers until released (from any thread). Shared by value with jobs
// that may outlive the awaiting frame (cancel_policy::abandon).
struct gate {
    std::atomic<bool> open{false};
    void wait() const { open.wait(false); }
    void release() {
        open.store(true);
        open.notify_all();
    }
};

// Counts live instances, to show that jobs, functions and values are freed.
struct counted {
    static inline std::atomic<int> live{0};
    int value;
    explicit counted(int v) : value(v) { ++live; }
    counted(const counted& o) : value(o.value) { ++live; }
    ~counted() { --live; }
};

// Occupies every worker of the current loop's pool until `g` opens.
// Lambdas with captures of class type are named before co_await: g++ 12
// miscompiles such a lambda written inside the co_await expression.
task<> blocker(std::shared_ptr<gate> g) {
    auto fn = [g] { g->wait(); };
    CHECK(co_await run_blocking(std::move(fn)));
}
void block_all_workers(task_group& group, const std::shared_ptr<gate>& g) {
    for (unsigned i = 0; i < current_loop().blocking_pool().max_threads(); ++i)
        group.spawn(blocker(g));
}

// Tells the loop (from a worker) that a job has started.
auto signal_started(event& started) {
    return [loop = &current_loop(), &started] { loop->post([&started] { started.set(); }); };
}

task<> add_on_worker(int i, std::atomic<long>& sum, long& results) {
    auto fn = [i, &sum] {
        sum += i;
        return i;
    };
    auto r = co_await run_blocking(std::move(fn));
    results += r.value();
}

task<> cancel_soon(cancel_scope& s) {
    s.cancel();
    co_return;
}

task<> cancel_when_set(cancel_scope& s, event& e) {
    CHECK(co_await e.wait());
    s.cancel();
}

// Awaits a job that reports it started, then waits for `g` and returns 42.
task<> await_gated_job(cancel_scope& s, gate& g, event& started, std::optional<result<int>>& out) {
    auto fn = [&g, go = signal_started(started)] {
        go();
        g.wait(); // references into this frame are safe: the frame waits
        return 42;
    };
    out = co_await s.run(run_blocking(std::move(fn)));
}

} // namespace

TEST_CASE("run_blocking: values of every kind come back, computed on another thread") {
    auto main = []() -> task<> {
        auto loop_thread = std::this_thread::get_id();
        auto where = co_await run_blocking([] { return std::this_thread::get_id(); });
        REQUIRE(where);
        CHECK(*where != loop_thread);
        CHECK(*(co_await run_blocking([] { return std::string("from a worker"); })) ==
              "from a worker");
        int side = 0;
        CHECK(co_await to_thread([&side] { side = 7; })); // void → result<void>
        CHECK(side == 7);
        auto ptr = co_await run_blocking([] { return std::make_unique<int>(5); }); // move-only
        CHECK(**ptr == 5);
        // A function returning result<U> yields that result<U> itself.
        auto ok = co_await run_blocking([]() -> result<int> { return 3; });
        CHECK(*ok == 3);
        auto bad = co_await run_blocking(
            []() -> result<int> { return std::make_error_code(std::errc::io_error); });
        CHECK(bad.error() == std::errc::io_error);
    };
    test::run(main());
}

TEST_CASE("run_blocking: an exception thrown by the function is rethrown by co_await") {
    auto main = []() -> task<> {
        bool caught = false;
        try {
            (void)co_await run_blocking([]() -> int { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
            caught = std::string(e.what()) == "boom";
        }
        CHECK(caught);
        CHECK(*(co_await run_blocking([] { return 1; })) == 1); // the pool goes on
    };
    test::run(main());
}

TEST_CASE("run_blocking: 500 concurrent jobs all complete on at most max_threads workers") {
    auto main = []() -> task<> {
        std::atomic<long> sum{0};
        long results = 0;
        task_group group;
        for (int i = 1; i <= 500; ++i)
            group.spawn(add_on_worker(i, sum, results));
        co_await group.join();
        CHECK(sum == 500 * 501 / 2);
        CHECK(results == 500 * 501 / 2);
        thread_pool& pool = current_loop().blocking_pool();
        CHECK(pool.threads() >= 1);
        CHECK(pool.threads() <= pool.max_threads());
        CHECK(pool.submitted() == 500);
        CHECK(pool.waiting() == 0);
    };
    test::run(main());
}

TEST_CASE("run_blocking: workers block asynchronous signals") {
    auto main = []() -> task<> {
        auto blocked = co_await run_blocking([] {
            sigset_t now;
            ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
            return ::sigismember(&now, SIGINT) == 1 && ::sigismember(&now, SIGTERM) == 1 &&
                   ::sigismember(&now, SIGSEGV) == 0;
        });
        CHECK(*blocked);
    };
    test::run(main());
}

TEST_CASE("run_blocking: in a cancelled scope the function never runs") {
    auto main = []() -> task<> {
        cancel_scope scope;
        scope.cancel();
        bool ran = false;
        auto r = co_await scope.run(run_blocking([&ran] { ran = true; }));
        CHECK(r.error() == std::errc::operation_canceled);
        CHECK_FALSE(ran);
    };
    test::run(main());
}

TEST_CASE("run_blocking: cancelling a queued job removes it; it never runs") {
    auto main = []() -> task<> {
        auto g = std::make_shared<gate>();
        task_group blockers;
        block_all_workers(blockers, g); // the next job waits in the queue
        co_await sleep_for(0ms);        // one turn: the blockers submit first
        std::atomic<bool> ran{false};
        cancel_scope scope;
        spawn(cancel_soon(scope)); // runs once the job below is queued
        auto r = co_await scope.run(run_blocking([&ran] { ran = true; }));
        CHECK(r.error() == std::errc::operation_canceled);
        // The same through a timeout: the deadline passes while it is queued.
        auto t = co_await with_timeout(1ms, run_blocking([&ran] { ran = true; }));
        CHECK(t.error() == error::timed_out);
        g->release();
        co_await blockers.join();
        CHECK_FALSE(ran);
        CHECK(current_loop().blocking_pool().waiting() == 0);
    };
    test::run(main());
}

TEST_CASE("run_blocking: cancel_policy::wait — a running job is joined; its value is kept") {
    auto main = []() -> task<> {
        gate g;
        event started;
        cancel_scope scope;
        std::optional<result<int>> got;
        task_group group;
        group.spawn(await_gated_job(scope, g, started, got));
        CHECK(co_await started.wait());
        scope.cancel();
        co_await sleep_for(0ms); // a turn of the loop: the awaiter still waits
        CHECK_FALSE(got.has_value());
        g.release();
        co_await group.join();
        REQUIRE(got.has_value());
        CHECK(**got == 42);
    };
    test::run(main());
}

TEST_CASE("run_blocking: cancel_policy::abandon — operation_canceled at once, value discarded") {
    auto main = []() -> task<> {
        auto g = std::make_shared<gate>();
        event started;
        cancel_scope scope;
        spawn(cancel_when_set(scope, started));
        auto fn = [g, go = signal_started(started)] {
            go();
            g->wait();
            return counted(9);
        };
        auto r = co_await scope.run(run_blocking(std::move(fn), cancel_policy::abandon));
        CHECK(r.error() == std::errc::operation_canceled); // while the job still runs
        g->release();
    };
    counted::live = 0;
    test::run(main()); // teardown joins the worker, which finishes the job
    CHECK(counted::live == 0);
}

task<> await_job_returning_5(std::optional<result<int>>& out, std::shared_ptr<gate> g,
                             event& started) {
    auto fn = [g, go = signal_started(started)] {
        go();
        g->wait();
        return 5;
    };
    out = co_await run_blocking(std::move(fn));
}

task<> spawn_and_leave_running(std::optional<result<int>>& out, std::shared_ptr<gate> g) {
    event started;
    spawn(await_job_returning_5(out, g, started));
    CHECK(co_await started.wait());
    g->release(); // the job ends during or before the loop's teardown
}

TEST_CASE("run_blocking: teardown joins a job that is still running (cancel_policy::wait)") {
    std::optional<result<int>> got;
    test::run(spawn_and_leave_running(got, std::make_shared<gate>()));
    REQUIRE(got.has_value());
    CHECK(**got == 5);
}

task<> await_abandoned_job(std::shared_ptr<gate> g, std::atomic<bool>& cancelled, event& started) {
    auto fn = [g, go = signal_started(started)] {
        go();
        g->wait();
        return counted(1);
    };
    auto r = co_await run_blocking(std::move(fn), cancel_policy::abandon);
    CHECK(r.error() == std::errc::operation_canceled);
    cancelled.store(true);
    cancelled.notify_all();
}

task<> spawn_and_leave_abandoned(std::shared_ptr<gate> g, std::atomic<bool>& cancelled) {
    event started;
    spawn(await_abandoned_job(g, cancelled, started));
    CHECK(co_await started.wait());
}

TEST_CASE("run_blocking: teardown with an abandoned job lets go of it, then joins the worker") {
    auto g = std::make_shared<gate>();
    std::atomic<bool> cancelled{false};
    // Opens the gate once the awaiter has seen its cancellation.
    std::jthread opener([&] {
        cancelled.wait(false);
        g->release();
    });
    counted::live = 0;
    test::run(spawn_and_leave_abandoned(g, cancelled));
    CHECK(cancelled.load());
    CHECK(counted::live == 0);
}

task<> await_cancelled_copy(cancel_scope& s, counted c) {
    auto fn = [c] { return counted(c.value); };
    auto r = co_await s.run(run_blocking(std::move(fn)));
    CHECK(r.error() == std::errc::operation_canceled);
}

TEST_CASE("run_blocking: nothing leaks — functions and values are freed on every path") {
    auto main = []() -> task<> {
        auto g = std::make_shared<gate>();
        task_group blockers;
        block_all_workers(blockers, g);
        cancel_scope scope;
        task_group group;
        for (int i = 0; i < 20; ++i) // queued behind the blockers, then cancelled
            group.spawn(await_cancelled_copy(scope, counted(i)));
        co_await sleep_for(0ms); // let every child queue its job
        scope.cancel();
        co_await group.join();
        g->release();
        co_await blockers.join();
        for (int i = 0; i < 20; ++i) {
            auto fn = [c = counted(i)] { return c; };
            CHECK((co_await run_blocking(std::move(fn)))->value == i);
        }
    };
    counted::live = 0;
    test::run(main());
    CHECK(counted::live == 0);
}
