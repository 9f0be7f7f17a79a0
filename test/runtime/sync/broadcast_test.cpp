#include <coronet/runtime/sync/broadcast.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// Receives until the subscription ends; records each item and, per item, missed().
struct log {
    std::vector<int> items;
    std::vector<std::uint64_t> missed;
    std::error_code end;
    std::uint64_t missed_at_end = 0;
};

task<> collect(subscription<int>& s, log& out) {
    for (;;) {
        auto v = co_await s.receive();
        if (!v) {
            out.end = v.error();
            out.missed_at_end = s.missed();
            co_return;
        }
        out.items.push_back(*v);
        out.missed.push_back(s.missed());
    }
}

} // namespace

TEST_CASE("broadcast: every subscriber gets every item in order; `except` is skipped") {
    auto main = []() -> task<> {
        broadcast<std::string> room(8, overflow::disconnect);
        subscription<std::string> a(room), b(room), c(room);
        CHECK(room.size() == 3);
        CHECK(room.publish("hello", &a) == 2);
        CHECK(room.publish("world") == 3);
        CHECK(*(co_await b.receive()) == "hello");
        CHECK(*(co_await b.receive()) == "world");
        CHECK(*(co_await c.receive()) == "hello");
        CHECK(*(co_await c.receive()) == "world");
        CHECK(*(co_await a.receive()) == "world"); // a did not get its own "hello"
        CHECK(a.queued() == 0);
        CHECK(a.missed() == 0);
    };
    run(main());
}

TEST_CASE("broadcast: receivers waiting in tasks get items as they are published") {
    auto main = []() -> task<> {
        broadcast<int> hub(4, overflow::disconnect);
        std::vector<std::unique_ptr<subscription<int>>> subs;
        std::vector<log> logs(50);
        task_group g;
        for (std::size_t i = 0; i < logs.size(); ++i) {
            subs.push_back(std::make_unique<subscription<int>>(hub));
            g.spawn(collect(*subs.back(), logs[i]));
        }
        for (int i = 0; i < 1000; ++i) {
            CHECK(hub.publish(i) == logs.size());
            if (i % 3 == 0) co_await sleep_for(0ms); // let the receivers drain
        }
        hub.close();
        co_await g.join();
        for (const log& l : logs) {
            REQUIRE(l.items.size() == 1000);
            for (int i = 0; i < 1000; ++i)
                CHECK(l.items[static_cast<std::size_t>(i)] == i);
            CHECK(l.end == error::channel_closed);
        }
    };
    run(main());
}

TEST_CASE("broadcast: drop: a subscriber that does not receive loses items, counted exactly") {
    auto main = []() -> task<> {
        broadcast<int> hub(3, overflow::drop);
        subscription<int> fast(hub), slow(hub);
        log fast_log;
        task_group g;
        g.spawn(collect(fast, fast_log));
        for (int i = 0; i < 10; ++i) {
            hub.publish(i); // slow's queue fills after 3; the rest is dropped for it
            co_await sleep_for(0ms);
        }
        CHECK(slow.queued() == 3);
        CHECK(slow.subscribed()); // drop never cuts anyone off
        for (int want : {0, 1, 2}) {
            CHECK(*(co_await slow.receive()) == want);
            CHECK(slow.missed() == 0);
        }
        hub.publish(10); // room again: delivered, with the 7 it missed before it
        co_await sleep_for(0ms);
        CHECK(*(co_await slow.receive()) == 10);
        CHECK(slow.missed() == 7);
        hub.publish(11);
        co_await sleep_for(0ms);
        CHECK(*(co_await slow.receive()) == 11);
        CHECK(slow.missed() == 0);
        for (int i = 12; i < 17; ++i) {
            hub.publish(i); // 12..14 queued, 15 and 16 dropped: reported at the end
            co_await sleep_for(0ms);
        }
        hub.close();
        log slow_log;
        co_await collect(slow, slow_log);
        CHECK(slow_log.items == std::vector<int>{12, 13, 14});
        CHECK(slow_log.end == error::channel_closed);
        CHECK(slow_log.missed_at_end == 2);
        co_await g.join();
        CHECK(fast_log.items.size() == 17); // the fast one lost nothing
        for (std::uint64_t m : fast_log.missed)
            CHECK(m == 0);
    };
    run(main());
}

TEST_CASE("broadcast: disconnect: a full subscriber is cut off, drains, then overflow") {
    auto main = []() -> task<> {
        broadcast<int> hub(2, overflow::disconnect);
        subscription<int> fast(hub), slow(hub);
        log fast_log;
        bool cut = false;
        task_group g;
        g.spawn(collect(fast, fast_log));
        g.spawn([](subscription<int>& s, bool& flag) -> task<> {
            CHECK(co_await s.cut_off());
            flag = true;
        }(slow, cut));
        co_await sleep_for(0ms); // the fast collector waits; slow receives nothing yet
        CHECK(hub.publish(1) == 2);
        co_await sleep_for(0ms);
        CHECK(hub.publish(2) == 2);
        co_await sleep_for(0ms);
        CHECK(!cut);
        CHECK(hub.publish(3) == 1); // slow is full: cut off, fast still gets it
        CHECK(slow.overflowed());
        CHECK(!slow.subscribed());
        CHECK(hub.size() == 1);
        co_await sleep_for(0ms);
        CHECK(cut);                 // cut_off() completed
        CHECK(hub.publish(4) == 1); // slow gets nothing more
        co_await sleep_for(0ms);
        CHECK(*(co_await slow.receive()) == 1);
        CHECK(*(co_await slow.receive()) == 2);
        auto end = co_await slow.receive();
        CHECK(end.error() == error::subscriber_overflow);
        CHECK(co_await slow.cut_off()); // already cut off: completes at once
        hub.close();
        co_await g.join();
        CHECK(cut);
        CHECK(fast_log.items == std::vector<int>{1, 2, 3, 4});
        CHECK(fast_log.end == error::channel_closed);
    };
    run(main());
}

TEST_CASE("broadcast: a cancelled receive loses nothing; cut_off can be cancelled") {
    auto main = []() -> task<> {
        broadcast<int> hub(4, overflow::disconnect);
        subscription<int> s(hub);
        auto r = co_await with_timeout(2ms, s.receive());
        CHECK(r.error() == error::timed_out);
        auto c = co_await with_timeout(2ms, s.cut_off());
        CHECK(c.error() == error::timed_out);
        hub.publish(7);
        CHECK(*(co_await s.receive()) == 7);
    };
    run(main());
}

TEST_CASE("broadcast: lifetimes: leave on destruction, closed before or after subscribing") {
    auto main = []() -> task<> {
        auto hub = std::make_unique<broadcast<int>>(4, overflow::drop);
        subscription<int> stays(*hub);
        {
            subscription<int> leaves(*hub);
            CHECK(hub->size() == 2);
        }
        CHECK(hub->size() == 1);
        CHECK(hub->publish(1) == 1);
        hub.reset(); // destroying the broadcast closes its subscriptions
        CHECK(!stays.subscribed());
        CHECK(*(co_await stays.receive()) == 1);
        CHECK((co_await stays.receive()).error() == error::channel_closed);

        broadcast<int> closed(4, overflow::drop);
        closed.close();
        subscription<int> late(closed);
        CHECK(!late.subscribed());
        CHECK(closed.publish(1) == 0);
        CHECK((co_await late.receive()).error() == error::channel_closed);
        CHECK_THROWS_AS(broadcast<int>(0, overflow::drop), std::invalid_argument);
    };
    run(main());
}
