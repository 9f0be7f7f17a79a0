#include <coronet/runtime/sync/event.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("event: set wakes every waiter; later waits pass at once") {
    auto main = []() -> task<int> {
        event e;
        int woken = 0;
        task_group g;
        for (int i = 0; i < 10; ++i)
            g.spawn([](event& ev, int& w) -> task<> {
                if (co_await ev.wait()) ++w;
            }(e, woken));
        co_await sleep_for(0ms);
        CHECK(woken == 0);
        e.set();
        co_await g.join();
        CHECK(co_await e.wait());
        e.clear();
        CHECK_FALSE(e.is_set());
        co_return woken;
    };
    CHECK(run(main()) == 10);
}

TEST_CASE("event: a wait is cancellable and leaves the others queued") {
    auto main = []() -> task<> {
        event e;
        auto r = co_await with_timeout(2ms, e.wait());
        CHECK(r.error() == error::timed_out);
        bool woke = false;
        task_group g;
        g.spawn([](event& ev, bool& w) -> task<> {
            w = static_cast<bool>(co_await ev.wait());
        }(e, woke));
        co_await sleep_for(0ms);
        e.set();
        co_await g.join();
        CHECK(woke);
    };
    run(main());
}
