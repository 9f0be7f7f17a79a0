#include "test/test_util.hpp"
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <cstdio>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
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

namespace {

task<> echo_round_trips(int rounds) {
    auto l = test::listen_loopback();
    spawn(test::serve_echo(l, 1));
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    std::byte msg[32] = {std::byte{3}};
    std::byte back[32];
    for (int i = 0; i < rounds; ++i) {
        CHECK(co_await c.send_all(msg));
        CHECK(co_await test::recv_exactly(c, back));
    }
}

// Every operation started has finished or is still in flight.
void check_balanced(const loop_stats& s) {
    CHECK(s.operations_submitted == s.completions + s.in_flight);
}

} // namespace

TEST_CASE("event_loop: stats start at zero and move sensibly with I/O") {
    event_loop loop;
    auto s0 = loop.stats();
    CHECK(s0.turns == 0);
    CHECK(s0.operations_submitted == 0);
    CHECK(s0.completions == 0);
    CHECK(s0.in_flight == 0);
    CHECK(s0.zero_copy_sends == 0);
    CHECK(s0.pool_buffers_in_use == 0);
    CHECK(s0.pool_buffers_peak == 0);

    loop.run_until_complete(echo_round_trips(100));
    auto s1 = loop.stats();
    CHECK(s1.turns > 0);
    // 100 round trips: a send_all and at least one recv on each side.
    CHECK(s1.operations_submitted >= 400);
    CHECK(s1.completions >= 400);
    CHECK(s1.completions <= s1.operations_submitted);
    CHECK(s1.kernel_waits > 0);
    CHECK(s1.kernel_waits <= s1.turns + s1.operations_submitted);
    check_balanced(s1);
    CHECK(s1.pool_buffers_in_use == 0); // no pooled receive: nothing leased

    loop.run_until_complete(echo_round_trips(10));
    auto s2 = loop.stats(); // counters only grow
    CHECK(s2.turns > s1.turns);
    CHECK(s2.operations_submitted > s1.operations_submitted);
    CHECK(s2.completions > s1.completions);
    CHECK(s2.kernel_waits >= s1.kernel_waits);
    check_balanced(s2);
    MESSAGE("turns " << s2.turns << ", submitted " << s2.operations_submitted << ", completions "
                     << s2.completions << ", kernel waits " << s2.kernel_waits);
}

TEST_CASE("event_loop: stats().in_flight counts a waiting receive until it ends") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        auto s = (co_await l.accept()).value();
        auto idle = current_loop().stats();
        CHECK(idle.in_flight == 0);
        bool done = false;
        spawn([](tcp_stream& st, bool& d) -> task<> {
            std::byte buf[8];
            auto r = co_await st.recv(buf);
            CHECK(r);
            d = true;
        }(s, done));
        bool waiting = false;
        for (int i = 0; i < 1000 && !waiting; ++i) {
            co_await sleep_for(0ms);
            waiting = current_loop().stats().in_flight == 1;
        }
        CHECK(waiting);
        CHECK(co_await c.send_all("ping"));
        for (int i = 0; i < 100'000 && !done; ++i)
            co_await sleep_for(0ms);
        CHECK(done);
        auto after = current_loop().stats();
        CHECK(after.in_flight == 0);
        check_balanced(after);
    };
    coronet::run(main());
}

namespace {

task<> pooled_wait(tcp_stream& s, bool& done) {
    auto r = co_await s.recv_pooled();
    CHECK(r);
    done = true;
}

// Pool of one buffer: a pooled receive waits for it, then gets it.
task<> pool_wait_counts() {
    auto l = test::listen_loopback();
    auto c1 = (co_await tcp_stream::connect(l.local_address())).value();
    auto s1 = (co_await l.accept()).value();
    auto c2 = (co_await tcp_stream::connect(l.local_address())).value();
    auto s2 = (co_await l.accept()).value();
    CHECK(co_await c1.send_all("one"));
    CHECK(co_await c2.send_all("two"));
    auto lease = co_await with_timeout(5s, s1.recv_pooled());
    REQUIRE(lease);
    auto st = current_loop().stats();
    CHECK(st.pool_buffers == 1);
    CHECK(st.pool_buffer_size == 64);
    CHECK(st.pool_buffers_in_use == 1);
    bool done = false;
    spawn(pooled_wait(s2, done));
    for (int i = 0; i < 20; ++i)
        co_await sleep_for(0ms);
    CHECK_FALSE(done);
    CHECK(current_loop().stats().in_flight == 1); // the waiting receive
    lease->release();
    for (int i = 0; i < 100'000 && !done; ++i)
        co_await sleep_for(0ms);
    CHECK(done);
    st = current_loop().stats();
    CHECK(st.in_flight == 0);
    CHECK(st.pool_buffers_in_use == 0);
    CHECK(st.pool_buffers_peak == 1);
    // A receive that waited for the pool is still one operation, started
    // once and finished once.
    check_balanced(st);
    MESSAGE("submitted " << st.operations_submitted << ", completions " << st.completions);
}

} // namespace

TEST_CASE("event_loop: stats stay balanced when a pooled receive waits for the pool") {
    coronet::run(pool_wait_counts(), loop_options{.pool_buffer_size = 64, .pool_buffers = 1});
}

TEST_CASE("event_loop: bad pool options are std::invalid_argument naming the option") {
    struct bad_case {
        std::size_t size;
        std::uint16_t count;
        const char* names;
    };
    const bad_case cases[] = {
        {0, 16, "pool_buffer_size"},
        {63, 16, "pool_buffer_size"},
        {(1u << 20) + 1, 16, "pool_buffer_size"},
        {std::size_t(1) << 40, 16, "pool_buffer_size"},
        {16384, 0, "pool_buffers"},
        {16384, 32769, "pool_buffers"},
        {16384, 65535, "pool_buffers"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.size);
        CAPTURE(c.count);
        loop_options o;
        o.pool_buffer_size = c.size;
        o.pool_buffers = c.count;
        std::string what;
        try {
            event_loop loop(o);
        } catch (const std::invalid_argument& e) {
            what = e.what();
        }
        CHECK(what.find(c.names) != std::string::npos);
        CHECK(what.find("coronet") != std::string::npos);
        CHECK(what.find('\n') == std::string::npos);
        // No loop was left behind: this thread can make one now.
        CHECK(event_loop::current() == nullptr);
        bool made = false;
        {
            event_loop fine;
            made = fine.backend() != backend_kind::automatic;
        }
        CHECK(made);
        // coronet::run checks them too, before the task starts.
        bool ran = false;
        auto body = [](bool& r) -> task<> {
            r = true;
            co_return;
        };
        CHECK_THROWS_AS(coronet::run(body(ran), o), std::invalid_argument);
        CHECK_FALSE(ran);
    }
}

TEST_CASE("event_loop: the pool option limits themselves are accepted") {
    struct good_case {
        std::size_t size;
        std::uint16_t count;
    };
    // 1 MiB x 32768 would be 32 GiB of address space: each limit is tried
    // with a modest partner here.
    const good_case cases[] = {{64, 1}, {64, 32768}, {1u << 20, 1}, {1u << 20, 16}};
    for (const auto& c : cases) {
        CAPTURE(c.size);
        CAPTURE(c.count);
        loop_options o;
        o.pool_buffer_size = c.size;
        o.pool_buffers = c.count;
        CHECK_NOTHROW(event_loop{o});
    }
}

TEST_CASE("event_loop: the largest pool options construct a loop (the pool is reserved lazily)") {
    // loop_options: "Reserved on the first pooled receive". 1 MiB x 32768
    // buffers is 32 GiB of address space; creating the loop must not need
    // it. Run in a child: a failed 32 GiB reservation aborts under ASan.
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::alarm(20);
        loop_options o;
        o.pool_buffer_size = 1u << 20;
        o.pool_buffers = 32768;
        try {
            event_loop loop(o);
            ::_exit(loop.stats().pool_buffers_in_use == 0 ? 0 : 2);
        } catch (const std::bad_alloc&) {
            ::_exit(3);
        } catch (...) {
            ::_exit(4);
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    CHECK_MESSAGE(code == 0, "child exit " << code
                                           << " (3: std::bad_alloc from event_loop's "
                                              "constructor; other: crashed or aborted)");
}
