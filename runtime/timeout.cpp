#include "coronet/runtime/timeout.hpp"

#include "coronet/runtime/event_loop.hpp"

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

bool deadline::link(cancel_scope& scope, clock::time_point when, const operation& op) {
    if (when <= clock::now() || !current_loop().io().links_timeout(op)) return false;
    // steady_clock is CLOCK_MONOTONIC, the clock IORING_TIMEOUT_ABS uses.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    abs_.tv_sec = ns / 1'000'000'000;
    abs_.tv_nsec = ns % 1'000'000'000;
    scope.set_linked_deadline(&abs_);
    return true;
}

void deadline::disarm() noexcept {
    if (loop_ != nullptr) loop_->timers().erase(node_);
    loop_ = nullptr;
}

} // namespace coronet::detail
