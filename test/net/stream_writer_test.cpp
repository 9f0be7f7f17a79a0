#include "test/net/memory_stream.hpp"
#include "test/test_util.hpp"
#include <coronet/net/stream_reader.hpp>
#include <coronet/net/stream_writer.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;
using test::text_of;

namespace {

void set_buffer(int fd, int option, int bytes) {
    ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

// Reads exactly `n` bytes from `s` into `out`.
task<> read_all(tcp_stream& s, std::vector<std::byte>& out, std::size_t n) {
    out.resize(n);
    CHECK(co_await test::recv_exactly(s, out));
}

// Reads until EOF (or `limit` bytes) into `out`.
task<> read_to_eof(tcp_stream& s, std::vector<std::byte>& out, std::size_t limit) {
    std::vector<std::byte> buf(1 << 16);
    while (out.size() < limit) { // each turn reads >= 1 byte or ends
        auto n = co_await s.recv(buf);
        if (!n || *n == 0) co_return;
        out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
}

} // namespace

TEST_CASE("stream_writer: small writes are buffered until flush, then sent at once") {
    auto main = []() -> task<> {
        test::memory_stream m;
        stream_writer writer(m, 16);
        CHECK(co_await writer.write("ab"));
        CHECK(co_await writer.write(std::string_view{}));
        CHECK(co_await writer.write("cd"));
        CHECK(m.sends == 0);
        CHECK(text_of(writer.buffered()) == "abcd");
        CHECK(co_await writer.flush());
        CHECK(m.sends == 1);
        CHECK(text_of(m.output) == "abcd");
        CHECK(writer.buffered().empty());
        CHECK(co_await writer.drain()); // nothing buffered: no send
        CHECK(m.sends == 1);
    };
    test::run(main());
}

TEST_CASE("stream_writer: a full buffer is sent first; it never holds more than capacity") {
    auto main = []() -> task<> {
        test::memory_stream m;
        stream_writer writer(m, 8);
        auto data = test::pattern(2000, 3);
        std::size_t at = 0;
        for (std::size_t len = 0; at < data.size(); len = (len + 7) % 21) { // sizes 0..20
            std::size_t n = std::min(len, data.size() - at);
            CHECK(co_await writer.write(std::span(data).subspan(at, n)));
            CHECK(writer.buffered().size() <= writer.capacity());
            at += n;
        }
        CHECK(co_await writer.flush());
        CHECK(m.output == data); // order kept, including writes larger than the buffer
        CHECK(m.largest_send <= 20);
    };
    test::run(main());
}

TEST_CASE("stream_writer: a failed write takes none of its bytes; a failed flush keeps the "
          "unsent rest") {
    auto main = []() -> task<> {
        test::memory_stream m;
        stream_writer writer(m, 8);
        CHECK(co_await writer.write("12345"));
        m.accept_limit = 2; // the stream takes 2 bytes, then fails
        auto w = co_await writer.write("6789abc");
        REQUIRE_FALSE(w);
        CHECK(w.error() == std::errc::broken_pipe);
        CHECK(text_of(m.output) == "12");
        CHECK(text_of(writer.buffered()) == "345"); // what was sent is gone, nothing added
        m.accept_limit = static_cast<std::size_t>(-1);
        CHECK(co_await writer.write("6789abc")); // retried: flushes "345", buffers the rest
        CHECK(co_await writer.flush());
        CHECK(text_of(m.output) == "123456789abc");
    };
    test::run(main());
}

TEST_CASE("stream_writer: 1 MiB in 1000-byte writes over TCP arrives intact") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair();
        auto data = test::pattern(1 << 20, 5);
        std::vector<std::byte> got;
        task_group g;
        g.spawn(read_all(s, got, data.size()));
        stream_writer writer(c); // 64 KiB
        for (std::size_t at = 0; at < data.size(); at += 1000)
            CHECK(co_await writer.write(
                std::span(data).subspan(at, std::min<std::size_t>(1000, data.size() - at))));
        CHECK(co_await writer.flush());
        co_await g.join();
        CHECK(got == data);
    };
    test::run(main());
}

TEST_CASE("stream_writer: a timed-out flush resumes exactly where it stopped") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        set_buffer(l.native_handle(), SO_RCVBUF, 64 << 10); // inherited by the accepted socket
        auto [c, s] = co_await test::connect_pair(l);
        set_buffer(c.native_handle(), SO_SNDBUF, 64 << 10);
        auto data = test::pattern(8 << 20, 9); // far more than both kernel buffers
        stream_writer writer(c, data.size());
        CHECK(co_await writer.write(data));                   // fits: buffered, nothing sent
        auto r = co_await with_timeout(50ms, writer.flush()); // nobody reads yet
        REQUIRE_FALSE(r);
        CHECK(r.error() == error::timed_out);
        std::size_t left = writer.buffered().size();
        CHECK(left > 0);
        CHECK(left < data.size()); // the kernel took some: it was dropped from the buffer
        std::vector<std::byte> got;
        task_group g;
        g.spawn(read_to_eof(s, got, 2 * data.size()));
        CHECK(co_await with_timeout(30s, writer.flush()));
        CHECK(c.shutdown());
        co_await g.join();
        CHECK(got.size() == data.size());
        CHECK(got == data); // no byte lost or sent twice
    };
    test::run(main());
}

TEST_CASE("stream_writer: a second write while a flush is pending is a logic_error") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        set_buffer(l.native_handle(), SO_RCVBUF, 64 << 10);
        auto [c, s] = co_await test::connect_pair(l);
        set_buffer(c.native_handle(), SO_SNDBUF, 64 << 10);
        auto data = test::pattern(8 << 20, 2);
        stream_writer writer(c, data.size());
        CHECK(co_await writer.write(data));
        bool started = false;
        task_group g;
        g.spawn([](stream_writer<tcp_stream>& w, bool& st) -> task<> {
            st = true; // the flush below runs until the kernel buffers are full
            CHECK(co_await w.flush());
        }(writer, started));
        REQUIRE(co_await test::yield_until([&] { return started; }, 100));
        bool threw = false;
        try {
            auto r = co_await writer.write("x");
            CHECK_FALSE(r); // not reached
        } catch (const std::logic_error&) {
            threw = true;
        }
        CHECK(threw);
        std::vector<std::byte> got;
        co_await read_all(s, got, data.size());
        co_await g.join();
        CHECK(got == data);
    };
    test::run(main());
}
