#include "coronet/runtime/buffer_lease.hpp"

#include "coronet/runtime/detail/backend.hpp"

namespace coronet {

void buffer_lease::release() noexcept {
    if (owner_ != nullptr) std::exchange(owner_, nullptr)->release_buffer(id_);
    data_ = nullptr;
    size_ = 0;
}

} // namespace coronet
