// Sharing a listening port between the loops of a group: a SO_REUSEPORT
// listener per loop, and one accepting loop handing connections to the
// others (hand_off); echoes checked byte for byte, connections counted, fds
// counted before and after, and a stop with connections open on every loop.
#include "test/test_util.hpp"
#include <coronet/net/handoff.hpp>
#include <coronet/runtime/loop_group.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/when_all.hpp>

#include <algorithm>
#include <atomic>
#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace coronet;

namespace {

// One client: sends a message made of its id, checks the echo, closes.
task<bool> echo_once(socket_address at, int id) {
    auto c = co_await tcp_stream::connect(at);
    if (!c) co_return false;
    std::string msg = "connection " + std::to_string(id) + " " + std::string(id % 97, 'x');
    if (!co_await c->send_all(msg)) co_return false;
    std::string back(msg.size(), '\0');
    if (!co_await test::recv_exactly(*c, std::as_writable_bytes(std::span(back)))) co_return false;
    co_return back == msg;
}

// `total` clients, `width` at a time; returns how many got their echo.
task<int> clients(socket_address at, int total, int width) {
    std::atomic<int> ok{0};
    for (int base = 0; base < total; base += width) {
        task_group g;
        auto one = [&](int id) -> task<> {
            if (co_await echo_once(at, id)) ++ok;
        };
        for (int id = base; id < std::min(total, base + width); ++id)
            g.spawn(one(id));
        co_await g.join();
    }
    co_return ok.load();
}

// The server side: echoes, counting the connections each loop served.
task<> counted_echo(tcp_stream s, std::atomic<int>& served) {
    ++served;
    co_await test::echo(std::move(s));
}

// Which of `loops` runs this coroutine.
std::size_t index_in(std::span<const loop_handle> loops) {
    for (std::size_t i = 0; i < loops.size(); ++i)
        if (loops[i] == current_loop().handle()) return i;
    return loops.size();
}

// A handed-off connection (runs on the target loop; everything by argument,
// nothing from a lambda's captures, which hand_off's frame holds).
task<> echo_counted_at(tcp_stream s, std::span<const loop_handle> loops,
                       std::vector<std::atomic<int>>& served, std::atomic<int>& open) {
    ++open;
    co_await counted_echo(std::move(s), served[index_in(loops)]);
    --open;
}

task<> hold_counted_at(tcp_stream s, std::span<const loop_handle> loops,
                       std::vector<std::atomic<int>>& held) {
    ++held[index_in(loops)];
    co_await test::echo(std::move(s));
}

task<> serve_all(tcp_listener& l, std::atomic<int>& served, const group_context& g) {
    task_group conns;
    auto accept_loop = [&]() -> task<> {
        for (;;) {
            auto c = co_await l.accept();
            if (!c) co_return;
            conns.spawn(counted_echo(std::move(*c), served));
        }
    };
    co_await when_any(accept_loop(), g.stopped());
    co_await conns.join(); // the clients close: every echo ends
}

} // namespace

TEST_CASE("handoff: SO_REUSEPORT listeners on 2 loops serve 1,000 clients; both take some") {
    test::raise_fd_limit();
    auto ls = tcp_listener::bind_reuse_port(socket_address::loopback_v4(), 2).value();
    REQUIRE(ls[0].local_address().port() == ls[1].local_address().port());
    const socket_address at = ls[0].local_address();
    std::vector<std::atomic<int>> served(2);
    int echoed = 0;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() < 2) {
                co_await serve_all(ls[g.index()], served[g.index()], g);
                co_return;
            }
            echoed = co_await clients(at, 1000, 100);
            g.request_stop();
        },
        loop_group_options{.threads = 3});
    CHECK(echoed == 1000);
    CHECK(served[0] + served[1] == 1000);
    CHECK(served[0] > 0); // the kernel's hash spreads 1,000 client ports over both
    CHECK(served[1] > 0);
    MESSAGE("loop 0 served " << served[0] << ", loop 1 served " << served[1]);
}

TEST_CASE("handoff: 10,000 connections handed from one loop to three; none lost, no fd leaked") {
    test::raise_fd_limit();
    const std::size_t fds = test::open_fds();
    auto l = test::listen_loopback();
    const socket_address at = l.local_address();
    std::vector<std::atomic<int>> served(3);
    std::atomic<int> open_conns{0};
    int echoed = 0;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                auto targets = g.loops().subspan(1, 3);
                auto handler = [&served, &open_conns, targets](tcp_stream c) {
                    return echo_counted_at(std::move(c), targets, served, open_conns);
                };
                auto r = co_await when_any(hand_off(l, targets, handler), g.stopped());
                (void)r;
                co_return;
            }
            if (g.index() < 4) {
                co_await g.stopped();
                co_return;
            }
            echoed = co_await clients(at, 10'000, 200);
            g.request_stop();
        },
        loop_group_options{.threads = 5});
    CHECK(echoed == 10'000);
    CHECK(served[0] + served[1] + served[2] == 10'000);
    for (auto& s : served) // round robin: within one batch of each other
        CHECK(s.load() >= 3000);
    CHECK(open_conns == 0);
    l.close();
    CHECK(test::open_fds() == fds);
}

TEST_CASE("handoff: least_loaded sends a connection to the loop with fewest open ones") {
    auto l = test::listen_loopback();
    const socket_address at = l.local_address();
    std::vector<std::atomic<int>> held(2);
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 0) {
                // Connections stay open until the client closes them.
                auto targets = g.loops().subspan(1, 2);
                auto handler = [&held, targets](tcp_stream c) {
                    return hold_counted_at(std::move(c), targets, held);
                };
                auto r = co_await when_any(
                    hand_off(l, targets, handler, handoff_policy::least_loaded), g.stopped());
                (void)r;
                co_return;
            }
            if (g.index() < 3) {
                co_await g.stopped();
                co_return;
            }
            std::vector<tcp_stream> conns;
            for (int i = 0; i < 40; ++i) {
                auto c = co_await tcp_stream::connect(at);
                REQUIRE(c);
                REQUIRE(co_await c->send_all("x")); // the echo proves it was handed on
                char b;
                REQUIRE(co_await test::recv_exactly(*c, std::as_writable_bytes(std::span(&b, 1))));
                conns.push_back(std::move(*c));
            }
            CHECK(held[0] + held[1] == 40);
            CHECK(held[0] == 20); // always the emptier loop: an even split
            CHECK(held[1] == 20);
            conns.clear();
            g.request_stop();
        },
        loop_group_options{.threads = 4});
}

TEST_CASE("handoff: a stop with connections open on every loop ends them all; no fd leaked") {
    test::raise_fd_limit();
    const std::size_t fds = test::open_fds();
    auto ls = tcp_listener::bind_reuse_port(socket_address::loopback_v4(), 2).value();
    const socket_address at = ls[0].local_address();
    std::vector<std::atomic<int>> served(2);
    int eofs = 0;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() < 2) {
                task_group conns;
                auto accept_loop = [&]() -> task<> {
                    for (;;) {
                        auto c = co_await ls[g.index()].accept();
                        if (!c) co_return;
                        conns.spawn(counted_echo(std::move(*c), served[g.index()]));
                    }
                };
                co_await when_any(accept_loop(), g.stopped());
                conns.cancel(); // the open connections end now
                co_await conns.join();
                co_return;
            }
            std::vector<tcp_stream> open;
            for (int i = 0; i < 200; ++i) {
                auto c = co_await tcp_stream::connect(at);
                REQUIRE(c);
                REQUIRE(co_await c->send_all("hi"));
                char b[2];
                REQUIRE(co_await test::recv_exactly(*c, std::as_writable_bytes(std::span(b))));
                open.push_back(std::move(*c));
            }
            CHECK(served[0] > 0);
            CHECK(served[1] > 0);
            g.request_stop();
            for (auto& c : open) { // every server side closes: EOF (or a reset)
                char b;
                auto n = co_await c.recv(std::as_writable_bytes(std::span(&b, 1)));
                if (!n || *n == 0) ++eofs;
            }
        },
        loop_group_options{.threads = 3});
    CHECK(eofs == 200);
    for (auto& l : ls)
        l.close();
    CHECK(test::open_fds() == fds);
}

TEST_CASE("handoff: a stream with a receive pending moves to another loop and works there") {
    std::atomic<bool> moved{false};
    result<std::size_t> pending_result = 0;
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 1) {
                co_await g.stopped();
                co_return;
            }
            auto p = co_await test::connect_pair();
            // A receive pending on loop 0 (no data yet) while the stream moves.
            std::byte buf[8];
            auto reader = [&]() -> task<> { pending_result = co_await p.server.recv(buf); };
            task_group tg;
            tg.spawn(reader());
            co_await test::yield_turns(3);
            REQUIRE(p.server.forget_loop()); // settles it here: the receive ends first
            co_await tg.join();
            CHECK(pending_result.error() == std::errc::operation_canceled);
            // On loop 1 the same stream echoes; loop 0 keeps the client side.
            auto there = [](tcp_stream s, std::atomic<bool>& flag) -> task<> {
                flag = true;
                co_await test::echo(std::move(s));
            };
            REQUIRE(spawn_on(g.loop(1), there(std::move(p.server), moved)));
            REQUIRE(co_await p.client.send_all("moved"));
            char back[5];
            REQUIRE(co_await test::recv_exactly(p.client, std::as_writable_bytes(std::span(back))));
            CHECK(std::string_view(back, 5) == "moved");
            CHECK(moved);
            g.request_stop();
        },
        loop_group_options{.threads = 2});
}

TEST_CASE("handoff: bytes a loop read ahead for a stream are not lost when it moves") {
    std::string got; // on loop 1
    run_loops(
        [&](const group_context& g) -> task<> {
            if (g.index() == 1) {
                co_await g.stopped();
                co_return;
            }
            auto p = co_await test::connect_pair();
            REQUIRE(co_await p.client.send_all("first|"));
            auto first = co_await p.server.recv_pooled(); // io_uring: the multishot reads on
            REQUIRE(first);
            std::string here(reinterpret_cast<const char*>(first->data()), first->size());
            first->release();
            REQUIRE(co_await p.client.send_all("second|third|")); // arrives while nobody reads
            co_await test::yield_turns(20);
            // Until the loop has handed over what it holds, the stream stays here.
            for (int guard = 0; guard < 1000; ++guard) {
                auto moved = p.server.forget_loop();
                if (moved) break;
                CHECK(moved.error() == error::data_pending);
                auto more = co_await p.server.recv_pooled(); // comes at once from the queue
                REQUIRE(more);
                here.append(reinterpret_cast<const char*>(more->data()), more->size());
            }
            auto rest = [](tcp_stream s, std::string& out) -> task<> {
                std::byte buf[64];
                for (;;) {
                    auto n = co_await s.recv(buf);
                    if (!n || *n == 0) co_return;
                    out.append(reinterpret_cast<const char*>(buf), *n);
                }
            };
            got = here;
            auto last_words = [](tcp_stream& c) -> task<> {
                CHECK(co_await c.send_all("fourth"));
                c.close(); // EOF ends the reader there
            };
            task_group tg;
            tg.spawn(last_words(p.client));
            auto done = co_await run_on(g.loop(1), rest(std::move(p.server), got)); // to its EOF
            CHECK(done);
            co_await tg.join();
            g.request_stop();
        },
        loop_group_options{.threads = 2});
    CHECK(got == "first|second|third|fourth");
}
