#include "test/test_util.hpp"
#include <coronet/net/resolve.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/thread_pool.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <memory>
#include <string>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// A name that cannot exist and fails fast without any network: glibc refuses
// a name with an empty label before it would send a DNS query, so this does
// not depend on (or wait for) a name server. ("nonexistent.invalid" would be
// sent to the DNS server, which may be slow or unreachable.)
constexpr const char* missing_host = "no-such-host..invalid";

// Holds a worker until `gate` opens. (The lambda is named before co_await:
// g++ 12 miscompiles a lambda with class-type captures inside co_await.)
task<> blocker(std::shared_ptr<std::atomic<bool>> gate) {
    auto fn = [gate] { gate->wait(false); };
    CHECK(co_await run_blocking(std::move(fn)));
}

bool is_loopback(const socket_address& a) {
    return a.is_v6() ? a.host() == "::1" : a.host().rfind("127.", 0) == 0;
}

} // namespace

TEST_CASE("resolve: localhost gives loopback addresses with the port") {
    auto main = []() -> task<> {
        auto r = co_await resolve("localhost", 8080);
        REQUIRE(r);
        REQUIRE_FALSE(r->empty());
        for (const socket_address& a : *r) {
            CHECK(is_loopback(a));
            CHECK(a.port() == 8080);
        }
    };
    test::run(main());
}

TEST_CASE("resolve: numeric hosts are converted without the worker pool") {
    auto main = []() -> task<> {
        thread_pool& pool = current_loop().blocking_pool();
        for (const char* host : {"127.0.0.1", "::1", "[::1]"}) {
            auto r = co_await resolve(host, 80);
            REQUIRE(r);
            REQUIRE(r->size() == 1);
            CHECK(r->front() == socket_address::from(host, 80).value());
        }
        CHECK(pool.submitted() == 0);
        CHECK(pool.threads() == 0);
    };
    test::run(main());
}

TEST_CASE("resolve: a name that does not exist is host_not_found, in the getaddrinfo category") {
    auto main = []() -> task<> {
        auto r = co_await resolve(missing_host, 80);
        REQUIRE_FALSE(r);
        CHECK(r.error() == resolve_error::host_not_found);
        CHECK(std::strcmp(r.error().category().name(), "getaddrinfo") == 0);
        CHECK(r.error().message() == ::gai_strerror(EAI_NONAME));
        auto c = co_await tcp_stream::connect(missing_host, 80);
        CHECK(c.error() == resolve_error::host_not_found);
    };
    test::run(main());
}

TEST_CASE("resolve: bad host text and EAI_SYSTEM map to generic errors") {
    auto main = []() -> task<> {
        CHECK((co_await resolve("", 80)).error() == std::errc::invalid_argument);
        CHECK((co_await resolve(std::string("local\0host", 10), 80)).error() ==
              std::errc::invalid_argument);
    };
    test::run(main());
    CHECK(gai_error_code(EAI_SYSTEM, ENOMEM) == std::errc::not_enough_memory);
    CHECK(gai_error_code(EAI_AGAIN, 0) == resolve_error::try_again);
}

TEST_CASE("resolve_blocking: works without a loop") {
    auto r = resolve_blocking("localhost", 1);
    REQUIRE(r);
    CHECK(is_loopback(r->front()));
    CHECK(resolve_blocking(missing_host, 1).error() == resolve_error::host_not_found);
}

TEST_CASE("resolve: cancellation gives operation_canceled") {
    auto main = []() -> task<> {
        // Already cancelled: nothing is looked up.
        cancel_scope cancelled;
        cancelled.cancel();
        auto r = co_await cancelled.run(resolve("localhost", 80));
        CHECK(r.error() == std::errc::operation_canceled);

        // Queued behind busy workers, then cancelled: it never runs.
        auto gate = std::make_shared<std::atomic<bool>>(false);
        task_group blockers;
        for (unsigned i = 0; i < current_loop().blocking_pool().max_threads(); ++i)
            blockers.spawn(blocker(gate));
        co_await sleep_for(0ms); // one turn: the blockers submit first
        cancel_scope scope;
        spawn([](cancel_scope& s) -> task<> {
            s.cancel();
            co_return;
        }(scope));
        auto q = co_await scope.run(resolve("localhost", 80));
        CHECK(q.error() == std::errc::operation_canceled);
        auto t = co_await with_timeout(1ms, tcp_stream::connect("localhost", 80));
        CHECK(t.error() == error::timed_out);
        gate->store(true);
        gate->notify_all();
        co_await blockers.join();
    };
    test::run(main());
}

TEST_CASE("tcp_stream::connect by name reaches a listener on 127.0.0.1") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        spawn(test::serve_echo(l, 1));
        auto c = co_await tcp_stream::connect("localhost", l.local_address().port());
        REQUIRE(c);
        CHECK(c->peer_address() == l.local_address());
        CHECK(co_await c->send_all("by name"));
        std::string reply(7, '\0');
        CHECK(co_await test::recv_exactly(*c, std::as_writable_bytes(std::span(reply))));
        CHECK(reply == "by name");
    };
    test::run(main());
}

TEST_CASE("tcp_stream::connect by name: every address refused gives the last error") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        std::uint16_t port = l.local_address().port();
        l.close(); // nothing listens on the port now
        auto c = co_await tcp_stream::connect("localhost", port);
        CHECK(c.error() == std::errc::connection_refused);
        auto n = co_await tcp_stream::connect("127.0.0.1", port); // numeric: no lookup
        CHECK(n.error() == std::errc::connection_refused);
    };
    auto before = test::open_fds();
    test::run(main());
    CHECK(test::open_fds() == before);
}
