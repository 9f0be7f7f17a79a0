#include "coronet/runtime/task_group.hpp"
#include "coronet/runtime/detail/loop_access.hpp"

#include <cstdio>

namespace coronet {

task_group::task_group(cancel_scope* parent) : loop_(current_loop()), state_(new state) {
    state_->group = this;
    detail::scope_access::enter(
        scope_, parent != nullptr ? parent : &detail::loop_access::root_scope(loop_));
}

task_group::~task_group() {
    if (running_ == 0) {
        delete state_;
        return;
    }
    std::fprintf(stderr,
                 "coronet: task_group destroyed with %zu running tasks (not joined); "
                 "they are cancelled and left to the loop\n",
                 running_);
    // The children are ordinary spawned tasks of the loop: cancel them; the
    // state, not this group, hears from them and is freed by the last one.
    scope_.cancel();
    state_->group = nullptr;
}

void task_group::spawn(task<> t) {
    ++running_;
    ++state_->children;
    detail::loop_access::spawn_child(loop_, std::move(t), scope_, state_);
}

void task_group::state::child_done(std::exception_ptr error) noexcept {
    task_group* g = group;
    if (--children == 0 && g == nullptr) delete this;
    if (g != nullptr) g->on_child_done(error);
}

void task_group::on_child_done(std::exception_ptr error) noexcept {
    --running_;
    if (error) {
        if (!first_error_) {
            first_error_ = error;
        } else {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "coronet: task_group: another task failed too: %s\n",
                             e.what());
            } catch (...) {
                std::fprintf(stderr, "coronet: task_group: another task failed too\n");
            }
        }
        scope_.cancel();
    }
    if (running_ == 0 && joiner_) detail::loop_access::schedule(loop_, std::exchange(joiner_, {}));
}

void task_group::join_awaitable::suspend(std::coroutine_handle<> h, cancel_scope* scope) noexcept {
    detail::scope_access::enter(group_.scope_,
                                scope); // the joiner's cancellation now reaches the children
    group_.joiner_ = h;
}

void task_group::join_awaitable::await_resume() {
    if (group_.first_error_) std::rethrow_exception(std::exchange(group_.first_error_, {}));
}

} // namespace coronet
