#pragma once
// The loop's queue of coroutines ready to run: two arrays swapped each turn.
// A push is a store and an increment once the arrays have grown to the
// working-set size, and coroutines readied during a turn run in the next one
// (fairness).

#include <coroutine>
#include <cstddef>
#include <memory>

namespace coronet::detail {

class ready_queue {
public:
    /// A batch of handles taken from the queue (take_batch()).
    struct batch {
        std::coroutine_handle<>* first;
        std::coroutine_handle<>* last;
        std::coroutine_handle<>* begin() const noexcept { return first; }
        std::coroutine_handle<>* end() const noexcept { return last; }
    };

    void push(std::coroutine_handle<> h) {
        if (size_ == capacity_) [[unlikely]]
            grow();
        pending_[size_++] = h;
    }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    /// Moves the pending handles into the batch to run and returns it; valid
    /// until the next take_batch() (pushes meanwhile go to the other array).
    batch take_batch() noexcept {
        pending_.swap(running_);
        std::swap(capacity_, running_capacity_);
        std::size_t n = size_;
        size_ = 0;
        return {running_.get(), running_.get() + n};
    }
    void clear() noexcept { size_ = 0; }

private:
    void grow() {
        std::size_t cap = capacity_ == 0 ? 64 : capacity_ * 2;
        auto bigger = std::make_unique<std::coroutine_handle<>[]>(cap);
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = pending_[i];
        pending_ = std::move(bigger);
        capacity_ = cap;
    }
    std::unique_ptr<std::coroutine_handle<>[]> pending_;
    std::unique_ptr<std::coroutine_handle<>[]> running_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
    std::size_t running_capacity_ = 0;
};

} // namespace coronet::detail
