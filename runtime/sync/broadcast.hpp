#pragma once
/// \file
/// coronet::broadcast<T> and coronet::subscription<T>: one-to-many delivery
/// with a bounded queue per subscriber, for chat rooms and live notifications.
///
///     broadcast<std::string> room(64, overflow::disconnect);
///     subscription<std::string> me(room);     // subscribes; unsubscribes when destroyed
///     room.publish("bob: hi\n", &me);         // queued for everyone but me: never waits
///     auto line = co_await me.receive();      // result<std::string>
///
/// publish() never waits, so a subscriber that does not keep up slows neither
/// the publisher nor the other subscribers. It copies the item into each
/// subscriber's queue (`queue_capacity` items, allocated once when the
/// subscription is made); where a queue is full, the broadcast's policy says
/// what happens to that subscriber, and to it alone:
///
///     overflow::drop        it loses the item. After its next receive(),
///                           missed() says how many items it lost just before
///                           the one it got (or before the end).
///     overflow::disconnect  it is cut off: it gets no more items, cut_off()
///                           completes, and receive() returns what was already
///                           queued, then error::subscriber_overflow.
///
/// subscription::receive() → result<T>: the next item, in publish order.
/// Errors: subscriber_overflow (cut off, queue drained), channel_closed (the
/// broadcast was closed or destroyed, queue drained), operation_canceled (the
/// receiver's scope was cancelled while it waited; an item already handed to
/// it is returned, never lost). One receive at a time per subscription.
/// subscription::cut_off() → result<void>: completes once the subscription is
/// cut off (at once if it was); operation_canceled if cancelled first. Closing
/// the broadcast does not complete it.
///
/// Lifetimes: a subscription leaves its broadcast when destroyed; a broadcast
/// closes its subscriptions when destroyed. Neither can be moved (the
/// broadcast links the subscriptions by address). T is copied once per
/// subscriber: for large items, publish a std::shared_ptr<const X>.
/// Single loop: use both from the loop's thread only.

#include "coronet/runtime/error.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/sync/channel.hpp"
#include "coronet/runtime/sync/event.hpp"

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>

namespace coronet {

/// What a broadcast does to a subscriber whose queue is full (see the file comment).
enum class overflow {
    drop,       ///< the subscriber loses the item; missed() counts what it lost
    disconnect, ///< the subscriber is cut off: it drains its queue, then subscriber_overflow
};

template <class T>
class subscription;

/// One-to-many delivery: publish() copies an item into the bounded queue of
/// every subscription<T>, never waiting (see the file comment).
template <class T>
class broadcast {
public:
    /// Every subscriber gets a queue of `queue_capacity` items (at least 1:
    /// std::invalid_argument otherwise).
    broadcast(std::size_t queue_capacity, overflow policy)
        : capacity_(queue_capacity), policy_(policy) {
        if (queue_capacity == 0)
            throw std::invalid_argument("broadcast: queue_capacity must be >= 1");
    }
    /// Closes every subscription (see close()).
    ~broadcast() { close(); }
    broadcast(const broadcast&) = delete;
    broadcast& operator=(const broadcast&) = delete;

    /// Queues a copy of `item` for every subscriber except `except` (may be
    /// null), without waiting, applying the policy where a queue is full.
    /// Returns how many subscribers queued it (0 once closed).
    std::size_t publish(const T& item, const subscription<T>* except = nullptr) {
        std::size_t queued = 0;
        for (subscription<T>* s = head_; s != nullptr;) {
            subscription<T>* next = s->next_; // offer() may unlink s
            if (s != except && s->offer(item)) ++queued;
            s = next;
        }
        return queued;
    }

    /// Ends every subscription: each receives what is queued, then
    /// channel_closed. Later subscriptions start closed. Idempotent.
    void close() noexcept {
        closed_ = true;
        while (head_ != nullptr) {
            subscription<T>* s = head_;
            unlink(*s);
            s->queue_.close();
        }
    }
    /// True once close() was called (or the broadcast is being destroyed).
    bool closed() const noexcept { return closed_; }
    /// Subscriptions currently receiving (not cut off, not destroyed).
    std::size_t size() const noexcept { return size_; }
    /// The size of every subscriber's queue, in items.
    std::size_t queue_capacity() const noexcept { return capacity_; }
    /// What happens to a subscriber whose queue is full.
    overflow policy() const noexcept { return policy_; }

private:
    friend class subscription<T>;
    void link(subscription<T>& s) noexcept {
        s.hub_ = this;
        s.next_ = head_;
        if (head_ != nullptr) head_->prev_ = &s;
        head_ = &s;
        ++size_;
    }
    void unlink(subscription<T>& s) noexcept {
        (s.prev_ != nullptr ? s.prev_->next_ : head_) = s.next_;
        if (s.next_ != nullptr) s.next_->prev_ = s.prev_;
        s.prev_ = s.next_ = nullptr;
        s.hub_ = nullptr;
        --size_;
    }

    subscription<T>* head_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_;
    overflow policy_;
    bool closed_ = false;
};

/// One subscriber's end of a broadcast<T>: its own bounded queue, read with
/// receive() (see the file comment).
template <class T>
class subscription {
    struct entry {
        T value;
        std::uint64_t missed; // items this subscriber lost just before this one
    };

public:
    /// The awaitable returned by receive(): co_await it once for a `result<T>`.
    class [[nodiscard]] receive_awaitable {
    public:
        /// A receive from `s` (made by receive()).
        explicit receive_awaitable(subscription& s) noexcept : s_(s), inner_(s.queue_.receive()) {}
        bool await_ready() { return inner_.await_ready(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            return inner_.await_suspend(h);
        }
        result<T> await_resume() {
            result<entry> r = inner_.await_resume();
            if (r) {
                s_.last_missed_ = r->missed;
                return std::move(r->value);
            }
            s_.last_missed_ = 0;
            if (r.error() != error::channel_closed) return r.error(); // cancelled
            s_.last_missed_ = std::exchange(s_.pending_missed_, 0);
            if (s_.overflowed_) return make_error_code(error::subscriber_overflow);
            return r.error();
        }

    private:
        subscription& s_;
        typename channel<entry>::receive_awaitable inner_;
    };

    /// Subscribes to `b` (closed at once if `b` is closed). Allocates the
    /// queue: std::bad_alloc.
    explicit subscription(broadcast<T>& b) : queue_(b.queue_capacity()) {
        if (b.closed())
            queue_.close();
        else
            b.link(*this);
    }
    /// Leaves the broadcast (if still subscribed); items still queued are dropped.
    ~subscription() {
        if (hub_ != nullptr) hub_->unlink(*this);
    }
    subscription(const subscription&) = delete;
    subscription& operator=(const subscription&) = delete;

    /// co_await → result<T>: the next item (see the errors above).
    receive_awaitable receive() noexcept { return receive_awaitable(*this); }
    /// co_await → result<void>: once this subscription is cut off.
    event::wait_awaitable cut_off() noexcept { return overflow_event_.wait(); }

    /// Items lost (overflow::drop) just before what the last receive()
    /// returned: the item, or the end of the subscription. 0 otherwise.
    std::uint64_t missed() const noexcept { return last_missed_; }
    /// True while the subscription receives new items.
    bool subscribed() const noexcept { return hub_ != nullptr; }
    /// True once the subscription was cut off (overflow::disconnect).
    bool overflowed() const noexcept { return overflowed_; }
    /// Items queued and not yet received.
    std::size_t queued() const noexcept { return queue_.size(); }

private:
    friend class broadcast<T>;
    // Queues `item`, or applies the policy when the queue is full.
    bool offer(const T& item) {
        if (queue_.size() < queue_.capacity()) { // room, or a receiver waits
            auto r = queue_.try_send(entry{item, pending_missed_});
            if (r) pending_missed_ = 0;
            return bool(r);
        }
        if (hub_->policy() == overflow::drop) {
            ++pending_missed_;
            return false;
        }
        overflowed_ = true;
        hub_->unlink(*this);
        queue_.close();
        overflow_event_.set();
        return false;
    }

    channel<entry> queue_;
    event overflow_event_;
    broadcast<T>* hub_ = nullptr;
    subscription* prev_ = nullptr;
    subscription* next_ = nullptr;
    std::uint64_t pending_missed_ = 0;
    std::uint64_t last_missed_ = 0;
    bool overflowed_ = false;
};

} // namespace coronet
