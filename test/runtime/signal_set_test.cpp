#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <unistd.h>

using namespace coronet;
using namespace std::chrono_literals;

TEST_CASE("signal_set: wait returns the signal that arrived") {
    auto main = []() -> task<int> {
        signal_set set{SIGUSR1, SIGUSR2};
        spawn([]() -> task<> {
            co_await sleep_for(1ms);
            ::kill(::getpid(), SIGUSR2);
        }());
        co_return (co_await set.wait()).value();
    };
    CHECK(coronet::run(main()) == SIGUSR2);
}

TEST_CASE("signal_set: a signal raised before wait is not lost") {
    auto main = []() -> task<int> {
        signal_set set{SIGUSR1};
        ::kill(::getpid(), SIGUSR1);
        co_return (co_await set.wait()).value();
    };
    CHECK(coronet::run(main()) == SIGUSR1);
}

TEST_CASE("signal_set: the previous signal mask is restored") {
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    auto main = []() -> task<> {
        signal_set set{SIGHUP};
        co_return;
    };
    coronet::run(main());
    pthread_sigmask(SIG_SETMASK, nullptr, &after);
    CHECK(sigismember(&before, SIGHUP) == sigismember(&after, SIGHUP));
}

TEST_CASE("signal_set: destroying the set cancels a pending wait") {
    auto main = []() -> task<bool> {
        auto set = std::make_unique<signal_set>(std::initializer_list<int>{SIGUSR1});
        bool cancelled = false;
        spawn([](signal_set& s, bool& c) -> task<> {
            auto r = co_await s.wait();
            c = !r && r.error() == std::errc::operation_canceled;
        }(*set, cancelled));
        co_await sleep_for(1ms);
        set.reset();
        co_await sleep_for(1ms);
        co_return cancelled;
    };
    CHECK(coronet::run(main()));
}
