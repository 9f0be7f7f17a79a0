// cross_channel<T> between loops of a group: 100,000 items from several
// senders delivered exactly once and in order per sender, backpressure
// through a tiny ring, cancellation of a waiting receive and a waiting send
// (nothing lost, no wakeup lost), close.
#include "test/test_util.hpp"
#include <coronet/runtime/loop_group.hpp>
#include <coronet/runtime/sync/cross_channel.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <atomic>
#include <chrono>
#include <doctest/doctest.h>
#include <memory>
#include <utility>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

struct item {
    int sender;
    int seq;
};

} // namespace

TEST_CASE("cross_channel: 100,000 items from two loops to a third arrive exactly once, in order") {
    constexpr int per_sender = 50'000;
    cross_channel<item> ch(64); // small: senders wait for room all the time
    std::vector<int> next(2, 0);
    bool ordered = true;
    int received = 0;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() < 2) {
                for (int i = 0; i < per_sender; ++i)
                    REQUIRE(co_await ch.send(item{static_cast<int>(g.index()), i}));
                co_return;
            }
            for (int n = 0; n < 2 * per_sender; ++n) {
                auto it = co_await ch.receive();
                REQUIRE(it);
                ordered = ordered && it->seq == next[static_cast<std::size_t>(it->sender)];
                ++next[static_cast<std::size_t>(it->sender)];
                ++received;
            }
        },
        loop_group_options{.threads = 3});
    CHECK(received == 2 * per_sender);
    CHECK(ordered);
    CHECK(next == std::vector<int>{per_sender, per_sender});
    CHECK_FALSE(ch.try_receive());
}

TEST_CASE("cross_channel: a cancelled receive returns operation_canceled and loses nothing") {
    cross_channel<int> ch(4);
    std::atomic<bool> gave_up{false};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                auto r = co_await with_timeout(20ms, ch.receive()); // nothing comes in time
                CHECK(r.error() == error::timed_out);
                gave_up = true;
                auto late = co_await ch.receive(); // what came after is still there
                REQUIRE(late);
                CHECK(*late == 42);
                co_return;
            }
            CHECK(co_await test::yield_until([&] { return gave_up.load(); }, 1'000'000));
            REQUIRE(co_await ch.send(42));
        },
        loop_group_options{.threads = 2});
}

TEST_CASE("cross_channel: a cancelled send is not queued; a waiting receiver still wakes") {
    cross_channel<int> ch(2);
    for (int v : {1, 1}) // full
        REQUIRE(ch.try_send(v));
    int more = 9;
    CHECK_FALSE(ch.try_send(more));
    std::atomic<bool> sent_again{false}, gave_up{false};
    std::vector<int> got;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                auto r = co_await with_timeout(20ms, ch.send(2)); // full: times out
                CHECK(r.error() == error::timed_out);
                gave_up = true;
                REQUIRE(co_await ch.send(3)); // waits for the receiver
                sent_again = true;
                co_return;
            }
            CHECK(co_await test::yield_until([&] { return gave_up.load(); }, 1'000'000));
            for (int i = 0; i < 3; ++i) {
                auto v = co_await ch.receive();
                REQUIRE(v);
                got.push_back(*v);
            }
        },
        loop_group_options{.threads = 2});
    CHECK(sent_again);
    CHECK(got == std::vector<int>{1, 1, 3}); // 2 was never queued
}

TEST_CASE("cross_channel: close wakes waiting receivers on other loops; items left are drained") {
    cross_channel<int> ch(8);
    std::atomic<int> closed_seen{0};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                REQUIRE(co_await ch.send(5));
                ch.close();
                CHECK(ch.is_closed());
                CHECK((co_await ch.send(6)).error() == error::channel_closed);
                co_return;
            }
            for (int guard = 0; guard < 100; ++guard) {
                auto v = co_await ch.receive();
                if (!v) {
                    CHECK(v.error() == error::channel_closed);
                    ++closed_seen;
                    co_return;
                }
                CHECK(*v == 5);
            }
        },
        loop_group_options{.threads = 3});
    CHECK(closed_seen == 2);
}

TEST_CASE("cross_channel: receivers on many loops share the items, each exactly once") {
    constexpr int total = 30'000;
    cross_channel<int> ch(128);
    std::vector<std::atomic<int>> seen(total);
    std::atomic<int> count{0};
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                for (int i = 0; i < total; ++i)
                    REQUIRE(co_await ch.send(i));
                ch.close();
                co_return;
            }
            for (;;) {
                auto v = co_await ch.receive();
                if (!v) co_return;
                seen[static_cast<std::size_t>(*v)].fetch_add(1);
                ++count;
            }
        },
        loop_group_options{.threads = 3});
    CHECK(count == total);
    bool once = true;
    for (auto& s : seen)
        once = once && s.load() == 1;
    CHECK(once);
}
