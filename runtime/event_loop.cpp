#include "runtime/event_loop.hpp"

#include "runtime/detail/io_awaitable.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <typeinfo>

namespace coronet {
namespace {

thread_local event_loop* current_ = nullptr; // the loop running now
thread_local event_loop* owner_ = nullptr;   // the loop that exists on this thread
constexpr unsigned inline_budget_per_turn = 256;

// Sets the thread's current loop for a scope; restores the previous one.
class current_scope {
public:
    explicit current_scope(event_loop* l) : saved_(current_) { current_ = l; }
    ~current_scope() { current_ = saved_; }
    current_scope(const current_scope&) = delete;
    current_scope& operator=(const current_scope&) = delete;

private:
    event_loop* saved_;
};

void report_escaped(const char* what) noexcept {
    std::fprintf(stderr, "coronet: exception escaped a spawned task: %s\n", what);
}

// A detached coroutine: starts when the loop first resumes it, destroys
// itself when it finishes, and is linked in the loop's list meanwhile so
// that teardown can destroy it if it never finishes.
struct detached {
    struct promise_type {
        event_loop::spawned_node node;
        event_loop* loop = current_;
        promise_type() {
            node.frame = std::coroutine_handle<promise_type>::from_promise(*this);
            loop->link_spawned(node);
        }
        ~promise_type() { loop->unlink_spawned(node); }
        detached get_return_object() noexcept {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { report_escaped("unknown exception"); }
    };
    std::coroutine_handle<promise_type> handle;
};

detached run_detached(task<> t) {
    try {
        co_await std::move(t);
    } catch (const std::exception& e) {
        report_escaped(e.what());
    } catch (...) {
        report_escaped("non-standard exception");
    }
}

} // namespace

event_loop::event_loop(loop_options options) {
    if (owner_ != nullptr) throw std::logic_error("coronet: this thread already has a loop");
    backend_kind kind = options.backend ? *options.backend : configured_backend_kind();
    backend_ = detail::make_backend(kind, ready_);
    spawned_.prev = spawned_.next = &spawned_;
    owner_ = this;
}

event_loop::~event_loop() {
    {
        current_scope scope(this);
        teardown();
    }
    owner_ = nullptr;
}

event_loop* event_loop::current() noexcept { return current_; }

event_loop& current_loop() {
    if (current_ == nullptr) throw std::logic_error("coronet: no event loop runs on this thread");
    return *current_;
}

backend_kind event_loop::backend() const noexcept { return backend_->kind(); }
std::string event_loop::backend_features() const { return backend_->features(); }

void event_loop::link_spawned(spawned_node& n) noexcept {
    n.prev = spawned_.prev;
    n.next = &spawned_;
    spawned_.prev->next = &n;
    spawned_.prev = &n;
    ++spawned_count_;
}

void event_loop::unlink_spawned(spawned_node& n) noexcept {
    n.prev->next = n.next;
    n.next->prev = n.prev;
    n.prev = n.next = nullptr;
    --spawned_count_;
}

void event_loop::spawn(task<> t) {
    current_scope scope(this);
    schedule(run_detached(std::move(t)).handle);
}

void spawn(task<> t) { current_loop().spawn(std::move(t)); }

void event_loop::drive(std::coroutine_handle<> root) {
    if (owner_ != this) throw std::logic_error("coronet: a loop runs only on its own thread");
    current_scope scope(this);
    schedule(root);
    try {
        while (!root.done()) turn(root);
    } catch (...) {
        // A backend failure: never leave operations in flight behind frames
        // that are about to be destroyed.
        backend_->drain();
        throw;
    }
}

void event_loop::turn(std::coroutine_handle<> root) {
    // The one place where the loop resumes coroutines.
    inline_budget_ = inline_budget_per_turn;
    for (std::coroutine_handle<> h : ready_.take_batch()) h.resume();
    if (root.done()) return;

    const auto now = detail::clock::now();
    while (detail::timer_node* t = timers_.pop_expired(now)) schedule(t->waiter);

    std::optional<std::chrono::nanoseconds> timeout;
    if (!ready_.empty()) {
        timeout = std::chrono::nanoseconds::zero();
    } else if (!timers_.empty()) {
        timeout = std::max(timers_.next_deadline() - now, detail::clock::duration::zero());
    }
    backend_->poll(timeout);
}

void event_loop::teardown() noexcept {
    // 1. The kernel lets go of every buffer and frame it was given.
    backend_->drain();
    // 2. Nothing sleeps any more.
    timers_.clear();
    // 3. Unfinished detached tasks are destroyed (their sockets close).
    while (spawned_.next != &spawned_) {
        spawned_.next->frame.destroy(); // unlinks itself
    }
    ready_.clear();
    backend_->drain(); // closes made by destroyed frames may have queued more
    ready_.clear();
}

namespace detail {

bool start_operation(operation& op, std::coroutine_handle<> h) {
    event_loop& loop = current_loop();
    op.waiter = h;
    if (!loop.io().submit(op)) return true;
    if (loop.take_inline_budget()) return false;
    loop.schedule(h);
    return true;
}

} // namespace detail
} // namespace coronet
