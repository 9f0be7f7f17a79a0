// Pooled receives (stream_socket::recv_pooled → buffer_lease) through
// tcp_stream, on every backend configuration: byte order and integrity,
// EOF, cancellation and timeouts that lose nothing, mixing with plain
// receives, pool exhaustion, idle sockets that hold no buffer, and close().
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/cancel_scope.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <doctest/doctest.h>
#include <memory>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <utility>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

struct stream_pair {
    tcp_stream client;
    tcp_stream server;
};

task<stream_pair> connect_pair(tcp_listener& l) {
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    auto s = (co_await l.accept()).value();
    co_return stream_pair{std::move(c), std::move(s)};
}

loop_stats stats() {
    return current_loop().stats();
}

// Whether the running loop has backend feature `name` (a word of backend_features()).
bool has_feature(std::string_view name) {
    std::string all = " " + current_loop().backend_features() + " ";
    return all.find(" " + std::string(name) + " ") != std::string::npos;
}

// Yields to the loop until `done()` holds, at most `turns` loop trips.
template <class F>
task<bool> yield_until(F done, int turns = 200'000) {
    for (int i = 0; i < turns && !done(); ++i)
        co_await sleep_for(0ms);
    co_return done();
}

// `turns` trips through the loop (to show that something does NOT happen).
task<> yield_turns(int turns) {
    for (int i = 0; i < turns; ++i)
        co_await sleep_for(0ms);
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// Sends `data` in irregular chunks, then half-closes (unless told not to).
task<> send_chunks(tcp_stream& s, std::span<const std::byte> data, bool& ok, bool eof = true) {
    static constexpr std::size_t sizes[] = {1,     7,   4096,  100, 16384,  16385, 3,
                                            65536, 999, 32768, 5,   200000, 63,    64};
    std::size_t off = 0;
    for (std::size_t i = 0; off < data.size(); ++i) {
        std::size_t n = std::min(sizes[i % std::size(sizes)], data.size() - off);
        if (!co_await s.send_all(data.subspan(off, n))) co_return;
        off += n;
    }
    if (eof && !s.shutdown(SHUT_WR)) co_return;
    ok = true;
}

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
                     same_bytes(lease.bytes(), expected.subspan(off, lease.size()));
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
        auto st = stats();
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
    auto l = test::listen_loopback();
    auto p = co_await connect_pair(l);
    auto data = test::pattern(1 << 20, 11);
    bool sent = false;
    spawn(send_chunks(p.client, data, sent));
    auto out = co_await read_pooled_to_eof(p.server, data, window);
    CHECK_FALSE(out.error);
    CHECK(out.eof);
    CHECK(sent);
    CHECK(out.bytes == data.size());
    CHECK(out.intact);
    CHECK(out.sizes_ok);
    CHECK(out.accounting_ok);
    CHECK(out.leases >= data.size() / stats().pool_buffer_size);
    // EOF stays EOF.
    auto again = co_await with_timeout(5s, p.server.recv_pooled());
    REQUIRE(again);
    CHECK(again->empty());
    auto st = stats();
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
        auto st = stats();
        // loop_options: the pool is reserved on the first pooled receive.
        CHECK(st.pool_buffers == 0);
        CHECK(st.pool_buffers_in_use == 0);
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        CHECK(co_await p.client.send_all("hello"));
        auto r = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(r);
        CHECK(std::string_view(reinterpret_cast<const char*>(r->data()), r->size()) == "hello");
        st = stats();
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
        CHECK(stats().pool_buffers_in_use == 1);
        buffer_lease moved = std::move(*r);
        CHECK(stats().pool_buffers_in_use == 1);
        moved.release();
        CHECK(stats().pool_buffers_in_use == 0);
        moved.release(); // idempotent
        CHECK(stats().pool_buffers_in_use == 0);
    };
    coronet::run(main(), loop_options{.pool_buffer_size = 256, .pool_buffers = 100});
}

TEST_CASE("recv_pooled: data larger than a pool buffer comes as several buffer-sized leases") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
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
        CHECK(stats().pool_buffers_in_use == 0);
    };
    coronet::run(main(), loop_options{.pool_buffer_size = 128, .pool_buffers = 16});
}

TEST_CASE("recv_pooled: a timed-out pooled receive loses nothing that arrives later") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        for (int i = 0; i < 3; ++i) {
            auto t0 = clock::now();
            auto r = co_await with_timeout(10ms, p.server.recv_pooled());
            REQUIRE_FALSE(r);
            CHECK(r.error() == error::timed_out);
            CHECK(clock::now() - t0 >= 10ms);
            CHECK(stats().pool_buffers_in_use == 0);
            CHECK(stats().in_flight == 0);
        }
        auto data = test::pattern(50'000, 5);
        CHECK(co_await p.client.send_all(data));
        std::vector<std::byte> got;
        for (int i = 0; i < 100'000 && got.size() < data.size(); ++i) {
            auto r = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(r);
            REQUIRE_FALSE(r->empty());
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(got == data);
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

namespace {

// One pooled receive inside `scope`; records what it got.
task<> pooled_in_scope(tcp_stream& s, cancel_scope& scope, bool& started, bool& done,
                       result<buffer_lease>& out) {
    started = true;
    out = co_await scope.run(s.recv_pooled());
    done = true;
}

} // namespace

TEST_CASE("recv_pooled: a cancel racing with arriving data gives the data or operation_canceled, "
          "never a loss") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        std::vector<std::byte> sent, got;
        int cancelled = 0, delivered = 0;
        for (int i = 0; i < 300; ++i) {
            cancel_scope scope;
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(pooled_in_scope(p.server, scope, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await yield_until(is_started));
            // The receive waits now. Data arrives, then the cancel, after 0..3
            // loop trips: sometimes before the completion, sometimes after.
            auto chunk = test::pattern(1 + i % 200, static_cast<unsigned>(i));
            REQUIRE(::send(p.client.native_handle(), chunk.data(), chunk.size(), MSG_NOSIGNAL) ==
                    static_cast<ssize_t>(chunk.size()));
            sent.insert(sent.end(), chunk.begin(), chunk.end());
            co_await yield_turns(i % 4);
            scope.cancel();
            auto is_done = [&] { return done; };
            REQUIRE(co_await yield_until(is_done));
            if (r) {
                REQUIRE_FALSE(r->empty());
                ++delivered;
                got.insert(got.end(), r->bytes().begin(), r->bytes().end());
            } else {
                CHECK(r.error() == std::errc::operation_canceled);
                ++cancelled;
            }
            r = buffer_lease{}; // drop the lease
            // Whatever the cancelled receive did not take comes with the next ones.
            for (int k = 0; k < 1000 && got.size() < sent.size(); ++k) {
                auto more = co_await with_timeout(5s, p.server.recv_pooled());
                REQUIRE(more);
                REQUIRE_FALSE(more->empty());
                got.insert(got.end(), more->bytes().begin(), more->bytes().end());
            }
            REQUIRE(got.size() == sent.size());
        }
        CHECK(got == sent);
        CHECK(stats().pool_buffers_in_use == 0);
        MESSAGE(delivered << " receives got the data, " << cancelled << " were cancelled");
    };
    test::run(main());
}

TEST_CASE("recv_pooled: plain recv (7 bytes at a time) and recv_pooled on one socket keep order") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        auto data = test::pattern(512 * 1024, 21);
        bool sent = false;
        spawn(send_chunks(p.client, data, sent));
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
        CHECK(stats().pool_buffers_in_use == 0);
        MESSAGE(plain << " plain receives, " << pooled << " pooled");
    };
    test::run(main());
}

TEST_CASE("recv_pooled: a large plain recv after pooled ones takes queued bytes first") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        auto data = test::pattern(300'000, 8);
        CHECK(co_await p.client.send_all(std::span(data).first(10)));
        auto first = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(first);
        std::vector<std::byte> got(first->bytes().begin(), first->bytes().end());
        first->release();
        bool sent = false;
        spawn(send_chunks(p.client, std::span(data).subspan(10), sent));
        std::vector<std::byte> big(100'000);
        for (int i = 0; i < 1'000'000; ++i) {
            auto n = co_await p.server.recv(big);
            REQUIRE(n);
            if (*n == 0) break;
            got.insert(got.end(), big.begin(), big.begin() + static_cast<std::ptrdiff_t>(*n));
        }
        CHECK(sent);
        CHECK(got == data);
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

namespace {

task<> pooled_once(tcp_stream& s, bool& started, bool& done, result<buffer_lease>& out) {
    started = true;
    out = co_await s.recv_pooled();
    done = true;
}

task<> exhaustion() {
    auto l = test::listen_loopback();
    auto a = co_await connect_pair(l);
    auto b = co_await connect_pair(l);
    auto c = co_await connect_pair(l);
    auto d = co_await connect_pair(l);
    auto da = test::pattern(40, 1), db = test::pattern(40, 2), dc = test::pattern(40, 3),
         dd = test::pattern(40, 4);
    CHECK(co_await a.client.send_all(da));
    CHECK(co_await b.client.send_all(db));
    CHECK(co_await c.client.send_all(dc));

    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    auto lb = co_await with_timeout(5s, b.server.recv_pooled());
    REQUIRE(la);
    REQUIRE(lb);
    CHECK(same_bytes(la->bytes(), da));
    CHECK(same_bytes(lb->bytes(), db));
    CHECK(stats().pool_buffers_in_use == 2);

    // The pool is empty: c's receive waits although its data is there.
    bool started = false, done = false;
    result<buffer_lease> lc = buffer_lease{};
    spawn(pooled_once(c.server, started, done, lc));
    auto is_started = [&] { return started; };
    REQUIRE(co_await yield_until(is_started));
    co_await yield_turns(50);
    CHECK_FALSE(done);
    CHECK(stats().pool_buffers_in_use == 2);

    // One lease comes back: c's receive completes with its own bytes.
    la->release();
    auto is_done = [&] { return done; };
    REQUIRE(co_await yield_until(is_done));
    REQUIRE(lc);
    CHECK(same_bytes(lc->bytes(), dc));
    CHECK(stats().pool_buffers_in_use == 2);

    // Empty again: a pooled receive waiting for a buffer times out cleanly.
    CHECK(co_await d.client.send_all(dd));
    auto t0 = clock::now();
    auto ld = co_await with_timeout(20ms, d.server.recv_pooled());
    REQUIRE_FALSE(ld);
    CHECK(ld.error() == error::timed_out);
    CHECK(clock::now() - t0 >= 20ms);
    CHECK(stats().pool_buffers_in_use == 2);
    CHECK(stats().in_flight == 0);

    // With buffers back, d's bytes are all there.
    lb->release();
    lc->release();
    CHECK(stats().pool_buffers_in_use == 0);
    auto ld2 = co_await with_timeout(5s, d.server.recv_pooled());
    REQUIRE(ld2);
    CHECK(same_bytes(ld2->bytes(), dd));
    ld2->release();
    auto st = stats();
    CHECK(st.pool_buffers_in_use == 0);
    CHECK(st.pool_buffers_peak == 2);
    CHECK(st.pool_buffers == 2);
}

} // namespace

TEST_CASE("recv_pooled: an exhausted pool makes receives wait until a lease returns") {
    coronet::run(exhaustion(), loop_options{.pool_buffer_size = 64, .pool_buffers = 2});
}

namespace {

task<> pooled_into(tcp_stream& s, int& started, int& done, buffer_lease& out, int& ok) {
    ++started;
    auto r = co_await s.recv_pooled();
    ok = r ? 1 : 0;
    if (r) out = std::move(*r);
    ++done;
}

} // namespace

TEST_CASE("recv_pooled: idle connections hold no buffers; each takes one when data comes") {
    auto main = []() -> task<> {
        constexpr int n = 64;
        auto l = test::listen_loopback();
        std::vector<stream_pair> pairs;
        pairs.reserve(n);
        for (int i = 0; i < n; ++i)
            pairs.push_back(co_await connect_pair(l));
        std::vector<buffer_lease> leases(n);
        std::vector<int> ok(n, 0);
        int started = 0, done = 0;
        for (std::size_t i = 0; i < n; ++i)
            spawn(pooled_into(pairs[i].server, started, done, leases[i], ok[i]));
        auto all_started = [&] { return started == n; };
        REQUIRE(co_await yield_until(all_started));
        co_await yield_turns(20);
        CHECK(done == 0);
        // 64 waiting receives, no buffer (every configuration: io_uring
        // without a buffer ring waits for readability first).
        CHECK(stats().pool_buffers_in_use == 0);
        for (int i = 0; i < n; ++i) {
            std::byte one[1] = {static_cast<std::byte>(i)};
            CHECK(co_await pairs[static_cast<std::size_t>(i)].client.send_all(one));
        }
        auto all_done = [&] { return done == n; };
        REQUIRE(co_await yield_until(all_done));
        bool right = true;
        for (int i = 0; i < n; ++i) {
            auto& lease = leases[static_cast<std::size_t>(i)];
            right = right && ok[static_cast<std::size_t>(i)] && lease.size() == 1 &&
                    lease.data()[0] == static_cast<std::byte>(i);
        }
        CHECK(right);
        CHECK(stats().pool_buffers_in_use == n);
        leases.clear();
        CHECK(stats().pool_buffers_in_use == 0);
        CHECK(stats().pool_buffers_peak == n);
    };
    test::run(main());
}

TEST_CASE("recv_pooled: close() cancels a waiting pooled receive; queued buffers go back") {
    auto before = test::open_fds();
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        // A receive waiting on a socket that is closed under it.
        {
            auto p = co_await connect_pair(l);
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(pooled_once(p.server, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await yield_until(is_started));
            p.server.close();
            auto is_done = [&] { return done; };
            REQUIRE(co_await yield_until(is_done));
            REQUIRE_FALSE(r);
            CHECK(r.error() == std::errc::operation_canceled);
            CHECK(stats().pool_buffers_in_use == 0);
            CHECK(stats().in_flight == 0);
        }
        // Data queued for the socket (multishot receive, nobody waiting) when it closes.
        {
            auto p = co_await connect_pair(l);
            CHECK(co_await p.client.send_all("first"));
            auto first = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(first);
            first->release();
            for (unsigned i = 0; i < 4; ++i) { // separate segments: likely separate buffers
                auto chunk = test::pattern(100, i);
                CHECK(co_await p.client.send_all(chunk));
            }
            if (has_feature("multishot_recv")) {
                auto queued = [] { return stats().pool_buffers_in_use >= 1; };
                CHECK(co_await yield_until(queued)); // arrived while nobody waits
            }
            p.server.close();
            CHECK(stats().pool_buffers_in_use == 0);
            CHECK(stats().in_flight == 0);
        }
        // Data arriving as the socket closes under a waiting receive.
        for (int i = 0; i < 50; ++i) {
            auto p = co_await connect_pair(l);
            bool started = false, done = false;
            result<buffer_lease> r = buffer_lease{};
            spawn(pooled_once(p.server, started, done, r));
            auto is_started = [&] { return started; };
            REQUIRE(co_await yield_until(is_started));
            REQUIRE(::send(p.client.native_handle(), "xyz", 3, MSG_NOSIGNAL) == 3);
            co_await yield_turns(i % 3);
            p.server.close();
            auto is_done = [&] { return done; };
            REQUIRE(co_await yield_until(is_done));
            if (r)
                CHECK(r->size() == 3);
            else
                CHECK(r.error() == std::errc::operation_canceled);
            r = buffer_lease{};
            CHECK(stats().pool_buffers_in_use == 0);
        }
        CHECK(stats().in_flight == 0);
    };
    test::run(main());
    CHECK(test::open_fds() == before);
}

TEST_CASE("recv_pooled: a reset peer is connection_reset, after the bytes that came first") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
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
        CHECK(stats().pool_buffers_in_use == 0);
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
            stream_pair p;
            bool holding = false;
        };
        auto sh = std::make_shared<shared>();
        sh->p = co_await connect_pair(l);
        CHECK(co_await sh->p.client.send_all("held"));
        spawn([](std::shared_ptr<shared> s) -> task<> {
            auto r = co_await s->p.server.recv_pooled(); // gets "held"
            s->holding = static_cast<bool>(r);
            auto next = co_await s->p.server.recv_pooled(); // waits until teardown
            CHECK(next.error() == std::errc::operation_canceled);
        }(sh));
        auto holding = [&] { return sh->holding; };
        CHECK(co_await yield_until(holding));
        CHECK(stats().pool_buffers_in_use >= 1);
    };
    test::run(main());
    CHECK(test::open_fds() == before);
}

namespace {

// Pool of one buffer, held by a lease on `a`; `idle` then waits for a
// buffer with nothing to read, and `busy` waits for one with data queued.
task<> idle_waiter_first() {
    auto l = test::listen_loopback();
    auto a = co_await connect_pair(l);
    auto idle = co_await connect_pair(l);
    auto busy = co_await connect_pair(l);
    auto da = test::pattern(30, 1), dbusy = test::pattern(30, 2), didle = test::pattern(30, 3);
    CHECK(co_await a.client.send_all(da));
    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    REQUIRE(la);
    CHECK(stats().pool_buffers_in_use == 1);

    bool idle_started = false, idle_done = false, busy_started = false, busy_done = false;
    result<buffer_lease> lidle = buffer_lease{}, lbusy = buffer_lease{};
    spawn(pooled_once(idle.server, idle_started, idle_done, lidle));
    auto is_idle_started = [&] { return idle_started; };
    REQUIRE(co_await yield_until(is_idle_started));
    CHECK(co_await busy.client.send_all(dbusy));
    spawn(pooled_once(busy.server, busy_started, busy_done, lbusy));
    auto is_busy_started = [&] { return busy_started; };
    REQUIRE(co_await yield_until(is_busy_started));
    co_await yield_turns(20);
    CHECK_FALSE(idle_done);
    CHECK_FALSE(busy_done);

    la->release();
    auto is_busy_done = [&] { return busy_done; };
    // The returned buffer must reach the socket that has data, even though
    // an idle socket asked for one first.
    CHECK(co_await yield_until(is_busy_done, 20'000));
    CHECK_FALSE(idle_done);

    // The idle socket's data arrives: its receive completes (after `busy`
    // gives its buffer back, where the pool has to).
    CHECK(co_await idle.client.send_all(didle));
    // Each lease is checked and dropped as soon as it comes.
    bool idle_checked = false, busy_checked = false;
    auto check_and_drop = [&] {
        if (busy_done && !busy_checked) {
            busy_checked = true;
            CHECK((lbusy && same_bytes(lbusy->bytes(), dbusy)));
            lbusy = buffer_lease{};
        }
        if (idle_done && !idle_checked) {
            idle_checked = true;
            CHECK((lidle && same_bytes(lidle->bytes(), didle)));
            lidle = buffer_lease{};
        }
        return idle_checked && busy_checked;
    };
    if (!co_await yield_until(check_and_drop)) {
        FAIL_CHECK("a pooled receive never completed (idle done: " << idle_done << ", busy done: "
                                                                   << busy_done << ")");
        idle.server.close(); // unblock the receives so the test can end
        busy.server.close();
        auto both_done = [&] { return idle_done && busy_done; };
        REQUIRE(co_await yield_until(both_done));
        lidle = buffer_lease{};
        lbusy = buffer_lease{};
    }
    CHECK(stats().pool_buffers_in_use == 0);
    CHECK(stats().in_flight == 0);
}

} // namespace

TEST_CASE("recv_pooled: a returned buffer reaches a socket with data, not only the first waiter") {
    coronet::run(idle_waiter_first(), loop_options{.pool_buffer_size = 64, .pool_buffers = 1});
}

namespace {

// Pool of one buffer, held; an idle socket's pooled receive waits for it.
// The buffer comes back while the socket still has nothing to read; later
// its data arrives and the receive must complete.
task<> buffer_then_data() {
    auto l = test::listen_loopback();
    auto a = co_await connect_pair(l);
    auto idle = co_await connect_pair(l);
    CHECK(co_await a.client.send_all("a"));
    auto la = co_await with_timeout(5s, a.server.recv_pooled());
    REQUIRE(la);
    bool started = false, done = false;
    result<buffer_lease> r = buffer_lease{};
    spawn(pooled_once(idle.server, started, done, r));
    auto is_started = [&] { return started; };
    REQUIRE(co_await yield_until(is_started));
    co_await yield_turns(10);
    la->release(); // nothing to read on `idle` yet
    co_await yield_turns(10);
    CHECK_FALSE(done);
    auto data = test::pattern(20, 9);
    CHECK(co_await idle.client.send_all(data));
    auto is_done = [&] { return done; };
    CHECK(co_await yield_until(is_done, 20'000));
    if (done) {
        REQUIRE(r);
        CHECK(same_bytes(r->bytes(), data));
    } else {
        idle.server.close(); // unblock the receive so the test can end
        REQUIRE(co_await yield_until(is_done));
    }
    r = buffer_lease{};
    CHECK(stats().pool_buffers_in_use == 0);
    CHECK(stats().in_flight == 0);
}

} // namespace

TEST_CASE("recv_pooled: a receive that waited for a buffer on an idle socket completes when data "
          "comes") {
    coronet::run(buffer_then_data(), loop_options{.pool_buffer_size = 64, .pool_buffers = 1});
}

TEST_CASE("recv_pooled: data that piles up while nobody reads holds a bounded number of buffers") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        // A first pooled receive (on io_uring: arms the socket's multishot receive).
        CHECK(co_await p.client.send_all("x"));
        auto first = co_await with_timeout(5s, p.server.recv_pooled());
        REQUIRE(first);
        first->release();
        auto data = test::pattern(16 << 20, 17); // more than the socket buffers hold
        bool sent = false;
        spawn(send_chunks(p.client, data, sent));
        std::size_t most = 0;
        for (int i = 0; i < 300; ++i) { // nobody reads meanwhile
            co_await sleep_for(0ms);
            most = std::max(most, stats().pool_buffers_in_use);
        }
        // io_uring stops a socket's multishot at 16 queued buffers; allow for
        // what the kernel delivered before the stop took effect.
        CHECK(most <= 48);
        if (has_feature("multishot_recv")) CHECK(most >= 1); // it did queue, nobody waiting
        MESSAGE("at most " << most << " buffers queued while nobody read");
        std::vector<std::byte> got;
        got.reserve(data.size());
        for (int i = 0; i < 10'000'000; ++i) {
            auto r = co_await with_timeout(5s, p.server.recv_pooled());
            REQUIRE(r);
            if (r->empty()) break;
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(sent);
        CHECK(got.size() == data.size());
        CHECK(got == std::vector<std::byte>(data.begin(), data.end()));
        CHECK(stats().pool_buffers_in_use == 0);
    };
    test::run(main());
}

namespace {

// Sends `data` in small irregular pieces with loop trips in between, so that
// receives often have to wait; then half-closes.
task<> trickle(tcp_stream& s, std::span<const std::byte> data, bool& ok) {
    std::uint32_t x = 777;
    std::size_t off = 0;
    while (off < data.size()) {
        x = x * 1103515245u + 12345u;
        std::size_t n = std::min<std::size_t>(1 + (x >> 16) % 3000, data.size() - off);
        if (!co_await s.send_all(data.subspan(off, n))) co_return;
        off += n;
        for (unsigned k = 0; k < (x >> 8) % 24; ++k)
            co_await sleep_for(0ms);
    }
    ok = static_cast<bool>(s.shutdown(SHUT_WR));
}

} // namespace

TEST_CASE("recv_pooled: short timeouts all through a trickling stream lose and repeat nothing") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto p = co_await connect_pair(l);
        auto data = test::pattern(1 << 20, 31);
        bool sent = false;
        spawn(trickle(p.client, data, sent));
        std::vector<std::byte> got;
        got.reserve(data.size());
        int timeouts = 0;
        std::uint32_t x = 12345;
        bool eof = false;
        for (int i = 0; i < 10'000'000 && !eof; ++i) {
            x = x * 1103515245u + 12345u;
            auto limit = std::chrono::microseconds(1 + (x >> 16) % 100); // 1 .. 100 us
            auto r = co_await with_timeout(limit, p.server.recv_pooled());
            if (!r) {
                REQUIRE(r.error() == error::timed_out);
                ++timeouts;
                continue;
            }
            eof = r->empty();
            got.insert(got.end(), r->bytes().begin(), r->bytes().end());
        }
        CHECK(eof);
        CHECK(sent);
        CHECK(got.size() == data.size());
        CHECK(got == data);
        CHECK(stats().pool_buffers_in_use == 0);
        CHECK(stats().in_flight == 0);
        MESSAGE(timeouts << " receives timed out");
    };
    test::run(main());
}
