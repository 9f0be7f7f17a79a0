#include "test/test_util.hpp"
#include <coronet/runtime/stop_token.hpp>
#include <coronet/runtime/sync/event.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <stop_token>
#include <thread>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("stop_token: a stop requested on the loop thread cancels the wait") {
    auto main = []() -> task<> {
        std::stop_source src;
        task_group g;
        g.spawn([](std::stop_source& s) -> task<> {
            co_await sleep_for(1ms);
            s.request_stop();
        }(src));
        auto r = co_await with_stop_token(src.get_token(), sleep_for(1h));
        co_await g.join();
        CHECK(r.error() == std::errc::operation_canceled);
    };
    test::run(main());
}

TEST_CASE("stop_token: a stop requested from another thread cancels a pending recv") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        std::stop_source src;
        std::jthread other([&src] { src.request_stop(); }); // whenever it runs
        std::byte buf[4];
        auto r = co_await with_stop_token(src.get_token(), c.recv(buf));
        CHECK(r.error() == std::errc::operation_canceled);
    };
    test::run(main());
}

TEST_CASE("stop_token: an already stopped token fails at once; an unstopped one is inert") {
    auto main = []() -> task<> {
        std::stop_source stopped;
        stopped.request_stop();
        auto r = co_await with_stop_token(stopped.get_token(), sleep_for(1h));
        CHECK(r.error() == std::errc::operation_canceled);
        std::stop_source idle;
        CHECK(co_await with_stop_token(idle.get_token(), sleep_for(1ms)));
    };
    test::run(main());
}

TEST_CASE("event_loop: post from another thread runs on the loop") {
    auto main = []() -> task<> {
        event_loop* loop = &current_loop();
        auto loop_thread = std::this_thread::get_id();
        bool ran_on_loop = false;
        event posted;
        std::jthread other([&] {
            loop->post([&] {
                ran_on_loop = std::this_thread::get_id() == loop_thread;
                posted.set(); // only ever touched on the loop thread
            });
        });
        auto r = co_await with_timeout(10s, posted.wait());
        CHECK(r);
        CHECK(ran_on_loop);
    };
    test::run(main());
}
