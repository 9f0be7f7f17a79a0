// The loop's receive pool (detail::buffer_pool): ids handed out warmest
// first (a LIFO free list), in_use/peak accounting for both the free list and
// a kernel buffer ring, capacity and the layout of the buffers in one block.
#include <coronet/runtime/detail/buffer_pool.hpp>

#include <cstdint>
#include <cstring>
#include <doctest/doctest.h>
#include <optional>
#include <set>
#include <vector>

using coronet::detail::buffer_pool;

TEST_CASE("buffer_pool: reports its size and capacity, and starts with nothing in use") {
    buffer_pool p(16384, 8);
    CHECK(p.buffer_size() == 16384);
    CHECK(p.capacity() == 8);
    CHECK(p.in_use() == 0);
    CHECK(p.peak() == 0);
}

TEST_CASE("buffer_pool: ids come out 0, 1, 2, ... and a returned id is the next one taken") {
    buffer_pool p(64, 4);
    auto a = p.take();
    auto b = p.take();
    auto c = p.take();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(*a == 0);
    CHECK(*b == 1);
    CHECK(*c == 2);
    // LIFO: the most recently returned (warmest) buffer is reused first.
    p.give(*a);
    p.give(*c);
    auto d = p.take();
    auto e = p.take();
    REQUIRE(d);
    REQUIRE(e);
    CHECK(*d == *c);
    CHECK(*e == *a);
    auto f = p.take(); // the one never taken yet
    REQUIRE(f);
    CHECK(*f == 3);
    p.give(*b);
    p.give(*d);
    p.give(*e);
    p.give(*f);
    CHECK(p.in_use() == 0);
}

TEST_CASE("buffer_pool: an exhausted pool says so, and works again once a buffer returns") {
    buffer_pool p(128, 3);
    std::vector<std::uint16_t> taken;
    for (int i = 0; i < 3; ++i) {
        auto id = p.take();
        REQUIRE(id);
        taken.push_back(*id);
    }
    CHECK(std::set<std::uint16_t>(taken.begin(), taken.end()).size() == 3);
    CHECK(p.in_use() == 3);
    CHECK_FALSE(p.take().has_value());
    CHECK_FALSE(p.take().has_value()); // still nothing, and nothing counted
    CHECK(p.in_use() == 3);
    p.give(taken[1]);
    CHECK(p.in_use() == 2);
    auto again = p.take();
    REQUIRE(again);
    CHECK(*again == taken[1]);
    CHECK_FALSE(p.take().has_value());
    for (auto id : {taken[0], *again, taken[2]})
        p.give(id);
    CHECK(p.in_use() == 0);
}

TEST_CASE("buffer_pool: in_use follows takes and gives; peak keeps the high-water mark") {
    buffer_pool p(64, 16);
    std::vector<std::uint16_t> ids;
    for (int i = 0; i < 10; ++i)
        ids.push_back(*p.take());
    CHECK(p.in_use() == 10);
    CHECK(p.peak() == 10);
    for (int i = 0; i < 7; ++i) {
        p.give(ids.back());
        ids.pop_back();
    }
    CHECK(p.in_use() == 3);
    CHECK(p.peak() == 10); // not lowered by gives
    for (int i = 0; i < 5; ++i)
        ids.push_back(*p.take());
    CHECK(p.in_use() == 8);
    CHECK(p.peak() == 10); // 8 < 10
    for (int i = 0; i < 4; ++i)
        ids.push_back(*p.take());
    CHECK(p.in_use() == 12);
    CHECK(p.peak() == 12);
    for (auto id : ids)
        p.give(id);
    CHECK(p.in_use() == 0);
    CHECK(p.peak() == 12);
}

TEST_CASE("buffer_pool: buffer-ring accounting (note_taken/note_returned) shares in_use and peak") {
    buffer_pool p(64, 4);
    auto id = p.take(); // free-list and ring accounting add up
    p.note_taken();
    p.note_taken();
    CHECK(p.in_use() == 3);
    CHECK(p.peak() == 3);
    p.note_returned();
    CHECK(p.in_use() == 2);
    p.give(*id);
    p.note_returned();
    CHECK(p.in_use() == 0);
    CHECK(p.peak() == 3);
}

TEST_CASE("buffer_pool: buffers are disjoint slices of one page-aligned block") {
    constexpr std::size_t size = 100; // not a power of two: ids are size apart
    constexpr std::uint16_t n = 50;
    buffer_pool p(size, n);
    CHECK(reinterpret_cast<std::uintptr_t>(p.data(0)) % 4096 == 0);
    for (std::uint16_t id = 0; id < n; ++id)
        CHECK(p.data(id) == p.data(0) + std::size_t(id) * size);
    // Every byte of every buffer is writable and keeps what was written
    // (ASan would flag an undersized block).
    for (std::uint16_t id = 0; id < n; ++id)
        std::memset(p.data(id), id, size);
    for (std::uint16_t id = 0; id < n; ++id) {
        bool same = true;
        for (std::size_t i = 0; i < size; ++i)
            same = same && p.data(id)[i] == static_cast<std::byte>(id);
        CHECK(same);
    }
}

TEST_CASE("buffer_pool: a one-buffer pool and a large-id pool both work at their limits") {
    buffer_pool one(64, 1);
    auto a = one.take();
    REQUIRE(a);
    CHECK(*a == 0);
    CHECK_FALSE(one.take().has_value());
    one.give(*a);
    CHECK(one.take() == std::optional<std::uint16_t>(0));
    one.give(0);

    buffer_pool big(64, 32768); // the largest capacity loop_options allows
    CHECK(big.capacity() == 32768);
    std::uint16_t last = 0;
    for (int i = 0; i < 32768; ++i) {
        auto id = big.take();
        REQUIRE(id);
        last = *id;
    }
    CHECK(last == 32767);
    CHECK_FALSE(big.take().has_value());
    CHECK(big.in_use() == 32768);
    std::memset(big.data(32767), 0xab, 64); // the last buffer is inside the block
    for (int id = 0; id < 32768; ++id)
        big.give(static_cast<std::uint16_t>(id));
    CHECK(big.in_use() == 0);
}
