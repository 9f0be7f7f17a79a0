#include "coronet/net/framing.hpp"

namespace coronet {

std::array<std::byte, frame_header_size> encode_frame_header(std::size_t n) noexcept {
    auto v = static_cast<std::uint32_t>(n);
    auto byte = [v](int shift) { return static_cast<std::byte>((v >> shift) & 0xFF); };
    return {byte(24), byte(16), byte(8), byte(0)};
}

std::size_t decode_frame_header(std::span<const std::byte, frame_header_size> h) noexcept {
    return std::size_t{
        std::to_integer<std::uint32_t>(h[0]) << 24 | std::to_integer<std::uint32_t>(h[1]) << 16 |
        std::to_integer<std::uint32_t>(h[2]) << 8 | std::to_integer<std::uint32_t>(h[3])};
}

namespace detail {

result<std::size_t> check_frame_header(std::span<const std::byte> buffered, std::size_t max_frame,
                                       std::size_t capacity) noexcept {
    std::size_t n = decode_frame_header(buffered.first<frame_header_size>());
    if (n > max_frame) return make_error_code(error::frame_too_large);
    if (n > capacity || capacity - n < frame_header_size)
        return make_error_code(error::buffer_too_small);
    return n;
}

} // namespace detail
} // namespace coronet
