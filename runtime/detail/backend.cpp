// What both backends share: the receive pool and its waiters, and the
// test-only fault injector.
#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/fault.hpp"

#include <cerrno>

namespace coronet::detail {

backend::backend(ready_queue& ready, const backend_config& config, wake_fd& wake)
    : ready_(ready), config_(config), wake_(wake), faults_(make_fault_injector()) {}

backend::~backend() {
    delete faults_;
}

void backend::make_pool() {
    pool_ = std::make_unique<buffer_pool>(config_.pool_buffer_size, config_.pool_buffers);
    pool_base_ = pool_->data(0);
    pool_size_ = pool_->buffer_size();
}

void backend::cancel_pool_waiters(int fd) noexcept {
    for (operation* op = pool_waiters_.head; op != nullptr;) {
        operation* next = op->next;
        if (fd < 0 || op->fd == fd) {
            pool_waiters_.remove(*op);
            finish(*op, -ECANCELED);
        }
        op = next;
    }
}

} // namespace coronet::detail
