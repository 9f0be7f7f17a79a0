#pragma once
/// \file
/// with_stop_token: cancel an awaitable or task through a std::stop_token.
///
///     std::stop_source stop;                       // e.g. owned by another thread
///     auto n = co_await coronet::with_stop_token(stop.get_token(), conn.recv(buf));
///     // operation_canceled if stop.request_stop() came first
///
/// request_stop() may be called from any thread: the cancellation is posted to
/// the awaiting loop (event_loop::post) and takes effect there, as request +
/// join (see cancel_scope.hpp): a result that completed anyway is returned.
/// Costs one small allocation per call (the state shared with the callback).

#include "coronet/runtime/cancel_scope.hpp"

#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>

namespace coronet {

class event_loop;

namespace detail {
/// Shared between the awaitable (loop thread) and the stop callback (any thread).
struct stop_bridge : std::enable_shared_from_this<stop_bridge> {
    event_loop* loop = nullptr;
    std::thread::id loop_thread;
    cancel_scope* scope = nullptr; // read and cleared on the loop thread only
    void request() noexcept;       // called by the stop callback, on any thread
};
std::shared_ptr<stop_bridge> make_stop_bridge(cancel_scope& scope);
} // namespace detail

/// The awaitable returned by with_stop_token: co_await it once; it yields
/// what awaiting `A` yields.
template <class A>
class [[nodiscard]] stop_token_awaitable {
    struct on_stop {
        std::shared_ptr<detail::stop_bridge> bridge;
        void operator()() noexcept { bridge->request(); }
    };

public:
    /// Awaits `a`, cancelled when `token` is stopped (made by with_stop_token).
    stop_token_awaitable(std::stop_token token, A&& a)
        : token_(std::move(token)), inner_(scope_, std::forward<A>(a)) {}

    bool await_ready() { return inner_.await_ready(); }
    template <class P>
    auto await_suspend(std::coroutine_handle<P> h) {
        bridge_ = detail::make_stop_bridge(scope_);
        callback_.emplace(token_, on_stop{bridge_});
        return inner_.await_suspend(h);
    }
    decltype(auto) await_resume() {
        detach();
        return inner_.await_resume();
    }
    ~stop_token_awaitable() { detach(); }
    /// Only before it is awaited (so it can be nested in another wrapper).
    stop_token_awaitable(stop_token_awaitable&& o)
        : token_(std::move(o.token_)), inner_(scope_, std::move(o.inner_).take()) {}

private:
    void detach() noexcept {
        callback_.reset(); // waits for a callback running on another thread
        if (bridge_) bridge_->scope = nullptr;
    }
    std::stop_token token_;
    cancel_scope scope_;
    cancel_scope::scoped<A> inner_;
    std::shared_ptr<detail::stop_bridge> bridge_;
    std::optional<std::stop_callback<on_stop>> callback_;
};

/// Awaits `a` (an awaitable or a task), cancelled when `token` is stopped:
/// the result is `a`'s own, operation_canceled when the stop came first (or
/// the real result, if `a` completed anyway). Cancelling the caller's scope
/// cancels `a` too.
template <class A>
stop_token_awaitable<A> with_stop_token(std::stop_token token, A&& a) {
    return stop_token_awaitable<A>(std::move(token), std::forward<A>(a));
}

} // namespace coronet
