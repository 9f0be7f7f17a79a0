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
    free_.reserve(capacity);
    for (std::uint16_t id = capacity; id > 0; --id)
        free_.push_back(static_cast<std::uint16_t>(id - 1)); // id 0 on top
}

std::optional<std::uint16_t> buffer_pool::take() noexcept {
    if (free_.empty()) return std::nullopt;
    std::uint16_t id = free_.back();
    free_.pop_back();
    note_taken();
    return id;
}

void buffer_pool::give(std::uint16_t id) noexcept {
    free_.push_back(id); // never grows past capacity: reserved up front
    note_returned();
}

void buffer_pool::note_taken() noexcept {
    if (++in_use_ > peak_) peak_ = in_use_;
}

} // namespace coronet::detail
