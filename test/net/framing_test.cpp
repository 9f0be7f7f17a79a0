#include "test/net/memory_stream.hpp"
#include "test/test_util.hpp"
#include <coronet/net/framing.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;
using test::bytes_of;
using test::text_of;

namespace {

std::string frame(std::string_view payload) {
    auto h = encode_frame_header(payload.size());
    return text_of(h) + std::string(payload);
}

} // namespace

TEST_CASE("framing: the wire format is a 4-byte big-endian length, then the payload") {
    auto main = []() -> task<> {
        test::memory_stream m;
        CHECK(co_await send_message(m, "abc"));
        CHECK(co_await send_message(m, std::string_view{}));
        CHECK(m.sends == 2); // small frames: one send each
        CHECK(text_of(m.output) == std::string("\0\0\0\3abc\0\0\0\0", 11));
        auto big = test::pattern(0x012345);
        m.output.clear();
        CHECK(co_await send_message(m, big));
        REQUIRE(m.output.size() == 4 + big.size());
        CHECK(text_of(std::span(m.output).first(4)) == std::string("\0\x01\x23\x45", 4));
        CHECK(std::equal(big.begin(), big.end(), m.output.begin() + 4));
        std::array<std::byte, 4> h{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
                                   std::byte{0xFE}};
        CHECK(decode_frame_header(h) == 0xFFFF'FFFEu);
    };
    test::run(main());
}

TEST_CASE("framing: frames of 0 bytes, 1 byte and the maximum round-trip over TCP") {
    auto main = []() -> task<> {
        constexpr std::size_t max = 1000;
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c, max + frame_header_size); // just big enough
        auto biggest = test::pattern(max, 4);
        CHECK(co_await send_message(s, std::string_view{}));
        CHECK(co_await send_message(s, "x"));
        CHECK(co_await send_message(s, biggest));
        CHECK(co_await send_message(s, "after"));
        CHECK((co_await recv_message(reader, max)).value().empty());
        CHECK(text_of((co_await recv_message(reader, max)).value()) == "x");
        auto m = (co_await recv_message(reader, max)).value();
        CHECK(std::equal(m.begin(), m.end(), biggest.begin(), biggest.end()));
        CHECK(text_of((co_await recv_message(reader, max)).value()) == "after");
        s.close();
        CHECK((co_await recv_message(reader, max)).error() == error::end_of_stream);
    };
    test::run(main());
}

TEST_CASE("framing: an oversized frame is an error that consumes and closes nothing") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c, 4096);
        CHECK(co_await send_message(s, std::string(101, 'y')));
        auto r = co_await recv_message(reader, 100);
        REQUIRE_FALSE(r);
        CHECK(r.error() == error::frame_too_large);
        CHECK(r.error() == std::errc::message_size);
        CHECK(reader.buffered().size() >= frame_header_size); // the header is still there
        // The connection is the caller's: it can still answer, and even accept
        // the frame with a larger limit.
        CHECK(co_await send_message(c, "too large"));
        stream_reader peer(s);
        CHECK(text_of((co_await recv_message(peer, 100)).value()) == "too large");
        CHECK((co_await recv_message(reader, 101)).value().size() == 101);
        // A frame within max_frame that the reader cannot hold.
        CHECK(co_await send_message(s, std::string(4093, 'z')));
        CHECK((co_await recv_message(reader, 1 << 20)).error() == error::buffer_too_small);
        // The format's own limit when sending.
        CHECK(max_frame_payload == 0xFFFF'FFFFu);
    };
    test::run(main());
}

TEST_CASE("framing: truncated frames at EOF are unexpected_eof; a clean end is end_of_stream") {
    auto main = []() -> task<> {
        const std::vector<std::string> wires{frame("0123456789").substr(0, 7),
                                             std::string("\0\0", 2), frame("ok"), std::string()};
        for (const std::string& wire : wires) {
            CAPTURE(wire.size());
            test::memory_stream m(wire, 3);
            stream_reader reader(m);
            auto r = co_await recv_message(reader, 100);
            if (wire == frame("ok")) {
                CHECK(text_of(r.value()) == "ok");
                r = co_await recv_message(reader, 100);
                CHECK(r.error() == error::end_of_stream);
            } else if (wire.empty()) {
                CHECK(r.error() == error::end_of_stream);
            } else {
                CHECK(r.error() == error::unexpected_eof);
                CHECK(reader.buffered().size() == wire.size()); // nothing consumed
            }
        }
    };
    test::run(main());
}

TEST_CASE("framing: frames sent one byte at a time over TCP are reassembled") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c, 64);
        std::string wire;
        for (std::size_t n = 0; n <= 20; ++n)
            wire += frame(std::string(n, static_cast<char>('a' + n)));
        task_group g;
        g.spawn([](tcp_stream& st, std::string w) -> task<> {
            for (char ch : w) { // one send per byte
                CHECK(co_await st.send_all(std::string_view(&ch, 1)));
                co_await sleep_for(0ms); // a yield: any interleaving is correct
            }
        }(s, wire));
        for (std::size_t n = 0; n <= 20; ++n)
            CHECK(text_of((co_await recv_message(reader, 60)).value()) ==
                  std::string(n, static_cast<char>('a' + n)));
        co_await g.join();
    };
    test::run(main());
}

TEST_CASE("framing: any packet split and a small buffer give the same frames") {
    auto main = []() -> task<> {
        std::string wire;
        for (std::size_t n = 0; n <= 20; ++n)
            wire += frame(std::string(n, static_cast<char>('A' + n)));
        for (std::size_t chunk = 1; chunk <= 30; ++chunk) {
            CAPTURE(chunk);
            test::memory_stream m(wire, chunk);
            stream_reader reader(m, 24); // header + 20: forces compaction
            for (std::size_t n = 0; n <= 20; ++n)
                CHECK(text_of((co_await recv_message(reader, 20)).value()) ==
                      std::string(n, static_cast<char>('A' + n)));
            CHECK((co_await recv_message(reader, 20)).error() == error::end_of_stream);
        }
    };
    test::run(main());
}

TEST_CASE("framing: a timed-out recv_message mid-frame loses nothing") {
    auto main = []() -> task<> {
        auto [c, s] = co_await test::connect_pair(test::server_nodelay::on);
        stream_reader reader(c);
        std::string f = frame("complete frame");
        CHECK(co_await s.send_all(std::string_view(f).substr(0, 2))); // half a header
        CHECK((co_await with_timeout(10ms, recv_message(reader, 100))).error() == error::timed_out);
        CHECK(co_await s.send_all(std::string_view(f).substr(2, 8))); // header + 4 bytes
        CHECK((co_await with_timeout(10ms, recv_message(reader, 100))).error() == error::timed_out);
        CHECK(co_await s.send_all(std::string_view(f).substr(10)));
        CHECK(text_of((co_await with_timeout(5s, recv_message(reader, 100))).value()) ==
              "complete frame");
    };
    test::run(main());
}

TEST_CASE("framing: write_message batches frames in a writer; send_message flushes") {
    auto main = []() -> task<> {
        test::memory_stream m;
        stream_writer writer(m, 64);
        CHECK(co_await write_message(writer, bytes_of("one")));
        CHECK(co_await write_message(writer, bytes_of("")));
        CHECK(co_await send_message(writer, "three"));
        CHECK(m.sends == 1);
        test::memory_stream back(text_of(m.output), 5);
        stream_reader reader(back);
        CHECK(text_of((co_await recv_message(reader, 10)).value()) == "one");
        CHECK((co_await recv_message(reader, 10)).value().empty());
        CHECK(text_of((co_await recv_message(reader, 10)).value()) == "three");
    };
    test::run(main());
}
