#include "runtime/timer.hpp"

#include "runtime/event_loop.hpp"

namespace coronet {

sleep_awaitable::~sleep_awaitable() {
    if (loop_ != nullptr) loop_->timers().erase(node_);
}

void sleep_awaitable::await_suspend(std::coroutine_handle<> h) {
    loop_ = &current_loop();
    node_.waiter = h;
    loop_->timers().push(node_);
}

} // namespace coronet
