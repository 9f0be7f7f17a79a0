#pragma once
// The loop's timers: a binary min-heap of intrusive nodes that live in the
// sleeping coroutines' frames. Equal deadlines fire in the order they were
// armed. Push, pop and erase are O(log n) and never allocate once the heap's
// vector has grown.

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace coronet::detail {

using clock = std::chrono::steady_clock;

struct timer_node {
    static constexpr std::size_t not_armed = std::numeric_limits<std::size_t>::max();
    clock::time_point deadline;
    std::coroutine_handle<> waiter;         // queued when the deadline passes...
    void (*fire)(void*) noexcept = nullptr; // ...or, if set, called instead
    void* context = nullptr;
    std::uint64_t seq = 0;
    std::size_t index = not_armed;
    bool armed() const noexcept { return index != not_armed; }
};

class timer_heap {
public:
    void push(timer_node& n);
    void erase(timer_node& n) noexcept;
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    /// The earliest deadline; only when !empty().
    clock::time_point next_deadline() const noexcept { return heap_.front()->deadline; }
    /// Removes and returns the earliest node if its deadline is <= now, else nullptr.
    timer_node* pop_expired(clock::time_point now) noexcept;
    /// Disarms every node (teardown).
    void clear() noexcept;

private:
    bool less(std::size_t a, std::size_t b) const noexcept;
    void place(std::size_t i, timer_node* n) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    std::vector<timer_node*> heap_;
    std::uint64_t next_seq_ = 0;
};

} // namespace coronet::detail
