#include "runtime/detail/buffer_pool.hpp"

#include <cstdlib>
#include <new>

namespace coronet::detail {
namespace {
constexpr std::size_t page = 4096;
}

void buffer_pool::free_block::operator()(std::byte* p) const noexcept {
    std::free(p);
}

buffer_pool::buffer_pool(std::size_t buffer_size, std::uint16_t capacity)
    : size_(buffer_size), capacity_(capacity) {
    std::size_t bytes = (buffer_size * capacity + page - 1) / page * page;
    // Not touched here: pages become resident only when data lands in them.
    memory_.reset(static_cast<std::byte*>(std::aligned_alloc(page, bytes)));
    if (!memory_) throw std::bad_alloc();
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
