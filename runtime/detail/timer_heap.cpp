#include "coronet/runtime/detail/timer_heap.hpp"

#include <utility>

namespace coronet::detail {

bool timer_heap::less(std::size_t a, std::size_t b) const noexcept {
    const timer_node* x = heap_[a];
    const timer_node* y = heap_[b];
    return x->deadline < y->deadline || (x->deadline == y->deadline && x->seq < y->seq);
}

void timer_heap::place(std::size_t i, timer_node* n) noexcept {
    heap_[i] = n;
    n->index = i;
}

void timer_heap::sift_up(std::size_t i) noexcept {
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!less(i, parent)) break;
        timer_node* p = heap_[parent];
        place(parent, heap_[i]);
        place(i, p);
        i = parent;
    }
}

void timer_heap::sift_down(std::size_t i) noexcept {
    const std::size_t n = heap_.size();
    for (;;) {
        std::size_t smallest = i;
        std::size_t l = 2 * i + 1, r = l + 1;
        if (l < n && less(l, smallest)) smallest = l;
        if (r < n && less(r, smallest)) smallest = r;
        if (smallest == i) return;
        timer_node* s = heap_[smallest];
        place(smallest, heap_[i]);
        place(i, s);
        i = smallest;
    }
}

void timer_heap::push(timer_node& n) {
    n.seq = next_seq_++;
    heap_.push_back(&n);
    n.index = heap_.size() - 1;
    sift_up(n.index);
}

void timer_heap::erase(timer_node& n) noexcept {
    if (!n.armed()) return;
    std::size_t i = n.index;
    n.index = timer_node::not_armed;
    timer_node* last = heap_.back();
    heap_.pop_back();
    if (last == &n) return;
    place(i, last);
    sift_up(i);
    sift_down(last->index);
}

timer_node* timer_heap::pop_expired(clock::time_point now) noexcept {
    if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
    timer_node* top = heap_.front();
    erase(*top);
    return top;
}

void timer_heap::clear() noexcept {
    for (timer_node* n : heap_)
        n->index = timer_node::not_armed;
    heap_.clear();
}

} // namespace coronet::detail
