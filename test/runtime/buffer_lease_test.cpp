// buffer_lease (runtime/buffer_lease.hpp) itself, with leases from real
// pooled receives over a loopback pair: an empty lease, moves, consume(),
// release(), destruction, and writable bytes. The buffer's return to the
// pool shows in pool_buffers_in_use. How recv_pooled fills leases is tested
// in test/net/recv_pooled*_test.cpp.
#include "test/net/recv_pooled.hpp"
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <string_view>
#include <sys/socket.h>
#include <utility>

using namespace coronet;
using namespace std::chrono_literals;
using test::stats;

namespace {

std::string_view text(const buffer_lease& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The lease of the next pooled receive on p.server, after p.client sent `t`.
task<buffer_lease> lease_of(test::stream_pair& p, std::string_view t) {
    REQUIRE(co_await p.client.send_all(t));
    auto r = co_await with_timeout(5s, p.server.recv_pooled());
    REQUIRE(r);
    REQUIRE(text(*r) == t);
    co_return std::move(*r);
}

void check_empty(const buffer_lease& b) {
    CHECK(b.empty());
    CHECK(b.size() == 0);
    CHECK(b.data() == nullptr);
    CHECK(b.bytes().empty());
}

} // namespace

TEST_CASE("buffer_lease: an empty lease, and the one a pooled receive returns at EOF, hold no "
          "bytes") {
    auto main = []() -> task<> {
        check_empty(buffer_lease{});
        auto p = co_await test::connect_pair();
        CHECK(p.client.shutdown(SHUT_WR));
        auto eof = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(eof);
        check_empty(*eof);
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

TEST_CASE("buffer_lease: moves transfer the buffer and leave the source empty") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto a = co_await lease_of(p, "abc");
        const std::byte* at = a.data();
        buffer_lease b(std::move(a)); // move construction
        check_empty(a);
        CHECK(b.data() == at);
        CHECK(text(b) == "abc");
        buffer_lease c;
        c = std::move(b); // move assignment into an empty lease
        check_empty(b);
        CHECK(c.data() == at);
        CHECK(text(c) == "abc");
        CHECK(stats().pool_buffers_in_use == 1); // one buffer, whoever holds it
    };
    test::run(main());
}

TEST_CASE("buffer_lease: move-assigning over a held lease gives the old buffer back") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto a = co_await lease_of(p, "one");
        auto b = co_await lease_of(p, "two");
        CHECK(stats().pool_buffers_in_use == 2);
        a = std::move(b);
        CHECK(stats().pool_buffers_in_use == 1);
        CHECK(text(a) == "two");
        check_empty(b);
    };
    test::run(main());
}

TEST_CASE("buffer_lease: consume(n) drops a prefix, clamps n to size(), and keeps the buffer") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto a = co_await lease_of(p, "hello");
        const std::byte* at = a.data();
        a.consume(0);
        CHECK(text(a) == "hello");
        a.consume(2);
        CHECK(a.data() == at + 2);
        CHECK(text(a) == "llo");
        a.consume(100); // clamped to the 3 left
        CHECK(a.empty());
        CHECK(a.size() == 0);
        CHECK(stats().pool_buffers_in_use == 1); // still leased
        a.release();
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

TEST_CASE("buffer_lease: release() gives the buffer back at once and is idempotent; so does "
          "destruction") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto a = co_await lease_of(p, "released");
        CHECK(stats().pool_buffers_in_use == 1);
        a.release();
        check_empty(a);
        CHECK(stats().pool_buffers_in_use == 0);
        a.release(); // idempotent
        check_empty(a);
        CHECK(stats().pool_buffers_in_use == 0);
        {
            auto b = co_await lease_of(p, "destroyed");
            CHECK(stats().pool_buffers_in_use == 1);
        }
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

TEST_CASE("buffer_lease: bytes() are writable; the edited lease can be sent back") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto a = co_await lease_of(p, "shout");
        for (auto& b : a.bytes())
            b = static_cast<std::byte>(static_cast<char>(b) - 'a' + 'A');
        CHECK(text(a) == "SHOUT");
        CHECK(co_await p.server.send_all(a.bytes()));
        char back[5];
        REQUIRE(co_await test::recv_exactly(p.client, std::as_writable_bytes(std::span(back))));
        CHECK(std::string_view(back, 5) == "SHOUT");
    };
    test::run(main());
}
