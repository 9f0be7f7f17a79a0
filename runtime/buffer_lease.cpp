#include "coronet/runtime/buffer_lease.hpp"

#include "coronet/runtime/detail/backend.hpp"

namespace coronet {

void buffer_lease::give_back() noexcept {
    std::exchange(owner_, nullptr)->release_buffer(id_);
}

} // namespace coronet
