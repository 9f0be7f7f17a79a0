// io_uring SEND_ZC behind send/send_all (loop_options::zero_copy_min and
// zero_copy_local): data integrity, the counter, and that small sends and
// local peers stay on plain sends unless asked. Runs on every backend
// configuration; the zero-copy counter is checked only where the backend
// has send_zc and fast paths are on.
#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/cancel_scope.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <string_view>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

bool zero_copy_active() {
    auto& loop = current_loop();
    return loop.backend() == backend_kind::io_uring && loop.fast_paths() &&
           test::has_feature(loop, "send_zc");
}

task<> read_all(tcp_stream& s, std::vector<std::byte>& out, std::size_t expect, bool& done) {
    std::vector<std::byte> buf(64 * 1024);
    while (out.size() < expect) {
        auto n = co_await s.recv(buf);
        if (!n || *n == 0) break;
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    done = true;
}

task<> pooled_read_all(tcp_stream& s, std::vector<std::byte>& out, std::size_t expect, bool& done) {
    while (out.size() < expect) {
        auto r = co_await s.recv_pooled();
        if (!r || r->empty()) break;
        out.insert(out.end(), r->bytes().begin(), r->bytes().end());
    }
    done = true;
}

// send_all of `size` bytes while a reader reads concurrently; returns the
// zero-copy sends counted during it.
task<std::uint64_t> big_send(std::size_t size, bool pooled_reader) {
    auto [c, s] = co_await test::connect_pair();
    auto data = test::pattern(size, 23);
    std::vector<std::byte> got;
    got.reserve(size);
    bool done = false;
    if (pooled_reader)
        spawn(pooled_read_all(s, got, size, done));
    else
        spawn(read_all(s, got, size, done));
    auto before = current_loop().stats().zero_copy_sends;
    CHECK(co_await c.send_all(data));
    auto zc = current_loop().stats().zero_copy_sends - before;
    CHECK(co_await test::yield_until([&] { return done; }, 1'000'000));
    CHECK(got.size() == data.size());
    CHECK(got == data);
    // A few small sends after the big one (below zero_copy_min) still work.
    CHECK(co_await c.send_all("tail"));
    char tail[4];
    CHECK(co_await test::recv_exactly(s, std::as_writable_bytes(std::span(tail))));
    CHECK(std::string_view(tail, 4) == "tail");
    CHECK(current_loop().stats().in_flight == 0);
    co_return zc;
}

} // namespace

TEST_CASE("zero_copy: 4 MiB send_all to a local peer with zero_copy_local arrives intact") {
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    std::uint64_t zc = 0;
    bool active = false;
    auto main = [](std::uint64_t& z, bool& a) -> task<> {
        z = co_await big_send(4 << 20, false);
        a = zero_copy_active();
    };
    coronet::run(main(zc, active), o);
    MESSAGE("zero-copy sends: " << zc << " (send_zc active: " << active << ")");
    if (active)
        CHECK(zc > 0);
    else
        CHECK(zc == 0);
}

TEST_CASE("zero_copy: a zero-copy sender and a pooled reader on one loop") {
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    std::uint64_t zc = 0;
    bool active = false;
    auto main = [](std::uint64_t& z, bool& a) -> task<> {
        z = co_await big_send(4 << 20, true);
        a = zero_copy_active();
    };
    coronet::run(main(zc, active), o);
    if (active) CHECK(zc > 0);
}

TEST_CASE("zero_copy: local peers get plain sends unless zero_copy_local is set") {
    loop_options o{.zero_copy_min = 16384}; // zero_copy_local = false
    std::uint64_t zc = 1;
    auto main = [](std::uint64_t& z) -> task<> { z = co_await big_send(1 << 20, false); };
    coronet::run(main(zc), o);
    CHECK(zc == 0);
}

TEST_CASE("zero_copy: sends below zero_copy_min stay plain") {
    loop_options o{.zero_copy_min = 1 << 20, .zero_copy_local = true};
    auto main = []() -> task<std::uint64_t> {
        auto [c, s] = co_await test::connect_pair();
        auto chunk = test::pattern(64 * 1024, 4);
        std::vector<std::byte> back(chunk.size());
        auto before = current_loop().stats().zero_copy_sends;
        for (int i = 0; i < 8; ++i) {
            CHECK(co_await c.send_all(chunk)); // 64 KiB < 1 MiB
            CHECK(co_await test::recv_exactly(s, back));
            CHECK(back == chunk);
        }
        co_return current_loop().stats().zero_copy_sends - before;
    };
    CHECK(coronet::run(main(), o) == 0);
}

TEST_CASE("zero_copy: send (not send_all) reports what the kernel took, zero-copy or not") {
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto data = test::pattern(256 * 1024, 6);
        std::vector<std::byte> got;
        bool done = false;
        spawn(read_all(s, got, data.size(), done));
        std::size_t off = 0;
        for (int i = 0; i < 100'000 && off < data.size(); ++i) {
            auto n = co_await c.send(std::span(data).subspan(off));
            REQUIRE(n);
            CHECK(*n >= 1);
            off += *n;
        }
        CHECK(off == data.size());
        co_await test::yield_until([&] { return done; }, 1'000'000);
        CHECK(got == data);
    };
    coronet::run(main(), o);
}

TEST_CASE("zero_copy: a zero-copy send_all cut short by a reset peer fails cleanly") {
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    auto before = test::open_fds();
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        // The peer reads a little, then resets the connection.
        bool done = false;
        spawn([](tcp_stream& peer, bool& d) -> task<> {
            std::byte buf[4096];
            for (int i = 0; i < 4; ++i)
                if (auto n = co_await peer.recv(buf); !n || *n == 0) break;
            linger hard{1, 0};
            ::setsockopt(peer.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            peer.close();
            d = true;
        }(s, done));
        auto big = test::pattern(16 << 20, 2);
        auto r = co_await with_timeout(30s, c.send_all(big));
        REQUIRE_FALSE(r);
        CHECK(r.error() != error::timed_out);
        CHECK((r.error() == std::errc::connection_reset || r.error() == std::errc::broken_pipe));
        CHECK(done);
        CHECK(current_loop().stats().in_flight == 0);
    };
    coronet::run(main(), o);
    CHECK(test::open_fds() == before);
}

namespace {

task<> cancellable_send(tcp_stream& c, cancel_scope& scope, std::span<const std::byte> data,
                        bool& started, bool& finished, std::error_code& err, std::size_t& sent) {
    started = true;
    auto aw = scope.run(c.send_all(data));
    auto r = co_await aw;
    err = r.error();
    sent = aw.inner().bytes_sent();
    finished = true;
    (void)c.shutdown(SHUT_WR); // fails with not_connected after a reset: the reader sees it
}

} // namespace

TEST_CASE("zero_copy: a cancelled send_all ends at once; plain sends deliver bytes_sent()") {
    // The kernel keeps zero-copy pages until the peer has the data; a cancel
    // that found the data already in the kernel resets the connection rather
    // than wait for the peer (which here only starts reading after the
    // cancel): the peer then gets a prefix of what was sent. A plain send
    // delivers exactly bytes_sent().
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto big = test::pattern(32 << 20, 12); // more than the socket buffers hold
        cancel_scope scope;
        bool started = false, finished = false;
        std::error_code err;
        std::size_t sent = 0;
        spawn(cancellable_send(c, scope, big, started, finished, err, sent));
        REQUIRE(co_await test::yield_until([&] { return started; }, 1000));
        co_await test::yield_turns(20); // let the send fill the socket buffers
        scope.cancel();
        std::vector<std::byte> got;
        bool done = false;
        spawn(read_all(s, got, big.size(), done)); // reads until EOF (the sender shuts down)
        co_await test::yield_until([&] { return done && finished; }, 1'000'000);
        REQUIRE(finished);
        REQUIRE(done);
        CHECK(err == std::errc::operation_canceled);
        CHECK(sent > 0);
        CHECK(sent < big.size());
        if (current_loop().stats().zero_copy_sends > 0)
            CHECK(got.size() <= sent); // reset: what was in flight may be gone
        else
            CHECK(got.size() == sent);
        CHECK(std::equal(got.begin(), got.end(), big.begin()));
        CHECK(current_loop().stats().in_flight == 0);
        MESSAGE(sent << " of " << big.size() << " bytes sent before the cancel");
    };
    coronet::run(main(), o);
}

namespace {

task<> send_until_closed(tcp_stream& c, std::span<const std::byte> data, bool& finished,
                         std::error_code& err) {
    auto r = co_await c.send_all(data);
    err = r ? std::error_code{} : r.error();
    finished = true;
}

// Closes `c` once its send is in flight (and has had turns to fill the
// socket buffers). Yields, never sleeps; bounded.
task<> close_when_sending(tcp_stream& c) {
    co_await test::yield_until([&] { return current_loop().stats().in_flight != 0; }, 1000);
    co_await test::yield_turns(20);
    c.close();
}

} // namespace

TEST_CASE("zero_copy: closing a socket whose send waits for a reader that never reads ends it") {
    // Without the reset in close(), a zero-copy send whose data the kernel
    // holds would keep close() (and the whole loop) waiting for the reader.
    loop_options o{.zero_copy_min = 16384, .zero_copy_local = true};
    auto main = []() -> task<> {
        auto before = test::open_fds();
        {
            auto [c, s] = co_await test::connect_pair(); // never read
            auto big = test::pattern(32 << 20, 7);
            bool finished = false;
            std::error_code err;
            task_group g;
            g.spawn(send_until_closed(c, big, finished, err));
            g.spawn(close_when_sending(c));
            CHECK(co_await with_timeout(10s, g.join()));
            CHECK(finished);
            CHECK(err); // cancelled or bad_file_descriptor: never success
            CHECK(current_loop().stats().in_flight == 0);
        }
        CHECK(test::open_fds() == before);
    };
    coronet::run(main(), o);
}
