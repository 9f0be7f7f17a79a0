#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/task.hpp>

#include <doctest/doctest.h>
#include <memory>
#include <stdexcept>
#include <string>

using coronet::task;

namespace {

task<int> answer() {
    co_return 42;
}
task<std::string> text() {
    co_return std::string(1000, 'x');
}
task<std::unique_ptr<int>> move_only() {
    co_return std::make_unique<int>(7);
}
task<int> fails() {
    throw std::runtime_error("boom");
    co_return 0;
}
task<int> add(int a) {
    co_return a + co_await answer();
}

task<std::size_t> depth(std::size_t n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await depth(n - 1);
}

task<int> loop_many(int n) {
    int sum = 0;
    for (int i = 0; i < n; ++i)
        sum += co_await answer();
    co_return sum;
}

} // namespace

TEST_CASE("task: values propagate through co_await") {
    CHECK(coronet::run(answer()) == 42);
    CHECK(coronet::run(add(1)) == 43);
    CHECK(coronet::run(text()).size() == 1000);
    CHECK(*coronet::run(move_only()) == 7);
}

TEST_CASE("task: exceptions propagate to the awaiter and out of run") {
    auto catcher = []() -> task<std::string> {
        try {
            co_await fails();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "not thrown";
    };
    CHECK(coronet::run(catcher()) == "boom");
    CHECK_THROWS_WITH_AS(coronet::run(fails()), "boom", std::runtime_error);
}

TEST_CASE("task: is lazy") {
    bool started = false;
    auto t = [](bool& s) -> task<> {
        s = true;
        co_return;
    }(started);
    CHECK_FALSE(started);
    CHECK_FALSE(t.done());
    coronet::run(std::move(t));
    CHECK(started);
}

TEST_CASE("task: a deep chain does not grow the stack (symmetric transfer)") {
    // 200,000 nested frames would overflow an 8 MiB stack without symmetric
    // transfer on completion.
    CHECK(coronet::run(depth(200'000)) == 200'000);
    CHECK(coronet::run(loop_many(1'000'000)) == 42'000'000);
}

TEST_CASE("task: destroying an unstarted task frees its frame") {
    auto owner = std::make_shared<int>(1);
    {
        auto t = [](std::shared_ptr<int> p) -> task<int> { co_return *p; }(owner);
        CHECK(owner.use_count() == 2);
    }
    CHECK(owner.use_count() == 1);
}
