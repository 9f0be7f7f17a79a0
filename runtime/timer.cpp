#include "coronet/runtime/timer.hpp"

#include "coronet/runtime/event_loop.hpp"

namespace coronet {

sleep_awaitable::~sleep_awaitable() {
    if (loop_ != nullptr) loop_->timers().erase(node_);
    link_.detach();
}

bool sleep_awaitable::arm(std::coroutine_handle<> h, cancel_scope* scope) {
    if (scope != nullptr && scope->cancelled()) {
        cancelled_ = true;
        return false;
    }
    loop_ = &current_loop();
    node_.waiter = h;
    loop_->timers().push(node_);
    if (scope != nullptr) {
        link_.target = this;
        link_.on_cancel = &sleep_awaitable::on_cancel;
        scope->attach(link_);
    }
    return true;
}

void sleep_awaitable::on_cancel(void* p) noexcept {
    auto* self = static_cast<sleep_awaitable*>(p);
    if (!self->node_.armed()) return; // already due: it completes normally
    self->loop_->timers().erase(self->node_);
    self->cancelled_ = true;
    self->loop_->schedule(self->node_.waiter);
}

sleep_result sleep_awaitable::await_resume() noexcept {
    link_.detach();
    if (cancelled_) return std::make_error_code(std::errc::operation_canceled);
    return {};
}

} // namespace coronet
