#include <coronet/runtime/detail/timer_heap.hpp>

#include <algorithm>
#include <doctest/doctest.h>
#include <random>
#include <vector>

using namespace coronet::detail;

TEST_CASE("timer_heap: pops in deadline order, ties in arming order") {
    timer_heap h;
    const auto t0 = clock::now();
    std::vector<timer_node> nodes(200);
    std::mt19937 rng(5);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        nodes[i].deadline = t0 + std::chrono::milliseconds(rng() % 20);
        h.push(nodes[i]);
    }
    CHECK(h.size() == nodes.size());
    std::vector<timer_node*> order;
    while (timer_node* n = h.pop_expired(t0 + std::chrono::seconds(1)))
        order.push_back(n);
    REQUIRE(order.size() == nodes.size());
    for (std::size_t i = 1; i < order.size(); ++i) {
        bool ordered = order[i - 1]->deadline < order[i]->deadline ||
                       (order[i - 1]->deadline == order[i]->deadline && order[i - 1] < order[i]);
        CHECK(ordered);
        CHECK_FALSE(order[i]->armed());
    }
}

TEST_CASE("timer_heap: pop_expired respects now, erase removes anywhere") {
    timer_heap h;
    const auto t0 = clock::now();
    std::vector<timer_node> nodes(50);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        nodes[i].deadline = t0 + std::chrono::milliseconds(i);
        h.push(nodes[i]);
    }
    for (std::size_t i = 0; i < nodes.size(); i += 3)
        h.erase(nodes[i]);
    h.erase(nodes[0]); // erasing twice is harmless
    CHECK(h.pop_expired(t0 - std::chrono::milliseconds(1)) == nullptr);
    std::size_t expected = 1;
    while (timer_node* n = h.pop_expired(t0 + std::chrono::milliseconds(100))) {
        if (expected % 3 == 0) ++expected;
        CHECK(n == &nodes[expected]);
        ++expected;
    }
    CHECK(h.empty());
    h.push(nodes[1]);
    h.clear();
    CHECK_FALSE(nodes[1].armed());
}
