#include "test/net/memory_stream.hpp"
#include "test/test_util.hpp"
#include <coronet/net/object_stream.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <cstdint>
#include <doctest/doctest.h>
#include <map>
#include <string>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;
using test::text_of;

namespace shop {

struct line_item {
    std::string sku;
    int quantity = 0;
    double price = 0;
    bool operator==(const line_item&) const = default;
};
CORONET_DEFINE_OBJECT(line_item, sku, quantity, price)

struct order {
    std::uint64_t id = 0;
    std::string customer;
    bool rush = false;
    std::vector<line_item> items;
    std::map<std::string, std::string> tags;
    bool operator==(const order&) const = default;
};
CORONET_DEFINE_OBJECT(order, id, customer, rush, items, tags)

// Integer fields of every width, for the range checks.
struct widths {
    std::int8_t tiny = 0;
    int small = 0;
    std::uint64_t big = 0;
    std::int64_t wide = 0;
    bool operator==(const widths&) const = default;
};
CORONET_DEFINE_OBJECT(widths, tiny, small, big, wide)

order sample() {
    return {9'007'199'254'740'993u, // > 2^53: exact as a JSON integer, not a double
            "Zoë “quoted” \\ \n ✓",
            true,
            {{"A-1", 2, 9.5}, {"B-22", 1, 0.1}, {"", -3, -1e300}},
            {{"channel", "web"}, {"note", ""}}};
}

} // namespace shop

namespace {

// Answers every order with the same order, its quantities doubled.
task<> double_orders(tcp_stream s, std::size_t count) {
    stream_reader reader(s);
    for (std::size_t i = 0; i < count; ++i) {
        auto o = co_await recv_object<shop::order>(reader, 1 << 16);
        if (!o) co_return;
        for (auto& item : o->items)
            item.quantity *= 2;
        CHECK(co_await send_object(s, *o));
    }
}

} // namespace

TEST_CASE("object_stream: nested records round-trip both ways over TCP") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        task_group g;
        g.spawn(double_orders((co_await l.accept()).value(), 3));
        stream_reader reader(c);
        stream_writer writer(c);
        auto sent = shop::sample();
        for (int i = 0; i < 3; ++i) {
            sent.id += 1;
            if (i == 1) {
                CHECK(co_await send_object(writer, sent)); // buffered, then flushed
            } else {
                CHECK(co_await send_object(c, sent));
            }
            auto back = co_await with_timeout(5s, recv_object<shop::order>(reader, 1 << 16));
            REQUIRE(back);
            auto expected = sent;
            for (auto& item : expected.items)
                item.quantity *= 2;
            CHECK(*back == expected);
        }
        co_await g.join();
    };
    test::run(main());
}

TEST_CASE("object_stream: the payload is plain JSON that any language can read") {
    shop::order o{1, "ann", false, {{"x", 1, 2.5}}, {}};
    auto text = encode_object(o).value();
    CHECK(text == R"({"customer":"ann","id":1,"items":[{"price":2.5,"quantity":1,"sku":"x"}],)"
                  R"("rush":false,"tags":{}})");
    auto back = decode_object<shop::order>(std::as_bytes(std::span(text.data(), text.size())));
    CHECK(back.value() == o);
    auto dyn = decode_object<nlohmann::json>(std::as_bytes(std::span(text.data(), text.size())));
    CHECK(dyn.value()["items"][0]["sku"] == "x");
}

TEST_CASE("object_stream: invalid JSON and a wrong shape are errors; the stream stays in sync") {
    auto main = []() -> task<> {
        test::memory_stream out;
        CHECK(co_await send_message(out, "{\"id\": 1, \"customer\": ")); // cut off
        CHECK(co_await send_message(out, std::string_view{}));           // empty
        CHECK(co_await send_message(out, "\xff\xfe not utf-8"));         // garbage
        // (built outside co_await: g++ 12 cannot keep array temporaries in a coroutine frame)
        const nlohmann::json wrong_type = {{"id", "one"}}, missing = {{"id", 1}};
        const auto not_object = nlohmann::json::array({1, 2});
        CHECK(co_await send_object(out, wrong_type));
        CHECK(co_await send_object(out, missing));
        CHECK(co_await send_object(out, not_object));
        CHECK(co_await send_object(out, shop::sample())); // fine
        test::memory_stream in(text_of(out.output), 7);
        stream_reader reader(in);
        const std::vector<error> expected_errors{error::invalid_json,  error::invalid_json,
                                                 error::invalid_json,  error::type_mismatch,
                                                 error::type_mismatch, error::type_mismatch};
        for (error expected : expected_errors) {
            auto r = co_await recv_object<shop::order>(reader, 1 << 16);
            REQUIRE_FALSE(r);
            CHECK(r.error() == expected);
        }
        CHECK((co_await recv_object<shop::order>(reader, 1 << 16)).value() == shop::sample());
        CHECK((co_await recv_object<shop::order>(reader, 1 << 16)).error() == error::end_of_stream);
    };
    test::run(main());
}

TEST_CASE("object_stream: an object over the limit is frame_too_large; unencodable is an error") {
    auto main = []() -> task<> {
        test::memory_stream out;
        shop::order big = shop::sample();
        big.customer = std::string(2000, 'c');
        CHECK(co_await send_object(out, big));
        test::memory_stream in(text_of(out.output), 100);
        stream_reader reader(in);
        CHECK((co_await recv_object<shop::order>(reader, 1000)).error() == error::frame_too_large);
        CHECK((co_await recv_object<shop::order>(reader, 4000)).value() == big);

        shop::order bad = shop::sample();
        bad.customer = "\xc3\x28"; // invalid UTF-8: JSON cannot carry it
        out.output.clear();
        auto r = co_await send_object(out, bad);
        CHECK(r.error() == error::invalid_json);
        CHECK(out.output.empty()); // nothing sent
    };
    test::run(main());
}

TEST_CASE("object_stream: integer fields are range-checked; a number that does not fit is "
          "type_mismatch") {
    // Found by fuzz/object_stream_fuzz: nlohmann's own conversion casts a float
    // into an integer field unchecked, undefined behaviour for 1e300 (or for
    // 2^64, which JSON text carries as a float). CORONET_DEFINE_OBJECT checks.
    auto decode = [](std::string text) {
        return decode_object<shop::widths>(std::as_bytes(std::span(text.data(), text.size())));
    };
    auto edges = decode(R"({"tiny": -128, "small": 2147483647, "big": 18446744073709551615,
                            "wide": -9223372036854775808})");
    REQUIRE(edges);
    CHECK(*edges == shop::widths{-128, 2147483647, 18446744073709551615u, INT64_MIN});
    auto floats = decode(R"({"tiny": 127.0, "small": -2.0, "big": 1e19,
                             "wide": -9.223372036854775808e18})");
    REQUIRE(floats); // integral values that fit, written as floats
    CHECK(*floats == shop::widths{127, -2, 10'000'000'000'000'000'000u, INT64_MIN});
    for (const char* bad : {
             R"({"tiny": 128, "small": 0, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": 2147483648, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": -2147483649, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": 1e300, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": 2.5, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": 0, "big": -1, "wide": 0})",
             R"({"tiny": 0, "small": 0, "big": 18446744073709551616, "wide": 0})",
             R"({"tiny": 0, "small": 0, "big": 0, "wide": 9223372036854775808})",
             R"({"tiny": 0, "small": 0, "big": 0, "wide": 9.3e18})",
             R"({"tiny": 0, "small": "1", "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": true, "big": 0, "wide": 0})",
             R"({"tiny": 0, "small": null, "big": 0, "wide": 0})",
             R"({"tiny": 0, "big": 0, "wide": 0})",
         }) {
        CAPTURE(bad);
        auto r = decode(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error() == error::type_mismatch);
    }
}
