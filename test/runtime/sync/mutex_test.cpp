#include <coronet/runtime/sync/mutex.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("mutex: excludes, and hands the lock over in FIFO order") {
    auto main = []() -> task<> {
        mutex m;
        int inside = 0, max_inside = 0;
        std::vector<int> order;
        task_group g;
        for (int i = 0; i < 20; ++i)
            g.spawn([](mutex& mx, int& in, int& mi, std::vector<int>& o, int id) -> task<> {
                auto lock = co_await mx.lock();
                REQUIRE(lock);
                ++in;
                mi = std::max(mi, in);
                o.push_back(id);
                co_await sleep_for(0ms); // hold it across a suspension
                --in;
            }(m, inside, max_inside, order, i));
        co_await g.join();
        CHECK(max_inside == 1);
        REQUIRE(order.size() == 20);
        for (int i = 0; i < 20; ++i)
            CHECK(order[static_cast<std::size_t>(i)] == i);
        CHECK_FALSE(m.is_locked());
    };
    run(main());
}

TEST_CASE("mutex: a cancelled lock() does not take the lock") {
    auto main = []() -> task<> {
        mutex m;
        auto held = (co_await m.lock()).value();
        auto r = co_await with_timeout(2ms, m.lock());
        CHECK(r.error() == error::timed_out);
        held.unlock();
        CHECK_FALSE(m.is_locked()); // nobody is queued: it is free again
        CHECK(m.try_lock());
        m.unlock();
    };
    run(main());
}
