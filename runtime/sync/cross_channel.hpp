#pragma once
/// \class coronet::cross_channel
/// coronet::cross_channel<T>: a bounded queue between coroutines on
/// different loops (threads), like channel<T> across a loop_group.
///
///     coronet::cross_channel<job> jobs(1024);      // outlives every user
///     // on loop A:
///     co_await jobs.send(job{...});                 // waits while full
///     // on loop B:
///     auto j = co_await jobs.receive();             // waits while empty
///     jobs.close();                                 // any thread: wakes everyone
///
/// Any number of senders and receivers, on any loops. The items live in a
/// lock-free ring (a send or receive that need not wait takes no lock and
/// makes no syscall); a coroutine that must wait is listed under a mutex
/// and woken by a message to its own loop (one wakeup per batch: see
/// loop_handle.hpp), where it resumes and looks again. FIFO across all
/// senders as the ring orders them. The ring is allocated once, with room for
/// at least `capacity` items (rounded up to a power of two, at least 2).
///
/// send(v) → result<void>: queued, or error::channel_closed, or
/// operation_canceled when the sender's scope was cancelled while it waited
/// (`v` was then not queued). receive() → result<T>: the oldest item;
/// error::channel_closed once closed and empty; operation_canceled when
/// cancelled while waiting. Cancellation loses nothing: an item stays in the
/// ring until a receive returns it, and a cancelled waiter passes its wakeup
/// on. The channel must outlive every coroutine that uses it.

#include "coronet/runtime/detail/remote_waiters.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <utility>

namespace coronet {

namespace detail {

/// co_await: lists the caller on `list` unless `ready()` holds; resumes
/// when woken (true) or cancelled (false).
template <class Ready>
class remote_wait {
public:
    remote_wait(remote_waiters& list, Ready ready) : list_(list), ready_(std::move(ready)) {}
    remote_wait(const remote_wait&) = delete;
    remote_wait& operator=(const remote_wait&) = delete;
    ~remote_wait() {
        if (w_ == nullptr) return;
        w_->link.detach();
        if (suspended_) list_.abandon(*w_);
        w_->release();
    }
    bool await_ready() { return ready_(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_scope* scope = scope_of(h);
        if (scope != nullptr && scope->cancelled()) {
            cancelled_ = true;
            return false;
        }
        w_ = new remote_waiter;
        suspended_ = list_.wait(*w_, h, scope, ready_);
        return suspended_;
    }
    /// False if the wait was cancelled.
    bool await_resume() noexcept {
        suspended_ = false;
        if (w_ != nullptr) {
            w_->link.detach();
            cancelled_ = w_->cancelled;
        }
        return !cancelled_;
    }

private:
    remote_waiters& list_;
    Ready ready_;
    remote_waiter* w_ = nullptr;
    bool suspended_ = false;
    bool cancelled_ = false;
};

} // namespace detail

template <class T>
class cross_channel {
public:
    /// A channel with room for at least `capacity` (>= 1) items. Throws
    /// std::invalid_argument for 0, std::bad_alloc.
    explicit cross_channel(std::size_t capacity)
        : mask_(round_up(capacity) - 1), cells_(new cell[mask_ + 1]) {
        for (std::size_t i = 0; i <= mask_; ++i)
            cells_[i].seq.store(i, std::memory_order_relaxed);
    }
    cross_channel(const cross_channel&) = delete;
    cross_channel& operator=(const cross_channel&) = delete;
    /// Destroys the items left. No coroutine may be waiting on it.
    ~cross_channel() {
        while (take()) {
        }
    }

    /// Queues `v` without waiting; false (and `v` untouched) if the channel
    /// is full or closed. Any thread.
    bool try_send(T& v) {
        if (closed_.load(std::memory_order_acquire) || !put(v)) return false;
        after_put();
        return true;
    }
    /// The oldest item without waiting; nullopt if empty. Any thread.
    std::optional<T> try_receive() {
        std::optional<T> v = take();
        if (v) after_take();
        return v;
    }

    /// co_await → result<void> (see the class comment). Loop threads.
    task<result<void>> send(T v) {
        for (;;) {
            if (closed_.load(std::memory_order_acquire))
                co_return make_error_code(error::channel_closed);
            if (put(v)) {
                after_put();
                co_return result<void>{};
            }
            auto room = [this] { return closed_.load(std::memory_order_acquire) || !full(); };
            if (!co_await detail::remote_wait(senders_, room)) {
                pass_on_room();
                co_return std::make_error_code(std::errc::operation_canceled);
            }
        }
    }
    /// co_await → result<T> (see the class comment). Loop threads.
    task<result<T>> receive() {
        for (;;) {
            if (std::optional<T> v = take()) {
                after_take();
                co_return std::move(*v);
            }
            if (closed_.load(std::memory_order_acquire)) {
                if (std::optional<T> v = take()) { // sent just before the close
                    after_take();
                    co_return std::move(*v);
                }
                co_return make_error_code(error::channel_closed);
            }
            auto items = [this] { return closed_.load(std::memory_order_acquire) || !empty(); };
            if (!co_await detail::remote_wait(receivers_, items)) {
                pass_on_items();
                co_return std::make_error_code(std::errc::operation_canceled);
            }
        }
    }

    /// Closes the channel: sends fail, receives drain what is left, then
    /// fail; every waiter wakes. Any thread. Idempotent.
    void close() noexcept {
        closed_.store(true, std::memory_order_release);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        receivers_.wake_all();
        senders_.wake_all();
    }
    /// Whether close() was called.
    bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
    /// Room for this many items.
    std::size_t capacity() const noexcept { return mask_ + 1; }

private:
    // Vyukov's bounded MPMC ring: a cell's sequence number says whose turn it is.
    struct cell {
        std::atomic<std::size_t> seq;
        alignas(T) unsigned char storage[sizeof(T)];
        T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };
    static std::size_t round_up(std::size_t n) {
        if (n == 0) throw std::invalid_argument("coronet::cross_channel: capacity must be >= 1");
        return n < 2 ? 2 : std::bit_ceil(n); // the ring's sequence numbers need two cells
    }

    bool put(T& v) {
        std::size_t pos = enqueue_.load(std::memory_order_relaxed);
        for (;;) {
            cell& c = cells_[pos & mask_];
            std::size_t seq = c.seq.load(std::memory_order_acquire);
            auto diff = static_cast<std::ptrdiff_t>(seq - pos);
            if (diff == 0) {
                if (enqueue_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    ::new (c.storage) T(std::move(v));
                    c.seq.store(pos + 1, std::memory_order_release);
                    return true;
                }
            } else if (diff < 0) {
                return false; // full
            } else {
                pos = enqueue_.load(std::memory_order_relaxed);
            }
        }
    }
    std::optional<T> take() {
        std::size_t pos = dequeue_.load(std::memory_order_relaxed);
        for (;;) {
            cell& c = cells_[pos & mask_];
            std::size_t seq = c.seq.load(std::memory_order_acquire);
            auto diff = static_cast<std::ptrdiff_t>(seq - (pos + 1));
            if (diff == 0) {
                if (dequeue_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    std::optional<T> v(std::move(*c.item()));
                    c.item()->~T();
                    c.seq.store(pos + mask_ + 1, std::memory_order_release);
                    return v;
                }
            } else if (diff < 0) {
                return std::nullopt; // empty
            } else {
                pos = dequeue_.load(std::memory_order_relaxed);
            }
        }
    }
    bool empty() const noexcept {
        std::size_t pos = dequeue_.load(std::memory_order_acquire);
        return cells_[pos & mask_].seq.load(std::memory_order_acquire) != pos + 1;
    }
    bool full() const noexcept {
        std::size_t pos = enqueue_.load(std::memory_order_acquire);
        return cells_[pos & mask_].seq.load(std::memory_order_acquire) != pos;
    }
    // After an item went in (or out), a waiting receiver (sender) may go on.
    // The fence pairs with the one a waiter passes after counting itself
    // (remote_waiters::wait): either we see it, or it sees the item.
    void after_put() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (receivers_.maybe_waiting()) receivers_.wake_one();
    }
    void after_take() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (senders_.maybe_waiting()) senders_.wake_one();
    }
    // A cancelled waiter may have consumed a wakeup meant for what is there.
    void pass_on_items() noexcept {
        if (!empty()) after_put();
    }
    void pass_on_room() noexcept {
        if (!full()) after_take();
    }

    const std::size_t mask_;
    std::unique_ptr<cell[]> cells_;
    alignas(64) std::atomic<std::size_t> enqueue_{0};
    alignas(64) std::atomic<std::size_t> dequeue_{0};
    std::atomic<bool> closed_{false};
    detail::remote_waiters receivers_;
    detail::remote_waiters senders_;
};

} // namespace coronet
