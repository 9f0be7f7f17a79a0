#pragma once
/// \class coronet::channel
/// coronet::channel<T>: a bounded queue between coroutines on one loop, like
/// asyncio.Queue with a maxsize.
///
///     channel<std::string> ch(64);
///     co_await ch.send("job");             // waits while the channel is full
///     auto job = co_await ch.receive();    // waits while it is empty
///     ch.close();                          // wakes everyone
///
/// send(v) → result<void>: delivered (into the buffer or straight to a
/// waiting receiver), or error::channel_closed, or operation_canceled if the
/// sender's scope was cancelled while it waited (the item was then not sent).
/// receive() → result<T>: the next item in FIFO order; error::channel_closed
/// once the channel is closed and drained; operation_canceled if cancelled
/// while waiting. try_send(v) never waits (asyncio's put_nowait): it delivers
/// like send, or fails at once with error::channel_full (no room and no waiting
/// receiver) or error::channel_closed, leaving `v` untouched. An item handed
/// to a receiver is never lost to a cancellation: a receiver woken with an
/// item returns it. Capacity 0 is a rendezvous.
/// The buffer is allocated once, at construction.

#include "coronet/runtime/detail/waiter_queue.hpp"
#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace coronet {

template <class T>
class channel {
    struct send_waiter : detail::waiter {
        std::optional<T> value; // taken by a receiver when delivered
    };
    struct recv_waiter : detail::waiter {
        std::optional<T> value; // filled by a sender
    };

public:
    /// The awaitable returned by send(): co_await it once for a `result<void>`.
    class [[nodiscard]] send_awaitable {
    public:
        /// A send of `v` into `c` (made by send()).
        send_awaitable(channel& c, T v) : c_(c) { w_.value.emplace(std::move(v)); }
        bool await_ready() { return c_.closed_ || c_.try_deliver(w_.value); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return c_.senders_.enqueue(w_, h, detail::scope_of(h));
        }
        result<void> await_resume() noexcept {
            bool cancelled = detail::finish_wait(w_);
            if (!w_.value) return {}; // delivered
            if (cancelled) return std::make_error_code(std::errc::operation_canceled);
            return make_error_code(error::channel_closed);
        }

    private:
        channel& c_;
        send_waiter w_;
    };

    /// The awaitable returned by receive(): co_await it once for a `result<T>`.
    class [[nodiscard]] receive_awaitable {
    public:
        /// A receive from `c` (made by receive()).
        explicit receive_awaitable(channel& c) noexcept : c_(c) {}
        bool await_ready() { return c_.try_take(w_.value) || c_.closed_; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return c_.receivers_.enqueue(w_, h, detail::scope_of(h));
        }
        result<T> await_resume() {
            bool cancelled = detail::finish_wait(w_);
            if (w_.value) return std::move(*w_.value);
            if (cancelled) return std::make_error_code(std::errc::operation_canceled);
            return make_error_code(error::channel_closed);
        }

    private:
        channel& c_;
        recv_waiter w_;
    };

    /// A channel holding up to `capacity` items (0: every send waits for a receiver).
    explicit channel(std::size_t capacity) : ring_(capacity) {}
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    /// co_await → result<void>: puts `value` in the channel, waiting while it
    /// is full. Errors: error::channel_closed (closed before or while
    /// waiting), operation_canceled (the sender's scope was cancelled while it
    /// waited: the item was not sent).
    send_awaitable send(T value) { return send_awaitable(*this, std::move(value)); }
    /// co_await → result<T>: the next item (FIFO), waiting while the channel
    /// is empty. Errors: error::channel_closed (closed and drained),
    /// operation_canceled (cancelled while waiting; an item already handed
    /// to this receiver is returned instead, never lost).
    receive_awaitable receive() noexcept { return receive_awaitable(*this); }

    /// Sends without waiting (asyncio's put_nowait): hands `value` to the
    /// longest-waiting receiver, or else buffers it, moving from `value`.
    /// Errors: error::channel_full (no room and no waiting receiver),
    /// error::channel_closed; on an error `value` is left as it was (nothing
    /// is moved from it). Never waits, so never cancelled.
    result<void> try_send(T&& value) { return try_send_impl(std::move(value)); }
    /// The same, copying `value` (only on success).
    result<void> try_send(const T& value) { return try_send_impl(value); }

    /// No more sends; waiting senders fail, receivers drain what is buffered.
    void close() noexcept {
        closed_ = true;
        senders_.wake_all();
        receivers_.wake_all();
    }
    /// True once close() was called.
    bool closed() const noexcept { return closed_; }
    /// Items buffered now.
    std::size_t size() const noexcept { return size_; }
    /// The most items it buffers (0: a rendezvous channel).
    std::size_t capacity() const noexcept { return ring_.size(); }

private:
    template <class U>
    result<void> try_send_impl(U&& value) {
        if (closed_) return make_error_code(error::channel_closed);
        if (receivers_.empty() && size_ == ring_.size())
            return make_error_code(error::channel_full);
        std::optional<T> v(std::forward<U>(value));
        try_deliver(v); // cannot fail: a receiver waits or there is room
        return {};
    }

    // Moves `v` to a waiting receiver or into the buffer; false if full.
    bool try_deliver(std::optional<T>& v) {
        if (!receivers_.empty()) {
            auto* r = static_cast<recv_waiter*>(receivers_.front());
            r->value = std::move(v);
            v.reset();
            receivers_.wake_one();
            return true;
        }
        if (size_ == ring_.size()) return false;
        ring_[(head_ + size_++) % ring_.size()] = std::move(v);
        v.reset();
        return true;
    }

    // Takes the oldest item (buffer first, then a waiting sender's); false if none.
    bool try_take(std::optional<T>& out) {
        if (size_ > 0) {
            out = std::move(ring_[head_]);
            ring_[head_].reset();
            head_ = (head_ + 1) % ring_.size();
            --size_;
            if (!senders_.empty()) { // room again: the longest waiting sender gets in
                auto* s = static_cast<send_waiter*>(senders_.front());
                ring_[(head_ + size_++) % ring_.size()] = std::move(s->value);
                s->value.reset();
                senders_.wake_one();
            }
            return true;
        }
        if (!senders_.empty()) { // rendezvous
            auto* s = static_cast<send_waiter*>(senders_.front());
            out = std::move(s->value);
            s->value.reset();
            senders_.wake_one();
            return true;
        }
        return false;
    }

    std::vector<std::optional<T>> ring_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    bool closed_ = false;
    detail::waiter_queue senders_;
    detail::waiter_queue receivers_;
};

} // namespace coronet
