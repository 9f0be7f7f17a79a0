#pragma once
// A loop's mailbox: how any thread hands a loop work (event_loop::post,
// loop_handle, spawn_on, run_on, cross-loop channels). Many producers, one
// consumer, no lock: a push is one compare-and-swap onto a stack, the loop
// takes every message at once per turn (one exchange) and runs them oldest
// first. The push that finds the box empty tells its sender to wake the loop,
// so a batch of messages costs one wakeup, not one per message. Closing the
// box (the loop stopped) makes every later push fail, and hands back what was
// still pending so it can be discarded without running.

#include <atomic>
#include <cstdint>

namespace coronet::detail {

/// A message's header, the first member of whatever it carries. `handle`
/// runs it on the loop's thread (deliver = true), or cleans it up without
/// running it when the loop has stopped (deliver = false). It never throws.
struct message {
    message* next = nullptr;
    void (*handle)(message* self, bool deliver) noexcept = nullptr;
};

class mailbox {
public:
    enum class push_result : std::uint8_t {
        first,  ///< the box was empty: the sender must wake the loop
        queued, ///< the loop has a wakeup coming already
        closed, ///< the loop has stopped; the message was not taken
    };

    /// Adds `m` (not in any box). Thread-safe.
    push_result push(message* m) noexcept {
        message* h = head_.load(std::memory_order_relaxed);
        do {
            if (h == closed_mark()) return push_result::closed;
            m->next = h;
        } while (!head_.compare_exchange_weak(h, m, std::memory_order_release,
                                              std::memory_order_relaxed));
        return h == nullptr ? push_result::first : push_result::queued;
    }

    /// Whether a message may be waiting (a plain load: the loop's cheap check).
    bool maybe_pending() const noexcept {
        message* h = head_.load(std::memory_order_relaxed);
        return h != nullptr && h != closed_mark();
    }

    /// Takes every pending message, oldest first (the consumer only).
    message* take_all() noexcept {
        message* h = head_.load(std::memory_order_relaxed);
        if (h == nullptr || h == closed_mark()) return nullptr;
        return reverse(head_.exchange(nullptr, std::memory_order_acquire));
    }

    /// Closes the box: later pushes fail. Returns what was pending, oldest
    /// first, for the caller to discard (the consumer only).
    message* close() noexcept {
        message* h = head_.exchange(closed_mark(), std::memory_order_acq_rel);
        return h == closed_mark() ? nullptr : reverse(h);
    }
    bool is_closed() const noexcept {
        return head_.load(std::memory_order_acquire) == closed_mark();
    }

private:
    static message* closed_mark() noexcept {
        return reinterpret_cast<message*>(std::uintptr_t{1}); // never a real address
    }
    static message* reverse(message* m) noexcept {
        message* out = nullptr;
        while (m != nullptr) {
            message* next = m->next;
            m->next = out;
            out = m;
            m = next;
        }
        return out;
    }
    std::atomic<message*> head_{nullptr}; // newest first; closed_mark() once closed
};

/// Runs (or discards) a chain from take_all()/close(), oldest first.
inline void dispatch(message* m, bool deliver) noexcept {
    while (m != nullptr) {
        message* next = m->next; // the handler may free or reuse m
        m->handle(m, deliver);
        m = next;
    }
}

} // namespace coronet::detail
