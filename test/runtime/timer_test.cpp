#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

task<> sleeper(std::vector<int>& out, int id, clock::time_point deadline) {
    co_await sleep_until(deadline);
    out.push_back(id);
}

} // namespace

TEST_CASE("timer: sleeps wake in deadline order, equal deadlines in arming order") {
    std::vector<int> order;
    auto main = [](std::vector<int>& out) -> task<> {
        auto t0 = clock::now();
        spawn(sleeper(out, 3, t0 + 30ms));
        spawn(sleeper(out, 1, t0 + 10ms));
        spawn(sleeper(out, 2, t0 + 20ms));
        spawn(sleeper(out, 4, t0 + 20ms)); // same deadline as 2, armed later
        spawn(sleeper(out, 0, t0));        // already due
        co_await sleep_until(t0 + 40ms);
    };
    coronet::run(main(order));
    CHECK(order == std::vector<int>{0, 1, 2, 4, 3});
}

TEST_CASE("timer: sleep_for waits at least its duration") {
    auto main = []() -> task<clock::duration> {
        auto t0 = clock::now();
        co_await sleep_for(20ms);
        co_return clock::now() - t0;
    };
    CHECK(coronet::run(main()) >= 20ms);
}

TEST_CASE("timer: a 1 ms sleep on an idle loop wakes promptly") {
    // Generous bound (not a benchmark): the median of 20 sleeps is under 5 ms.
    auto main = []() -> task<std::vector<clock::duration>> {
        std::vector<clock::duration> took;
        for (int i = 0; i < 20; ++i) {
            auto t0 = clock::now();
            co_await sleep_for(1ms);
            took.push_back(clock::now() - t0);
        }
        co_return took;
    };
    auto took = coronet::run(main());
    std::sort(took.begin(), took.end());
    CHECK(took.front() >= 1ms);
    CHECK(took[took.size() / 2] < 5ms);
}

TEST_CASE("timer: sleep_for(0) yields to other ready coroutines") {
    std::vector<int> order;
    auto main = [](std::vector<int>& out) -> task<> {
        spawn([](std::vector<int>& o) -> task<> {
            o.push_back(1);
            co_return;
        }(out));
        co_await sleep_for(0ms);
        out.push_back(2);
    };
    coronet::run(main(order));
    CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("timer: a destroyed sleeper disarms its timer") {
    // The long sleeper is destroyed at teardown; the loop must not touch it.
    auto main = []() -> task<> {
        spawn([]() -> task<> { co_await sleep_for(1h); }());
        co_await sleep_for(1ms);
    };
    coronet::run(main());
    coronet::run(main()); // a fresh loop: nothing left over
}
