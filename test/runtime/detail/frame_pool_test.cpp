// The per-thread frame pool: reuse within a class, the bypass for large
// frames, the per-class bound, frees on other threads and at thread exit,
// and that both compilers hand task frames back with the size they allocated.
#include <coronet/runtime/detail/frame_pool.hpp>
#include <coronet/runtime/task.hpp>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstdlib>
#include <doctest/doctest.h>
#include <new>
#include <thread>
#include <vector>

// Counts global allocations, remembers the last size asked for, and counts
// the frees of one watched block.
namespace {
std::atomic<std::size_t> global_news{0};
std::atomic<std::size_t> last_new_size{0};
std::atomic<std::size_t> last_delete_size{0};
std::atomic<void*> watched{nullptr};
std::atomic<std::size_t> watched_frees{0};
} // namespace

void* operator new(std::size_t n) {
    global_news.fetch_add(1, std::memory_order_relaxed);
    last_new_size.store(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    if (p != nullptr && p == watched.load()) watched_frees.fetch_add(1);
    std::free(p);
}
void operator delete(void* p, std::size_t n) noexcept {
    last_delete_size.store(n, std::memory_order_relaxed);
    operator delete(p);
}

using coronet::task;
using coronet::detail::frame_pool;

TEST_CASE("frame_pool: a freed block is reused for the next frame of its class") {
    frame_pool::release_cached();
    CHECK(frame_pool::class_size(100) == 128);
    CHECK(frame_pool::class_size(120) == 128);
    void* a = frame_pool::allocate(100);
    frame_pool::deallocate(a, 100);
    CHECK(frame_pool::cached(100) == 1);
    auto news = global_news.load();
    void* b = frame_pool::allocate(120); // same class
    CHECK(b == a);
    CHECK(global_news.load() == news);
    CHECK(frame_pool::cached(100) == 0);
    void* c = frame_pool::allocate(200); // another class: not from that list
    CHECK(global_news.load() == news + 1);
    frame_pool::deallocate(b, 120);
    frame_pool::deallocate(c, 200);
    frame_pool::release_cached();
    CHECK(frame_pool::cached(100) == 0);
}

TEST_CASE("frame_pool: frames above the cap bypass the pool") {
    constexpr std::size_t big = frame_pool::max_pooled_size + 1;
    CHECK(frame_pool::class_size(big) == big);
    CHECK(frame_pool::cache_limit(big) == 0);
    for (int i = 0; i < 3; ++i) {
        auto news = global_news.load();
        void* p = frame_pool::allocate(big);
        CHECK(global_news.load() == news + 1);
        CHECK(last_new_size.load() == big);
        watched = p;
        frame_pool::deallocate(p, big);
        CHECK(watched_frees.exchange(0) == 1); // straight back to the heap
        CHECK(frame_pool::cached(big) == 0);
    }
    watched = nullptr;
}

TEST_CASE("frame_pool: a class keeps at most cache_limit blocks") {
    constexpr std::size_t size = 1000;
    const std::size_t limit = frame_pool::cache_limit(size);
    CHECK(limit == frame_pool::class_budget / frame_pool::class_size(size));
    CHECK(frame_pool::cache_limit(64) == frame_pool::max_cached);
    CHECK(frame_pool::cache_limit(frame_pool::max_pooled_size) == frame_pool::min_cached);
    frame_pool::release_cached();
    std::vector<void*> blocks(limit + 10);
    for (void*& p : blocks)
        p = frame_pool::allocate(size);
    watched = blocks.back(); // freed last, when the list is already full
    for (void* p : blocks)
        frame_pool::deallocate(p, size);
    CHECK(frame_pool::cached(size) == limit);
    CHECK(watched_frees.exchange(0) == 1);
    watched = nullptr;
    frame_pool::release_cached();
}

TEST_CASE("frame_pool: a block freed on another thread joins that thread's cache") {
    frame_pool::release_cached();
    void* p = frame_pool::allocate(300);
    watched = p;
    std::size_t cached_there = 0;
    std::thread other([&] {
        frame_pool::deallocate(p, 300);
        cached_there = frame_pool::cached(300);
    });
    other.join();
    CHECK(cached_there == 1);
    CHECK(frame_pool::cached(300) == 0);
    CHECK(watched_frees.exchange(0) == 1); // the other thread's cache went at its exit
    watched = nullptr;
}

namespace {
// Constructed before the thread's pool cache, so destroyed after it.
struct frees_late {
    void* block = nullptr;
    ~frees_late() { frame_pool::deallocate(block, 300); }
};
thread_local frees_late late;
} // namespace

TEST_CASE("frame_pool: a block freed after the thread's cache is gone goes to the heap") {
    std::thread t([] {
        late.block = nullptr; // constructs `late` first
        void* p = frame_pool::allocate(300);
        watched = p;
        late.block = p;
    });
    t.join();
    CHECK(watched_frees.exchange(0) == 1);
    watched = nullptr;
}

namespace {
// A frame of roughly N bytes: the array lives across a suspension.
template <std::size_t N>
[[gnu::noinline]] task<int> frame_of() {
    std::array<unsigned char, N> a{};
    co_await std::suspend_always{};
    co_return a[N - 1];
}

// Creates and destroys a task frame: it must come back with the size it was
// allocated with (the promise's sized operator delete).
template <std::size_t N>
void check_round_trip() {
    frame_pool::release_cached(); // so the frame's allocation reaches operator new
    last_new_size = 0;
    last_delete_size = 0;
    task<int> t = frame_of<N>();
    const bool made = t.valid();
    const std::size_t allocated = last_new_size.load();
    watched = t.handle().address();
    t = task<int>(); // destroys the frame
    watched = nullptr;
    const std::size_t freed = last_delete_size.load();
    CAPTURE(N);
    CAPTURE(allocated);
    REQUIRE(made);
    REQUIRE(allocated >= N);
    if (allocated <= frame_pool::max_pooled_size) {
        CHECK(frame_pool::class_size(allocated) == allocated);
        CHECK(frame_pool::cached(allocated) == 1); // back on the list it came from
    } else { // straight back to the heap, with its size where delete is sized
        CHECK(watched_frees.exchange(0) == 1);
        CHECK((freed == allocated || freed == 0));
    }
    frame_pool::release_cached();
}
} // namespace

TEST_CASE("frame_pool: task frames of every size come back with their size") {
    check_round_trip<1>();
    check_round_trip<100>();
    check_round_trip<1000>();
    check_round_trip<16384>();
    check_round_trip<frame_pool::max_pooled_size - 512>();
    check_round_trip<frame_pool::max_pooled_size + 1>();
}
