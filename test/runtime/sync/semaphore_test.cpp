#include <coronet/runtime/sync/semaphore.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("semaphore: at most N holders at once") {
    auto main = []() -> task<> {
        semaphore s(3);
        int inside = 0, max_inside = 0, done = 0;
        task_group g;
        for (int i = 0; i < 30; ++i)
            g.spawn([](semaphore& sm, int& in, int& mi, int& d) -> task<> {
                REQUIRE(co_await sm.acquire());
                mi = std::max(mi, ++in);
                co_await sleep_for(0ms);
                --in;
                ++d;
                sm.release();
            }(s, inside, max_inside, done));
        co_await g.join();
        CHECK(max_inside == 3);
        CHECK(done == 30);
        CHECK(s.available() == 3);
    };
    run(main());
}

TEST_CASE("semaphore: a cancelled acquire takes no permit") {
    auto main = []() -> task<> {
        semaphore s(1);
        CHECK(s.try_acquire());
        auto r = co_await with_timeout(2ms, s.acquire());
        CHECK(r.error() == error::timed_out);
        s.release();
        CHECK(s.available() == 1);
    };
    run(main());
}
