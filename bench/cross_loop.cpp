// cross_loop: what a message from one loop to another costs: cross_channel<int>
// items, loop_handle::post calls, spawn_on tasks and run_on round trips between
// the two loops of a run_loops group.
//
// Run:   build-bench/bench/cross_loop [--messages 100000] [--backend auto|io_uring|epoll]
//                                     [--only channel,post,spawn_on,run_on,run_on_64]
//                                     [--capacity 1024] [--json] [--pause]
//        (or: python3 bench/threads_bench.py --sections cross, which also counts the
//        instructions per message under callgrind)
//
// Each benchmark sends --messages K messages from loop 0 to loop 1 (after a warm-up of
// K / 10 that is not measured) and checks that every one arrived exactly once, in order:
//   channel    loop 0 sends 0 .. K-1 through a cross_channel<int>(--capacity) while
//              loop 1 receives them (it waits when the channel is empty, loop 0 when full)
//   post       loop 0 posts K functions to loop 1 back to back, without yielding
//   spawn_on   loop 0 starts K tasks on loop 1, back to back
//   run_on     loop 0 awaits K run_on(loop 1, task) calls one after the other: each is a
//              round trip (request there, reply back), so the K counts round trips
//   run_on_64  the same K round trips from 64 concurrent callers on loop 0
// The window starts when loop 0 begins sending and ends when loop 0 knows that loop 1
// has handled the last message (one extra run_on round trip carries that news).
// Reported per benchmark: messages per second, and each loop's kernel waits (blocking
// io_uring_enter / epoll_wait calls: loop_stats::kernel_waits) in the window: a loop
// that sleeps is woken once per batch, so waits per message show the batching.
// With --pause (for a driver such as callgrind_control or perf): before each window
// print {"phase": "warm", "bench": NAME} and wait for a line on stdin; as soon as it
// ends print {"phase": "end"} and wait for another line; then the result. --json prints
// one JSON line per benchmark.
// Exit status: 0, 1 if a message was lost, duplicated or out of order, 2 for bad usage.
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/loop_group.hpp>
#include <coronet/runtime/loop_handle.hpp>
#include <coronet/runtime/sync/cross_channel.hpp>
#include <coronet/runtime/sync/event.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/when_all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fmt/core.h>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

using namespace coronet;

namespace {

struct config {
    long messages = 100'000;
    std::size_t capacity = 1024;
    std::vector<std::string> only{"channel", "post", "spawn_on", "run_on", "run_on_64"};
    bool json = false, pause = false;
    loop_options loop;
};

// Loop 1's side of post and spawn_on: counts arrivals, checks their order.
struct arrivals {
    long next = 0, expected = 0;
    bool in_order = true;
    event done;
    void got(long i) {
        in_order = in_order && i == next;
        if (++next == expected) done.set();
    }
};

task<loop_stats> stats_here() {
    co_return current_loop().stats();
}
task<> count_one(arrivals& a, long i) {
    a.got(i);
    co_return;
}
task<long> wait_all(arrivals& a, long n) { // on loop 1
    a.expected = n;
    if (a.next < n) co_await a.done.wait();
    co_return a.in_order ? a.next : -1;
}
task<long> receive_all(cross_channel<int>& ch, long n) { // on loop 1
    long in_order = 0;
    for (long i = 0; i < n; ++i) {
        auto v = co_await ch.receive();
        if (v && *v == static_cast<int>(i)) ++in_order;
    }
    co_return in_order;
}
task<long> send_all(cross_channel<int>& ch, long n) {
    for (long i = 0; i < n; ++i)
        if (!co_await ch.send(static_cast<int>(i))) co_return i;
    co_return n;
}
task<long> echo_plus_one(long i) {
    co_return i + 1;
}
task<long> call_many(const loop_handle& there, long n) {
    long ok = 0;
    for (long i = 0; i < n; ++i) {
        auto r = co_await run_on(there, echo_plus_one(i));
        if (r && *r == i + 1) ++ok;
    }
    co_return ok;
}
task<> add_calls(const loop_handle& there, long n, long& ok) {
    ok += co_await call_many(there, n);
}
// run_on as a task, for when_all.
task<result<long>> remote(const loop_handle& there, task<long> t) {
    co_return co_await run_on(there, std::move(t));
}
task<long> post_all(const loop_handle& there, arrivals& a, long n, bool as_tasks) {
    for (long i = 0; i < n; ++i) {
        bool ok = as_tasks ? bool(spawn_on(there, count_one(a, i)))
                           : bool(there.post([&a, i] { a.got(i); }));
        if (!ok) co_return i;
    }
    co_return n;
}

// K messages of kind `name` from here (loop 0) to `there`; true if all arrived once, in order.
task<bool> one_window(std::string_view name, const loop_handle& there, long k,
                      std::size_t capacity) {
    if (name == "channel") {
        cross_channel<int> ch(capacity);
        auto [got, sent] = co_await when_all(remote(there, receive_all(ch, k)), send_all(ch, k));
        co_return got&&* got == k&& sent == k;
    }
    if (name == "post" || name == "spawn_on") {
        arrivals a; // used on loop 1 only, while this frame waits
        auto [got, sent] = co_await when_all(remote(there, wait_all(a, k)),
                                             post_all(there, a, k, name == "spawn_on"));
        co_return got&&* got == k&& sent == k;
    }
    if (name == "run_on") co_return co_await call_many(there, k) == k;
    // run_on_64: 64 callers, K round trips in all
    task_group group;
    long ok = 0;
    for (long c = 0; c < 64; ++c)
        group.spawn(add_calls(there, k / 64 + (c < k % 64 ? 1 : 0), ok));
    co_await group.join();
    co_return ok == k;
}

void wait_for_line() {
    std::string line;
    std::getline(std::cin, line); // EOF releases too
}

task<int> run_all(const group_context& g, const config& cfg) {
    const loop_handle& there = g.loop(1);
    int failures = 0;
    for (const std::string& name : cfg.only) {
        long k = cfg.messages;
        bool ok =
            co_await one_window(name, there, k / 10 > 0 ? k / 10 : 1, cfg.capacity); // warm-up
        loop_stats here0 = current_loop().stats();
        auto there0 = co_await run_on(there, stats_here());
        if (cfg.pause) {
            fmt::print("{{\"phase\": \"warm\", \"bench\": \"{}\"}}\n", name);
            std::fflush(stdout);
            wait_for_line(); // blocks loop 0 while the driver zeroes its counters
        }
        auto t0 = std::chrono::steady_clock::now();
        ok = co_await one_window(name, there, k, cfg.capacity) && ok;
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (cfg.pause) {
            fmt::print("{{\"phase\": \"end\"}}\n"); // one write(2) inside the driver's window
            std::fflush(stdout);
            wait_for_line(); // the driver reads its counters
        }
        loop_stats here1 = current_loop().stats();
        auto there1 = co_await run_on(there, stats_here());
        if (!ok || !there0 || !there1) ++failures;
        std::uint64_t w0 = here1.kernel_waits - here0.kernel_waits;
        std::uint64_t w1 = there0 && there1 ? there1->kernel_waits - there0->kernel_waits : 0;
        if (cfg.json)
            fmt::print("{{\"bench\": \"{}\", \"backend\": \"{}\", \"messages\": {}, "
                       "\"seconds\": {:.6f}, \"per_s\": {:.1f}, \"kernel_waits\": [{}, {}], "
                       "\"ok\": {}}}\n",
                       name, to_string(current_loop().backend()), k, s, k / s, w0, w1, ok);
        else
            fmt::print("{:<10} {:>12.0f} msgs/s   kernel waits per 1,000 msgs: loop 0 {:>7.1f}, "
                       "loop 1 {:>7.1f}{}\n",
                       name, k / s, 1000.0 * w0 / k, 1000.0 * w1 / k,
                       ok ? "" : "   FAILED: a message was lost, repeated or out of order");
        std::fflush(stdout);
    }
    g.request_stop();
    co_return failures ? 1 : 0;
}

[[noreturn]] void usage(const char* why) {
    fmt::print(stderr,
               "cross_loop: {}\nusage: cross_loop [--messages K] [--backend auto|io_uring|epoll] "
               "[--only a,b,...] [--capacity C] [--json] [--pause]\n",
               why);
    std::exit(2);
}

config parse(int argc, char** argv) {
    config c;
    for (int i = 1; i < argc; ++i) {
        std::string_view f = argv[i];
        if (f == "--json") {
            c.json = true;
        } else if (f == "--pause") {
            c.pause = true;
        } else if (i + 1 < argc && (f == "--messages" || f == "--capacity")) {
            char* end;
            long v = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 100'000'000) usage("a count must be 1 .. 100000000");
            if (f == "--messages")
                c.messages = v;
            else
                c.capacity = static_cast<std::size_t>(v);
        } else if (i + 1 < argc && f == "--backend") {
            auto k = parse_backend_kind(argv[++i]);
            if (!k) usage("--backend: auto, io_uring or epoll");
            c.loop.backend = *k;
        } else if (i + 1 < argc && f == "--only") {
            c.only.clear();
            for (std::string_view s = argv[++i]; !s.empty();) {
                auto comma = s.find(',');
                std::string name(s.substr(0, comma));
                if (name != "channel" && name != "post" && name != "spawn_on" && name != "run_on" &&
                    name != "run_on_64")
                    usage(("--only: unknown benchmark " + name).c_str());
                c.only.push_back(name);
                s = comma == std::string_view::npos ? "" : s.substr(comma + 1);
            }
        } else {
            usage(f == "--help" ? "the cost of cross-loop messages"
                                : "unknown or incomplete option");
        }
    }
    return c;
}

} // namespace

int main(int argc, char** argv) {
    const config cfg = parse(argc, argv);
    loop_group_options g;
    g.threads = 2;
    g.loop = cfg.loop;
    try {
        auto r = run_loops(
            [&cfg](const group_context& ctx) -> task<int> {
                if (ctx.index() == 0) co_return co_await run_all(ctx, cfg);
                co_await ctx.stopped(); // loop 1 serves until loop 0 is done
                co_return 0;
            },
            g);
        return r.exit_code;
    } catch (const std::exception& e) {
        fmt::print(stderr, "cross_loop: {}\n", e.what());
        return 1;
    }
}
