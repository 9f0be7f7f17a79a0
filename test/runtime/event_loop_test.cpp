#include "runtime/event_loop.hpp"
#include "runtime/timer.hpp"
#include "test/test_util.hpp"

#include <chrono>
#include <cstdio>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// Captures what is written to stderr while it lives.
class stderr_capture {
public:
    stderr_capture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        REQUIRE(::pipe2(pipe_, O_NONBLOCK) == 0);
        ::dup2(pipe_[1], 2);
    }
    ~stderr_capture() {
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        ::close(pipe_[0]);
        ::close(pipe_[1]);
    }
    std::string text() {
        std::fflush(stderr);
        std::string out;
        char buf[512];
        for (ssize_t n; (n = ::read(pipe_[0], buf, sizeof buf)) > 0;)
            out.append(buf, n);
        return out;
    }

private:
    int saved_ = -1;
    int pipe_[2] = {-1, -1};
};

task<> push(std::vector<int>& out, int v) {
    out.push_back(v);
    co_return;
}

} // namespace

TEST_CASE("event_loop: run uses the configured backend and reports it") {
    event_loop loop;
    auto expected = configured_backend_kind();
    if (expected != backend_kind::automatic) CHECK(loop.backend() == expected);
    CHECK(loop.backend() != backend_kind::automatic);
    CHECK(event_loop::current() == nullptr); // only while running
    auto inside = [](event_loop* l) -> task<bool> { co_return event_loop::current() == l; };
    CHECK(loop.run_until_complete(inside(&loop)));
    MESSAGE("backend: " << to_string(loop.backend()) << " features: " << loop.backend_features());
}

TEST_CASE("event_loop: one loop per thread") {
    event_loop loop;
    CHECK_THROWS_AS(event_loop{}, std::logic_error);
    auto nested = []() -> task<> {
        CHECK_THROWS_AS(coronet::run([]() -> task<> { co_return; }()), std::logic_error);
        co_return;
    };
    loop.run_until_complete(nested());
}

TEST_CASE("event_loop: spawn runs detached tasks in order; the loop runs them before main ends") {
    std::vector<int> seen;
    auto main = [](std::vector<int>& out) -> task<> {
        for (int i = 0; i < 5; ++i)
            spawn(push(out, i));
        co_await sleep_for(0ms); // one trip through the loop
        co_await sleep_for(0ms);
    };
    coronet::run(main(seen));
    CHECK(seen == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("event_loop: an exception escaping a spawned task is reported on stderr") {
    stderr_capture cap;
    auto main = []() -> task<int> {
        spawn([]() -> task<> {
            throw std::runtime_error("spawned failure 1234");
            co_return;
        }());
        co_await sleep_for(1ms);
        co_return 5;
    };
    CHECK(coronet::run(main()) == 5); // the loop and main go on
    CHECK(cap.text().find("spawned failure 1234") != std::string::npos);
}

TEST_CASE("event_loop: teardown cancels spawned tasks and lets them finish") {
    auto before = test::open_fds();
    auto alive = std::make_shared<int>(0);
    int finished = 0;
    auto main = [](std::shared_ptr<int> token, int& fin) -> task<> {
        auto listener = std::make_shared<tcp_listener>(test::listen_loopback());
        // A task blocked in accept, holding a socket and a token.
        spawn([](std::shared_ptr<int>, std::shared_ptr<tcp_listener> l, int& f) -> task<> {
            auto c = co_await l->accept();
            CHECK(c.error() == std::errc::operation_canceled);
            ++f;
        }(token, listener, fin));
        spawn([](std::shared_ptr<int>, int& f) -> task<> {
            auto r = co_await sleep_for(1h);
            CHECK(r.error() == std::errc::operation_canceled);
            ++f;
        }(token, fin));
        co_await sleep_for(1ms);
        CHECK(current_loop().spawned_count() == 2);
    };
    coronet::run(main(alive, finished));
    CHECK(finished == 2); // both ran to their end: cancelled, not destroyed
    CHECK(alive.use_count() == 1);
    CHECK(test::open_fds() == before);
}

TEST_CASE("event_loop: teardown destroys tasks stuck on something it cannot cancel") {
    auto alive = std::make_shared<int>(0);
    auto main = [](std::shared_ptr<int> token) -> task<> {
        static test::latch never(1); // nobody counts it down
        spawn([](std::shared_ptr<int>) -> task<> { co_await never.wait(); }(token));
        co_await sleep_for(1ms);
    };
    coronet::run(main(alive));
    CHECK(alive.use_count() == 1);
}

TEST_CASE("event_loop: run_until_complete can be called again on the same loop") {
    event_loop loop;
    std::vector<int> seen;
    loop.run_until_complete(push(seen, 1));
    loop.run_until_complete(push(seen, 2));
    CHECK(seen == std::vector<int>{1, 2});
}

TEST_CASE("event_loop: spawn without a running loop is a clear error") {
    CHECK_THROWS_AS(spawn([]() -> task<> { co_return; }()), std::logic_error);
    CHECK_THROWS_AS(current_loop(), std::logic_error);
}
