#include "coronet/runtime/timeout.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

namespace coronet::detail {

void deadline::arm(cancel_scope& scope, clock::time_point when) {
    if (when <= clock::now()) {
        scope_access::cancel(scope, true);
        return;
    }
    loop_ = &current_loop();
    node_.deadline = when;
    node_.fire = [](void* s) noexcept {
        scope_access::cancel(*static_cast<cancel_scope*>(s), true);
    };
    node_.context = &scope;
    detail::loop_access::timers(*loop_).push(node_);
}

bool deadline::link(cancel_scope& scope, clock::time_point when, const operation& op) {
    if (when <= clock::now() || !loop_access::io(current_loop()).links_timeout(op)) return false;
    // steady_clock is CLOCK_MONOTONIC, the clock IORING_TIMEOUT_ABS uses.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    abs_.tv_sec = ns / 1'000'000'000;
    abs_.tv_nsec = ns % 1'000'000'000;
    scope_access::set_linked_deadline(scope, &abs_);
    return true;
}

void deadline::disarm() noexcept {
    if (loop_ != nullptr) loop_access::timers(*loop_).erase(node_);
    loop_ = nullptr;
}

} // namespace coronet::detail
