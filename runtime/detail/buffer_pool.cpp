#include "coronet/runtime/detail/buffer_pool.hpp"

#include <new>
#include <sys/mman.h>

namespace coronet::detail {
namespace {
constexpr std::size_t page = 4096;
}

void buffer_pool::free_block::operator()(std::byte* p) const noexcept {
    ::munmap(p, bytes);
}

buffer_pool::buffer_pool(std::size_t buffer_size, std::uint16_t capacity)
    : size_(buffer_size), capacity_(capacity),
      memory_(nullptr, free_block{(buffer_size * capacity + page - 1) / page * page}) {
    // Address space only: no commit charge (MAP_NORESERVE), and a page becomes
    // resident only when data lands in it.
    void* p = ::mmap(nullptr, memory_.get_deleter().bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    memory_.reset(static_cast<std::byte*>(p));
    free_ = std::make_unique<std::uint16_t[]>(capacity);
    for (std::uint16_t id = capacity; id > 0; --id)
        free_[free_count_++] = static_cast<std::uint16_t>(id - 1); // id 0 on top
}

} // namespace coronet::detail
