#include "runtime/timeout.hpp"

#include "runtime/event_loop.hpp"

namespace coronet::detail {

void deadline::arm(cancel_scope& scope, clock::time_point when) {
    if (when <= clock::now()) {
        scope.cancel_as(true);
        return;
    }
    loop_ = &current_loop();
    node_.deadline = when;
    node_.fire = [](void* s) noexcept { static_cast<cancel_scope*>(s)->cancel_as(true); };
    node_.context = &scope;
    loop_->timers().push(node_);
}

void deadline::disarm() noexcept {
    if (loop_ != nullptr) loop_->timers().erase(node_);
    loop_ = nullptr;
}

} // namespace coronet::detail
