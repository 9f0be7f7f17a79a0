#include "coronet/runtime/detail/frame_pool.hpp"

#include <array>
#include <bit>
#include <memory>
#include <new>
#include <sanitizer/asan_interface.h> // no-op macros unless built with ASan

namespace coronet::detail {
namespace {

// 64-byte steps up to 256 (4 classes), then four classes per power of two
// from 256 to 64 KiB (8 octaves).
constexpr std::size_t small_step = 64;
constexpr std::size_t small_limit = 256;
constexpr std::size_t class_count = 4 + 4 * 8;

constexpr std::size_t class_index(std::size_t n) noexcept {
    if (n <= small_limit) return n == 0 ? 0 : (n - 1) / small_step;
    const std::size_t m = n - 1;
    const auto octave = static_cast<std::size_t>(std::bit_width(m) - 1); // 2^octave <= m
    const std::size_t quarter = (m >> (octave - 2)) & 3;
    return 4 + (octave - 8) * 4 + quarter;
}

constexpr std::size_t size_of_class(std::size_t c) noexcept {
    if (c < 4) return (c + 1) * small_step;
    const std::size_t octave = 8 + (c - 4) / 4;
    const std::size_t quarter = (c - 4) % 4;
    return (std::size_t{1} << octave) + ((quarter + 1) << (octave - 2));
}

constexpr std::size_t limit_of_class(std::size_t c) noexcept {
    const std::size_t blocks = frame_pool::class_budget / size_of_class(c);
    if (blocks > frame_pool::max_cached) return frame_pool::max_cached;
    if (blocks < frame_pool::min_cached) return frame_pool::min_cached;
    return blocks;
}

static_assert(size_of_class(class_count - 1) == frame_pool::max_pooled_size);
static_assert(class_index(frame_pool::max_pooled_size) == class_count - 1);
static_assert(class_index(257) == 4 && size_of_class(4) == 320);
static_assert(class_index(512) == 7 && class_index(513) == 8 && size_of_class(8) == 640);

// The global allocator: ::operator new, and the sized ::operator delete
// where the compiler declares it (clang 14 does only with
// -fsized-deallocation; std::allocator picks the right one).
std::byte* global_allocate(std::size_t n) {
    return std::allocator<std::byte>().allocate(n);
}
void global_deallocate(void* p, std::size_t n) noexcept {
    std::allocator<std::byte>().deallocate(static_cast<std::byte*>(p), n);
}

// Each class's block size and cache limit, computed once at compile time.
template <class F>
constexpr std::array<std::size_t, class_count> table(F f) {
    std::array<std::size_t, class_count> t{};
    for (std::size_t c = 0; c < class_count; ++c)
        t[c] = f(c);
    return t;
}
constexpr auto class_sizes = table(size_of_class);
constexpr auto class_limits = table(limit_of_class);

// A cached block's first bytes link it to the next one of its class.
struct free_block {
    free_block* next;
};

// One thread's free lists: trivially destructible and constant-initialised,
// so reaching it costs no thread_local initialisation check. The cleaner
// below frees it at thread exit; it is touched (and its destructor
// registered) only when the thread first caches a block.
struct thread_cache {
    std::array<free_block*, class_count> head;
    std::array<std::size_t, class_count> count;
    bool cleaner_registered;
    bool gone; // the thread is exiting: frames freed now go to the global allocator

    void release() noexcept {
        for (std::size_t c = 0; c < class_count; ++c) {
            const std::size_t size = class_sizes[c];
            while (free_block* b = head[c]) {
                ASAN_UNPOISON_MEMORY_REGION(b, size);
                head[c] = b->next;
                global_deallocate(b, size);
            }
            count[c] = 0;
        }
    }
};
constinit thread_local thread_cache cache{};

struct cache_cleaner {
    ~cache_cleaner() {
        cache.release();
        cache.gone = true;
    }
};

[[gnu::noinline]] void register_cleaner() {
    static thread_local cache_cleaner cleaner;
    (void)&cleaner; // odr-use: its destructor runs at thread exit
    cache.cleaner_registered = true;
}

} // namespace

void* frame_pool::allocate(std::size_t n) {
    if (n > max_pooled_size) return global_allocate(n);
    const std::size_t c = class_index(n);
    if (free_block* b = cache.head[c]) {
        ASAN_UNPOISON_MEMORY_REGION(b, class_sizes[c]);
        cache.head[c] = b->next;
        --cache.count[c];
        return b;
    }
    return global_allocate(class_sizes[c]);
}

void frame_pool::deallocate(void* p, std::size_t n) noexcept {
    if (n > max_pooled_size) return global_deallocate(p, n);
    const std::size_t c = class_index(n);
    const std::size_t size = class_sizes[c];
    if (cache.gone || cache.count[c] >= class_limits[c]) return global_deallocate(p, size);
    if (!cache.cleaner_registered) [[unlikely]] {
        try {
            register_cleaner();
        } catch (...) { // no memory to register the cleaner: do not cache
            return global_deallocate(p, size);
        }
    }
    auto* b = ::new (p) free_block{cache.head[c]};
    cache.head[c] = b;
    ++cache.count[c];
    ASAN_POISON_MEMORY_REGION(b, size); // a use of the destroyed frame is reported
}

std::size_t frame_pool::class_size(std::size_t n) noexcept {
    return n > max_pooled_size ? n : size_of_class(class_index(n));
}

std::size_t frame_pool::cache_limit(std::size_t n) noexcept {
    return n > max_pooled_size ? 0 : limit_of_class(class_index(n));
}

std::size_t frame_pool::cached(std::size_t n) noexcept {
    if (n > max_pooled_size || cache.gone) return 0;
    return cache.count[class_index(n)];
}

void frame_pool::release_cached() noexcept {
    if (!cache.gone) cache.release();
}

} // namespace coronet::detail
