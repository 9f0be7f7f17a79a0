#include "test/test_util.hpp"
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>
#include <coronet/runtime/when_all.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <stdexcept>
#include <string>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

task<int> after(std::chrono::milliseconds d, int v) {
    co_await sleep_for(d);
    co_return v;
}

task<int> fail_after(std::chrono::milliseconds d) {
    co_await sleep_for(d);
    throw std::runtime_error("child failed");
}

task<result<void>> sleep_task(std::chrono::milliseconds d) {
    co_return co_await sleep_for(d);
}

} // namespace

TEST_CASE("task_group: joins every child") {
    auto main = []() -> task<int> {
        int done = 0;
        task_group g;
        for (int i = 0; i < 50; ++i)
            g.spawn([](int& d, int k) -> task<> {
                co_await sleep_for(std::chrono::microseconds(k * 10));
                ++d;
            }(done, i));
        CHECK(g.size() == 50);
        co_await g.join();
        CHECK(g.size() == 0);
        co_return done;
    };
    CHECK(test::run(main()) == 50);
}

TEST_CASE("task_group: the first failure cancels the siblings and is rethrown after the join") {
    auto main = []() -> task<> {
        int cancelled = 0;
        task_group g;
        for (int i = 0; i < 5; ++i)
            g.spawn([](int& c) -> task<> {
                if (!co_await sleep_for(1h)) ++c;
            }(cancelled));
        g.spawn([]() -> task<> { co_await fail_after(1ms); }());
        bool threw = false;
        try {
            co_await g.join();
        } catch (const std::runtime_error& e) {
            threw = std::string(e.what()) == "child failed";
        }
        CHECK(threw);
        CHECK(cancelled == 5); // all joined before join() returned
    };
    test::run(main());
}

TEST_CASE("task_group: cancelling the joiner's scope cancels the children") {
    auto main = []() -> task<int> {
        int cancelled = 0;
        auto body = [](int& c) -> task<> {
            task_group g;
            for (int i = 0; i < 3; ++i)
                g.spawn([](int& cc) -> task<> {
                    if (!co_await sleep_for(1h)) ++cc;
                }(c));
            co_await g.join();
        };
        auto r = co_await with_timeout(5ms, body(cancelled));
        CHECK(r.error() == error::timed_out);
        co_return cancelled;
    };
    CHECK(test::run(main()) == 3);
}

TEST_CASE("when_all: returns every value in order; void becomes monostate") {
    auto main = []() -> task<> {
        auto [a, b, c] =
            co_await when_all(after(3ms, 1), after(1ms, 2), []() -> task<> { co_return; }());
        CHECK(a == 1);
        CHECK(b == 2);
        CHECK(c == std::monostate{});
    };
    test::run(main());
}

TEST_CASE("when_all: an exception cancels the others, joins them, then propagates") {
    auto main = []() -> task<> {
        auto t0 = clock::now();
        bool threw = false;
        try {
            co_await when_all(after(3600'000ms, 1), fail_after(1ms));
        } catch (const std::runtime_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK(clock::now() - t0 < 10s); // the hour-long sibling was cancelled
    };
    test::run(main());
}

TEST_CASE("when_all: an error result fails fast too") {
    auto main = []() -> task<> {
        auto failing = []() -> task<result<int>> {
            co_return std::make_error_code(std::errc::connection_reset);
        };
        auto [slow, bad] = co_await when_all(sleep_task(3600'000ms), failing());
        CHECK(slow.error() == std::errc::operation_canceled);
        CHECK(bad.error() == std::errc::connection_reset);
    };
    test::run(main());
}

TEST_CASE("when_any: the first wins, the losers are cancelled and joined") {
    auto main = []() -> task<> {
        auto any = co_await when_any(after(3600'000ms, 1), after(1ms, 2));
        CHECK(any.index == 1);
        CHECK(std::get<1>(any.results) == 2);
        CHECK(std::get<0>(any.results) == 1); // the loser ran to its end, cancelled
    };
    test::run(main());
}

TEST_CASE("when_any: a recv racing a deadline never loses bytes") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto recv_task = [](tcp_stream& st, std::span<std::byte> b) -> task<result<std::size_t>> {
            co_return co_await st.recv(b);
        };
        std::size_t sent = 0, received = 0;
        std::byte buf[64];
        for (int i = 0; i < 500; ++i) {
            // Data lands as the deadline expires: both are ready in the same turn.
            std::byte b[2] = {std::byte(sent), std::byte(sent + 1)};
            CHECK(co_await s.send_all(b));
            sent += 2;
            auto any = co_await when_any(recv_task(c, buf), sleep_task(0ms));
            auto& got = std::get<0>(any.results);
            REQUIRE(got.has_value()); // the recv always finishes: with bytes or cancelled
            if (*got) {
                for (std::size_t k = 0; k < **got; ++k)
                    CHECK(buf[k] == std::byte(received + k));
                received += **got;
            } else {
                CHECK(got->error() == std::errc::operation_canceled);
            }
        }
        while (received < sent) {
            auto r = co_await c.recv(buf);
            REQUIRE(r);
            for (std::size_t k = 0; k < *r; ++k)
                CHECK(buf[k] == std::byte(received + k));
            received += *r;
        }
        CHECK(received == sent);
    };
    test::run(main());
}

TEST_CASE("spawn: teardown joins a long spawned task through cancellation") {
    bool finished = false;
    auto main = [](bool& f) -> task<> {
        spawn([](bool& ff) -> task<> {
            auto r = co_await sleep_for(1h);
            ff = !r;
        }(f));
        co_return;
    };
    test::run(main(finished));
    CHECK(finished);
}
