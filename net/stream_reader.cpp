#include "coronet/net/stream_reader.hpp"

#include <cstring>
#include <stdexcept>

namespace coronet::detail {

read_buffer::read_buffer(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("stream_reader: capacity must be at least 1");
    data_ = std::make_unique_for_overwrite<std::byte[]>(capacity);
}

void read_buffer::consume(std::size_t n) noexcept {
    begin_ += std::min(n, size());
    if (begin_ == end_) begin_ = end_ = 0; // empty: start over at the front, no copy
}

std::span<std::byte> read_buffer::prepare() noexcept {
    if (begin_ != 0) {
        std::memmove(data_.get(), data_.get() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
    }
    return {data_.get() + end_, capacity_ - end_};
}

std::error_code read_buffer::received(const result<std::size_t>& r) noexcept {
    if (!r) return r.error();
    if (*r == 0) {
        eof = true;
        return eof_error();
    }
    end_ += std::min(*r, capacity_ - end_);
    return {};
}

std::error_code read_buffer::eof_error() const noexcept {
    return make_error_code(size() == 0 ? error::end_of_stream : error::unexpected_eof);
}

std::size_t read_buffer::find(std::string_view delim, std::size_t from,
                              std::size_t limit) const noexcept {
    std::string_view window = as_text(data().first(std::min(limit, size())));
    if (from >= window.size()) return npos;
    std::size_t at = window.find(delim, from);
    return at == std::string_view::npos ? npos : at + delim.size();
}

read_guard::read_guard(read_buffer& b) : b_(b) {
    if (b_.busy) throw std::logic_error("stream_reader: a read is already in progress");
    b_.busy = true;
}

} // namespace coronet::detail
