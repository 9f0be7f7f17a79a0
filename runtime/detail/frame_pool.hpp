#pragma once
// The per-thread pool that coroutine frames come from (task<T> and the loop's
// spawn wrapper use it through their promises' operator new and delete), so
// that a server accepting and closing connections all day allocates nothing
// once the pool has warmed up.
//
// Sizes are rounded up to a size class: 64-byte steps up to 256 bytes, then
// four classes per power of two (320, 384, 448, 512, 640, ...) up to 64 KiB,
// so a block wastes at most a quarter of its size. A freed frame goes on its
// class's free list in the freeing thread's cache and the next frame of that
// class reuses it. Each class keeps at most 256 KiB worth of blocks (between
// 4 and 1024 blocks; see cache_limit), so a burst of connections does not pin
// its memory forever: what does not fit goes back to the global allocator.
// Frames larger than 64 KiB are not pooled at all.
//
// Blocks come from ::operator new(class size) and go back to ::operator
// delete (sized where the compiler has it): a block may be freed on another
// thread than the one that allocated it (it joins the freeing thread's
// cache), and no header is needed, because the promises' operator delete is
// the sized one, which g++ 12 and clang 14 call with the size they allocated
// (test/runtime/detail/frame_pool_test.cpp checks it).
//
// A thread's cache is freed when the thread exits; frames freed after that
// (by other thread_local destructors) go straight to the global allocator.
// Under AddressSanitizer the cached blocks are poisoned, so a use of a
// destroyed frame is still reported.

#include <cstddef>

namespace coronet::detail {

class frame_pool {
public:
    /// Frames up to this size are pooled; larger ones bypass the pool.
    static constexpr std::size_t max_pooled_size = 64 * 1024;
    /// Bytes of cached blocks one class may keep per thread.
    static constexpr std::size_t class_budget = 256 * 1024;
    /// At most this many (and at least min_cached) cached blocks per class.
    static constexpr std::size_t max_cached = 1024;
    static constexpr std::size_t min_cached = 4;

    /// A block of at least `n` bytes, from this thread's cache if it has
    /// one of that class. Throws std::bad_alloc like ::operator new.
    static void* allocate(std::size_t n);
    /// Returns a block from allocate(n), with the same `n`, on any thread.
    static void deallocate(void* p, std::size_t n) noexcept;

    /// The size a request of `n` bytes really gets: its class's size, or `n`
    /// itself above max_pooled_size.
    static std::size_t class_size(std::size_t n) noexcept;
    /// How many freed blocks of `n`'s class a thread keeps (0 above
    /// max_pooled_size).
    static std::size_t cache_limit(std::size_t n) noexcept;
    /// Blocks of `n`'s class cached on this thread now.
    static std::size_t cached(std::size_t n) noexcept;
    /// Returns every block cached on this thread to the global allocator.
    static void release_cached() noexcept;
};

} // namespace coronet::detail
