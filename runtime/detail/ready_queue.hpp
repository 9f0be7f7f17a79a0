#pragma once
// The loop's queue of coroutines ready to run. Two vectors swapped each turn:
// pushes never allocate once the vectors have grown to the working-set size,
// and coroutines readied during a turn run in the next one (fairness).

#include <coroutine>
#include <vector>

namespace coronet::detail {

class ready_queue {
public:
    void push(std::coroutine_handle<> h) { pending_.push_back(h); }
    bool empty() const noexcept { return pending_.empty(); }
    std::size_t size() const noexcept { return pending_.size(); }

    /// Moves the pending handles into the batch to run; returns it.
    std::vector<std::coroutine_handle<>>& take_batch() {
        running_.clear();
        running_.swap(pending_);
        return running_;
    }
    void clear() noexcept {
        pending_.clear();
        running_.clear();
    }

private:
    std::vector<std::coroutine_handle<>> pending_;
    std::vector<std::coroutine_handle<>> running_;
};

} // namespace coronet::detail
