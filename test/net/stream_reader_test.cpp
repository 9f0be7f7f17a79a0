#include "test/net/memory_stream.hpp"
#include "test/test_util.hpp"
#include <coronet/net/stream_reader.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <stdexcept>
#include <string>

using namespace coronet;
using namespace std::chrono_literals;
using test::bytes_of;
using test::text_of;

static_assert(byte_stream<tcp_stream>);
static_assert(!byte_stream<int>);

// In the TCP tests, `auto [c, s] = co_await test::connect_pair(...)`: the
// reader reads c (the client side); s (the server side) is the peer.

namespace {

// Sends every byte with its own send_all, letting the reader run in between.
task<> send_bytewise(tcp_stream& s, std::string text) {
    for (char ch : text) {
        CHECK(co_await s.send_all(std::string_view(&ch, 1)));
        co_await sleep_for(0ms); // a yield, not synchronisation: any interleaving is correct
    }
}

} // namespace

TEST_CASE("stream_reader: lines and blocks sent one byte at a time over TCP") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c, 64);
        task_group g;
        g.spawn(send_bytewise(s, "first line\nsecond\r\nHEAD1234tail\n\nlast\n"));
        CHECK((co_await reader.read_line()).value() == "first line\n");
        CHECK((co_await reader.read_until("\r\n")).value() == "second\r\n");
        CHECK(text_of((co_await reader.read_exactly(4)).value()) == "HEAD");
        CHECK(text_of((co_await reader.read_exactly(4)).value()) == "1234");
        CHECK((co_await reader.read_line(8)).value() == "tail\n");
        CHECK((co_await reader.read_line()).value() == "\n");
        CHECK((co_await reader.read_line()).value() == "last\n");
        co_await g.join();
        s.close();
        auto end = co_await reader.read_line();
        CHECK(end.error() == error::end_of_stream);
        CHECK(reader.at_eof());
    };
    test::run(main());
}

TEST_CASE("stream_reader: every packet split and a tiny buffer assemble the same reads") {
    auto main = []() -> task<> {
        const std::string input = "alpha\nbe\r\nta\r\n0123456789gamma delta\n\nend";
        for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
            CAPTURE(chunk);
            test::memory_stream m(input, chunk);
            stream_reader reader(m, 16); // forces the buffer to compact
            CHECK((co_await reader.read_line()).value() == "alpha\n");
            CHECK((co_await reader.read_until("\r\n")).value() == "be\r\n");
            CHECK((co_await reader.read_until("\r\n")).value() == "ta\r\n");
            CHECK(text_of((co_await reader.read_exactly(10)).value()) == "0123456789");
            CHECK((co_await reader.read_until(" ")).value() == "gamma ");
            CHECK((co_await reader.read_line()).value() == "delta\n");
            CHECK((co_await reader.read_line()).value() == "\n");
            auto last = co_await reader.read_line();
            CHECK(last.error() == error::unexpected_eof); // no final '\n'
            CHECK(text_of(reader.buffered()) == "end");   // kept for the caller
            CHECK(text_of((co_await reader.read_exactly(3)).value()) == "end");
            CHECK(reader.at_eof());
            CHECK(m.recvs <= input.size() + 2); // bounded: no busy loop at EOF
        }
    };
    test::run(main());
}

TEST_CASE("stream_reader: read_until honours max; nothing is consumed on line_too_long") {
    auto main = []() -> task<> {
        test::memory_stream m("abc\nabcd\nlonger line\n", 3);
        stream_reader reader(m);
        CHECK((co_await reader.read_until("\n", 4)).value() == "abc\n"); // exactly max
        auto tight = co_await reader.read_until("\n", 4);                // "abcd\n" is 5
        CHECK(tight.error() == error::line_too_long);
        CHECK(text_of(reader.buffered()).starts_with("abcd"));
        CHECK((co_await reader.read_until("\n", 5)).value() == "abcd\n");
        auto too_long = co_await reader.read_line(6);
        CHECK(too_long.error() == error::line_too_long);
        CHECK((co_await reader.read_line(100)).value() == "longer line\n");
        auto empty_delim = co_await reader.read_until("", 10);
        CHECK(empty_delim.error() == std::errc::invalid_argument);
    };
    test::run(main());
}

TEST_CASE("stream_reader: an over-long line is an error; the buffer never grows") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c, 32);
        CHECK(co_await s.send_all(std::string(100, 'x') + "\nnext\n"));
        int errors = 0;
        for (int i = 0; i < 10; ++i) { // skip the long line the way a server would
            auto line = co_await reader.read_line();
            if (line) {
                CHECK(*line == "xxxx\n"); // 100 = 3 * 32 + 4
                break;
            }
            CHECK(line.error() == error::line_too_long);
            CHECK(reader.buffered().size() == reader.capacity());
            reader.consume(reader.buffered().size());
            ++errors;
        }
        CHECK(errors == 3);
        CHECK((co_await reader.read_line()).value() == "next\n");
        CHECK(reader.capacity() == 32);
    };
    test::run(main());
}

TEST_CASE("stream_reader: partial data survives a timed-out read_exactly") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c);
        CHECK(co_await s.send_all("012345"));
        auto r = co_await with_timeout(20ms, reader.read_exactly(10));
        REQUIRE_FALSE(r);
        CHECK(r.error() == error::timed_out);
        CHECK(text_of(reader.buffered()) == "012345"); // loopback: all 6 arrived at once
        CHECK(co_await s.send_all("6789"));
        CHECK(text_of((co_await with_timeout(5s, reader.read_exactly(10))).value()) ==
              "0123456789");
        // A read_line and a read_until time out the same way.
        CHECK(co_await s.send_all("partial"));
        auto line = co_await with_timeout(10ms, reader.read_line());
        CHECK(line.error() == error::timed_out);
        CHECK(co_await s.send_all(" line\n"));
        CHECK((co_await reader.read_line()).value() == "partial line\n");
    };
    test::run(main());
}

TEST_CASE("stream_reader: a read cancelled after 6 of 10 bytes leaves them to the next read") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        test::hooked_stream hc(c);
        stream_reader reader(hc);
        cancel_scope scope;
        std::size_t seen = 0;
        hc.on_recv = [&](std::size_t n) {
            seen += n;
            if (seen >= 6) scope.cancel(); // exactly when 6 bytes are in: no timing involved
        };
        CHECK(co_await s.send_all("abcdef"));
        auto r = co_await scope.run(reader.read_exactly(10));
        REQUIRE_FALSE(r);
        CHECK(r.error() == std::errc::operation_canceled);
        CHECK(text_of(reader.buffered()) == "abcdef");
        hc.on_recv = nullptr;
        CHECK(co_await s.send_all("ghij"));
        CHECK(text_of((co_await reader.read_exactly(10)).value()) == "abcdefghij");
    };
    test::run(main());
}

TEST_CASE("stream_reader: EOF: unexpected_eof keeps the partial data, then end_of_stream") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c);
        CHECK(co_await s.send_all("abc"));
        s.close();
        auto r = co_await reader.read_exactly(5);
        CHECK(r.error() == error::unexpected_eof);
        CHECK(text_of(reader.buffered()) == "abc");
        CHECK_FALSE(reader.at_eof());
        CHECK(text_of((co_await reader.read_exactly(3)).value()) == "abc");
        CHECK((co_await reader.read_exactly(1)).error() == error::end_of_stream);
        CHECK((co_await reader.read_line()).error() == error::end_of_stream);
        auto some = co_await reader.read_some();
        REQUIRE(some);
        CHECK(some->empty()); // read_some reports EOF like recv: 0 bytes
        CHECK(reader.at_eof());
    };
    test::run(main());
}

TEST_CASE("stream_reader: read_some returns buffered bytes first; fill peeks") {
    auto main = []() -> task<> {
        test::memory_stream m("hello world", 100);
        stream_reader reader(m, 64);
        CHECK(text_of((co_await reader.fill(2)).value()) == "hello world"); // one recv, all
        CHECK(text_of((co_await reader.read_some(5)).value()) == "hello");
        CHECK(text_of((co_await reader.read_some()).value()) == " world");
        CHECK(m.recvs == 1); // both served from the buffer
        CHECK((co_await reader.read_some(0)).error() == std::errc::invalid_argument);
        CHECK((co_await reader.read_some()).value().empty());
        CHECK((co_await reader.read_exactly(65)).error() == error::buffer_too_small);
        CHECK((co_await reader.fill(65)).error() == error::buffer_too_small);
        bool threw = false;
        try {
            stream_reader zero(m, 0);
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        CHECK(threw);
    };
    test::run(main());
}

TEST_CASE("stream_reader: a second read while one is pending is a logic_error") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c);
        bool started = false;
        task_group g;
        g.spawn([](stream_reader<tcp_stream>& r, bool& st) -> task<> {
            st = true; // the read below runs until it waits for data
            CHECK((co_await r.read_line()).value() == "x\n");
        }(reader, started));
        REQUIRE(co_await test::yield_until([&] { return started; }, 100));
        bool threw = false;
        try {
            auto r = co_await reader.read_exactly(1);
            CHECK_FALSE(r); // not reached
        } catch (const std::logic_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK(co_await s.send_all("x\n"));
        co_await g.join();
    };
    test::run(main());
}
