#include "coronet/runtime/stop_token.hpp"

#include "coronet/runtime/event_loop.hpp"

namespace coronet::detail {

std::shared_ptr<stop_bridge> make_stop_bridge(cancel_scope& scope) {
    auto b = std::make_shared<stop_bridge>();
    b->loop = &current_loop();
    b->loop_thread = std::this_thread::get_id();
    b->scope = &scope;
    return b;
}

void stop_bridge::request() noexcept {
    if (std::this_thread::get_id() == loop_thread) {
        if (scope != nullptr) scope->cancel();
        return;
    }
    try {
        loop->post([self = shared_from_this()] {
            if (self->scope != nullptr) self->scope->cancel();
        });
    } catch (...) {
        // Out of memory while posting: the operation simply is not cancelled.
    }
}

} // namespace coronet::detail
