// Pooled receives (stream_socket::recv_pooled -> buffer_lease) through
// tcp_stream, on every backend configuration: byte order and integrity
// across irregular chunks and tiny pools, EOF, the pool reserved on first
// use, data larger than a buffer, mixing plain and pooled receives on one
// socket, a reset peer, a closed stream, and leases that outlive the loop.
#include "test/net/recv_pooled.hpp"
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <cstring>
#include <deque>
#include <doctest/doctest.h>
#include <memory>
#include <string_view>
#include <sys/socket.h>
#include <utility>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// What a pooled reader saw.
struct pooled_outcome {
    std::size_t bytes = 0;
    std::size_t leases = 0;
    bool intact = true;        // every lease held the expected bytes when it was dropped
    bool sizes_ok = true;      // 0 < size <= pool_buffer_size for every lease
    bool accounting_ok = true; // pool_buffers_in_use covered the leases held
    bool eof = false;
    std::error_code error;
};

// Receives with recv_pooled until EOF. Keeps the last `window` leases alive
// and checks each one against `expected` only when it drops it, so a buffer
// reused while still leased would show up as corrupted bytes.
task<pooled_outcome> read_pooled_to_eof(tcp_stream& s, std::span<const std::byte> expected,
                                        std::size_t window) {
    pooled_outcome out;
    std::deque<std::pair<std::size_t, buffer_lease>> held; // (offset in the stream, lease)
    auto drop_oldest = [&] {
        auto& [off, lease] = held.front();
        out.intact = out.intact && off + lease.size() <= expected.size() &&
                     test::same_bytes(lease.bytes(), expected.subspan(off, lease.size()));
        held.pop_front();
    };
    for (int guard = 0; guard < 10'000'000; ++guard) {
        auto r = co_await s.recv_pooled();
        if (!r) {
            out.error = r.error();
            break;
        }
        if (r->empty()) {
            out.eof = true;
            break;
        }
        auto st = test::stats();
        out.sizes_ok = out.sizes_ok && r->size() <= st.pool_buffer_size;
        out.accounting_ok = out.accounting_ok && st.pool_buffers_in_use >= held.size() + 1 &&
                            st.pool_buffers_in_use <= st.pool_buffers;
        ++out.leases;
        held.emplace_back(out.bytes, std::move(*r));
        out.bytes += held.back().second.size();
        if (held.size() > window) drop_oldest();
    }
    while (!held.empty())
        drop_oldest();
    co_return out;
}

task<> megabyte_in_chunks(std::size_t window) {
    auto p = co_await test::connect_pair();
    auto data = test::pattern(1 << 20, 11);
    bool sent = false;
    spawn(test::send_chunks(p.client, data, sent));
    auto out = co_await read_pooled_to_eof(p.server, data, window);
    CHECK_FALSE(out.error);
    CHECK(out.eof);
    CHECK(sent);
    CHECK(out.bytes == data.size());
    CHECK(out.intact);
    CHECK(out.sizes_ok);
    CHECK(out.accounting_ok);
    CHECK(out.leases >= data.size() / test::stats().pool_buffer_size);
    // EOF stays EOF.
    auto again = co_await with_timeout(5s, p.server.recv_pooled());
    REQUIRE(again);
    CHECK(again->empty());
    auto st = test::stats();
    CHECK(st.pool_buffers_in_use == 0); // every lease was dropped
    CHECK(st.pool_buffers_peak >= 1);
    CHECK(st.pool_buffers_peak <= st.pool_buffers);
    MESSAGE(out.leases << " leases, peak " << st.pool_buffers_peak << " of " << st.pool_buffers
                       << " buffers of " << st.pool_buffer_size << " bytes");
}

} // namespace

TEST_CASE("recv_pooled: 1 MiB in irregular chunks arrives intact and in order; EOF is empty") {
    // The default pool, holding 8 leases at a time.
    test::run(megabyte_in_chunks(8));
}

TEST_CASE("recv_pooled: 1 MiB through a tiny pool (8 x 64 bytes) with 4 leases held") {
    // The pool runs dry over and over: the multishot receive stops on
    // ENOBUFS (io_uring), or receives wait for a buffer (plain, epoll).
    coronet::run(megabyte_in_chunks(4), loop_options{.pool_buffer_size = 64, .pool_buffers = 8});
}

TEST_CASE("recv_pooled: the pool is reserved on first use with the configured sizes") {
    auto main = []() -> task<> {
        auto st = test::stats();
        // loop_options: the pool is reserved on the first pooled receive.
        CHECK(st.pool_buffers == 0);
        CHECK(st.pool_buffers_in_use == 0);
        auto p = co_await test::connect_pair();
        CHECK(co_await p.client.send_all("hello"));
        auto r = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(r);
        CHECK(std::string_view(reinterpret_cast<const char*>(r->data()), r->size()) == "hello");
        st = test::stats();
        CHECK(st.pool_buffers == 100);
        CHECK(st.pool_buffer_size == 256);
        CHECK(st.pool_buffers_in_use == 1);
        CHECK(st.pool_buffers_peak == 1);
        // consume() narrows the view; the buffer stays leased until release().
        r->consume(2);
        CHECK(r->size() == 3);
        CHECK(std::memcmp(r->data(), "llo", 3) == 0);
        r->consume(100); // clamped
        CHECK(r->empty());
        CHECK(test::stats().pool_buffers_in_use == 1);
        buffer_lease moved = std::move(*r);
        CHECK(test::stats().pool_buffers_in_use == 1);
        moved.release();
        CHECK(test::stats().pool_buffers_in_use == 0);
        moved.release(); // idempotent
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    coronet::run(main(), loop_options{.pool_buffer_size = 256, .pool_buffers = 100});
}

TEST_CASE("recv_pooled: data larger than a pool buffer comes as several buffer-sized leases") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto data = test::pattern(1000, 3);
        CHECK(co_await p.client.send_all(data));
        std::vector<std::byte> got;
        for (int i = 0; i < 1000 && got.size() < data.size(); ++i) {
            auto r = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(r);
            REQUIRE_FALSE(r->empty());
            CHECK(r->size() <= 128);
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(got == data);
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    coronet::run(main(), loop_options{.pool_buffer_size = 128, .pool_buffers = 16});
}

TEST_CASE("recv_pooled: plain recv (7 bytes at a time) and recv_pooled on one socket keep order") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto data = test::pattern(512 * 1024, 21);
        bool sent = false;
        spawn(test::send_chunks(p.client, data, sent));
        std::vector<std::byte> got;
        got.reserve(data.size());
        int plain = 0, pooled = 0;
        bool eof = false;
        for (int i = 0; i < 10'000'000 && !eof; ++i) {
            if (i % 5 < 3) { // mostly tiny plain receives: they copy out of queued buffers
                std::byte small[7];
                auto n = co_await p.server.recv(small);
                REQUIRE(n);
                eof = *n == 0;
                got.insert(got.end(), small, small + *n);
                ++plain;
            } else {
                auto r = co_await p.server.recv_pooled();
                REQUIRE(r);
                eof = r->empty();
                got.insert(got.end(), r->bytes().begin(), r->bytes().end());
                ++pooled;
            }
        }
        CHECK(eof);
        CHECK(sent);
        CHECK(got.size() == data.size());
        CHECK(got == data);
        CHECK(test::stats().pool_buffers_in_use == 0);
        MESSAGE(plain << " plain receives, " << pooled << " pooled");
    };
    test::run(main());
}

TEST_CASE("recv_pooled: a large plain recv after pooled ones takes queued bytes first") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        auto data = test::pattern(300'000, 8);
        CHECK(co_await p.client.send_all(std::span(data).first(10)));
        auto first = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(first);
        std::vector<std::byte> got(first->bytes().begin(), first->bytes().end());
        first->release();
        bool sent = false;
        spawn(test::send_chunks(p.client, std::span(data).subspan(10), sent));
        std::vector<std::byte> big(100'000);
        for (int i = 0; i < 1'000'000; ++i) {
            auto n = co_await p.server.recv(big);
            REQUIRE(n);
            if (*n == 0) break;
            got.insert(got.end(), big.begin(), big.begin() + static_cast<std::ptrdiff_t>(*n));
        }
        CHECK(sent);
        CHECK(got == data);
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

TEST_CASE("recv_pooled: a reset peer is connection_reset, after the bytes that came first") {
    auto main = []() -> task<> {
        auto p = co_await test::connect_pair();
        CHECK(co_await p.client.send_all("last words"));
        // Read them before the reset: a reset discards unread data.
        auto r = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(r);
        CHECK(std::string_view(reinterpret_cast<const char*>(r->data()), r->size()) ==
              "last words");
        r->release();
        linger hard{1, 0};
        ::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        p.client.close();
        auto e = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE_FALSE(e);
        CHECK(e.error() == std::errc::connection_reset);
        CHECK(test::stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

TEST_CASE("recv_pooled: on a closed stream it is bad_file_descriptor") {
    auto main = []() -> task<> {
        tcp_stream never_opened;
        auto r = co_await never_opened.recv_pooled();
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::bad_file_descriptor);
    };
    test::run(main());
}

TEST_CASE("recv_pooled: leases still held when the loop ends are not an error") {
    // Teardown with a spawned task holding a lease and another waiting in
    // recv_pooled: both are cancelled and unwind; the lease is released.
    auto before = test::open_fds();
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        struct shared {
            test::stream_pair p;
            bool holding = false;
        };
        auto sh = std::make_shared<shared>();
        sh->p = co_await test::connect_pair(l);
        CHECK(co_await sh->p.client.send_all("held"));
        spawn([](std::shared_ptr<shared> s) -> task<> {
            auto r = co_await s->p.server.recv_pooled(); // gets "held"
            s->holding = static_cast<bool>(r);
            auto next = co_await s->p.server.recv_pooled(); // waits until teardown
            CHECK(next.error() == std::errc::operation_canceled);
        }(sh));
        auto holding = [&] { return sh->holding; };
        CHECK(co_await test::yield_until(holding));
        CHECK(test::stats().pool_buffers_in_use >= 1);
    };
    test::run(main());
    CHECK(test::open_fds() == before);
}
