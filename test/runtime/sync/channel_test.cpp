#include <coronet/runtime/sync/channel.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <memory>
#include <string>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("channel: 1 producer, 100 consumers: every item delivered exactly once") {
    constexpr int items = 20'000;
    auto main = []() -> task<> {
        channel<int> ch(16);
        std::vector<int> seen(items, 0);
        task_group g;
        for (int c = 0; c < 100; ++c)
            g.spawn([](channel<int>& chan, std::vector<int>& s) -> task<> {
                for (;;) {
                    auto v = co_await chan.receive();
                    if (!v) {
                        CHECK(v.error() == error::channel_closed);
                        co_return;
                    }
                    ++s[static_cast<std::size_t>(*v)];
                    if (*v % 7 == 0) co_await sleep_for(0ms); // mix up the order
                }
            }(ch, seen));
        for (int i = 0; i < items; ++i)
            REQUIRE(co_await ch.send(i));
        ch.close();
        co_await g.join();
        for (int i = 0; i < items; ++i)
            CHECK(seen[static_cast<std::size_t>(i)] == 1);
    };
    run(main());
}

TEST_CASE("channel: backpressure: send waits while full") {
    auto main = []() -> task<> {
        channel<std::string> ch(2);
        CHECK(co_await ch.send("a"));
        CHECK(co_await ch.send("b"));
        auto r = co_await with_timeout(2ms, ch.send("c"));
        CHECK(r.error() == error::timed_out); // full: it had to wait
        CHECK(ch.size() == 2);
        CHECK(*(co_await ch.receive()) == "a");
        CHECK(co_await ch.send("c"));
        CHECK(*(co_await ch.receive()) == "b");
        CHECK(*(co_await ch.receive()) == "c");
    };
    run(main());
}

TEST_CASE("channel: close: receivers drain, then channel_closed; sends fail") {
    auto main = []() -> task<> {
        channel<std::unique_ptr<int>> ch(4);
        CHECK(co_await ch.send(std::make_unique<int>(1)));
        ch.close();
        auto late = co_await ch.send(std::make_unique<int>(2));
        CHECK(late.error() == error::channel_closed);
        auto v = co_await ch.receive();
        REQUIRE(v);
        CHECK(**v == 1);
        auto end = co_await ch.receive();
        CHECK(end.error() == error::channel_closed);
    };
    run(main());
}

TEST_CASE("channel: a cancelled receive loses no item; capacity 0 is a rendezvous") {
    auto main = []() -> task<> {
        channel<int> ch(0);
        auto r = co_await with_timeout(2ms, ch.receive());
        CHECK(r.error() == error::timed_out);
        int got = 0;
        task_group g;
        g.spawn([](channel<int>& c, int& out) -> task<> {
            out = (co_await c.receive()).value();
        }(ch, got));
        CHECK(co_await ch.send(42));
        co_await g.join();
        CHECK(got == 42);
        // A closed rendezvous wakes a waiting sender.
        task_group g2;
        std::error_code sent;
        g2.spawn([](channel<int>& c, std::error_code& e) -> task<> {
            e = (co_await c.send(1)).error();
        }(ch, sent));
        co_await sleep_for(0ms);
        ch.close();
        co_await g2.join();
        CHECK(sent == error::channel_closed);
    };
    run(main());
}

TEST_CASE("channel: try_send never waits: full and closed leave the value untouched") {
    auto main = []() -> task<> {
        channel<std::unique_ptr<int>> ch(1);
        auto one = std::make_unique<int>(1);
        CHECK(ch.try_send(std::move(one)));
        CHECK(one == nullptr); // moved into the channel
        auto two = std::make_unique<int>(2);
        CHECK(ch.try_send(std::move(two)).error() == error::channel_full);
        REQUIRE(two != nullptr); // not taken: the caller still owns it
        CHECK(*two == 2);
        CHECK(**(co_await ch.receive()) == 1);
        CHECK(ch.try_send(std::move(two)));
        ch.close();
        auto three = std::make_unique<int>(3);
        CHECK(ch.try_send(std::move(three)).error() == error::channel_closed);
        CHECK(three != nullptr);
        CHECK(**(co_await ch.receive()) == 2); // buffered items still drain
    };
    run(main());
}

TEST_CASE("channel: try_send hands an item to a waiting receiver, even at capacity 0") {
    auto main = []() -> task<> {
        channel<std::string> ch(0);
        CHECK(ch.try_send(std::string("nobody waits")).error() == error::channel_full);
        std::string got;
        task_group g;
        g.spawn([](channel<std::string>& c, std::string& out) -> task<> {
            out = (co_await c.receive()).value();
        }(ch, got));
        co_await sleep_for(0ms); // the receiver is now waiting
        const std::string item = "handed over";
        CHECK(ch.try_send(item));
        co_await g.join();
        CHECK(got == "handed over");
    };
    run(main());
}
