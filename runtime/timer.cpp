#include "coronet/runtime/timer.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

namespace coronet {

sleep_awaitable::~sleep_awaitable() {
    if (loop_ != nullptr) detail::loop_access::timers(*loop_).erase(node_);
    link_.detach();
}

bool sleep_awaitable::arm(std::coroutine_handle<> h, cancel_scope* scope) {
    if (scope != nullptr && scope->cancelled()) {
        cancelled_ = true;
        return false;
    }
    loop_ = &current_loop();
    node_.waiter = h;
    detail::loop_access::timers(*loop_).push(node_);
    if (scope != nullptr) {
        detail::scope_access::attach(*scope, link_, this, &sleep_awaitable::on_cancel);
    }
    return true;
}

void sleep_awaitable::on_cancel(void* p) noexcept {
    auto* self = static_cast<sleep_awaitable*>(p);
    if (!self->node_.armed()) return; // already due: it completes normally
    detail::loop_access::timers(*self->loop_).erase(self->node_);
    self->cancelled_ = true;
    detail::loop_access::schedule(*self->loop_, self->node_.waiter);
}

sleep_result sleep_awaitable::await_resume() noexcept {
    link_.detach();
    if (cancelled_) return std::make_error_code(std::errc::operation_canceled);
    return {};
}

} // namespace coronet
