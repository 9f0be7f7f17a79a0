#include "coronet/runtime/cancel_scope.hpp"

namespace coronet {

cancel_scope::~cancel_scope() {
    // Normally empty by now: waits detach when they complete and nested
    // scopes leave when their run() ends. Unhook whatever is left.
    while (waits_ != nullptr)
        waits_->detach();
    while (first_child_ != nullptr)
        first_child_->leave();
    leave();
}

void cancel_scope::enter(cancel_scope* parent) noexcept {
    leave();
    parent_ = parent;
    if (parent == nullptr) return;
    next_sibling_ = parent->first_child_;
    if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = this;
    parent->first_child_ = this;
    if (parent->cancelled_) cancel_as(parent->timed_out_);
}

void cancel_scope::leave() noexcept {
    if (parent_ == nullptr) return;
    (prev_sibling_ ? prev_sibling_->next_sibling_ : parent_->first_child_) = next_sibling_;
    if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = prev_sibling_;
    parent_ = next_sibling_ = prev_sibling_ = nullptr;
}

void cancel_scope::cancel_as(bool timeout) noexcept {
    if (cancelled_) return;
    cancelled_ = true;
    timed_out_ = timeout;
    // Each on_cancel only asks (a backend cancel, a queue removal plus a
    // wake-up through the ready queue); nothing is resumed from here, so the
    // lists cannot change under the walk except by the callee detaching itself.
    for (detail::wait_link* w = waits_; w != nullptr;) {
        detail::wait_link* next = w->next;
        w->on_cancel(w->target);
        w = next;
    }
    for (cancel_scope* c = first_child_; c != nullptr; c = c->next_sibling_)
        c->cancel_as(timeout);
}

} // namespace coronet
