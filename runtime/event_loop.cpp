#include "coronet/runtime/event_loop.hpp"

#include "coronet/runtime/detail/frame_pool.hpp"
#include "coronet/runtime/detail/loop_access.hpp"
#include "coronet/runtime/thread_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <stdexcept>

namespace coronet {

constinit thread_local event_loop* detail::running_loop [[gnu::tls_model("initial-exec")]] =
    nullptr;

namespace {

using detail::running_loop;
thread_local event_loop* owner_ = nullptr; // the loop that exists on this thread
constexpr unsigned inline_budget_per_turn = 256;
constexpr int teardown_turn_limit = 100'000;

// Sets the thread's current loop for a scope; restores the previous one.
class current_scope {
public:
    explicit current_scope(event_loop* l) : saved_(running_loop) { running_loop = l; }
    ~current_scope() { running_loop = saved_; }
    current_scope(const current_scope&) = delete;
    current_scope& operator=(const current_scope&) = delete;

private:
    event_loop* saved_;
};

void report_escaped(std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        std::fprintf(stderr, "coronet: exception escaped a spawned task: %s\n", x.what());
    } catch (...) {
        std::fprintf(stderr, "coronet: exception escaped a spawned task: non-standard exception\n");
    }
}

// A detached coroutine: starts when the loop first resumes it, destroys
// itself when it finishes, and is linked in the loop's list meanwhile so
// that teardown can find it. It runs in its own scope, nested in `parent`.
// Its frame comes from the thread's frame pool, like a task's.
struct detached {
    struct promise_type {
        static void* operator new(std::size_t n) { return detail::frame_pool::allocate(n); }
        static void operator delete(void* p, std::size_t n) noexcept {
            detail::frame_pool::deallocate(p, n);
        }

        detail::loop_access::spawned_node node;
        event_loop* loop = running_loop;
        cancel_scope own;
        cancel_scope* scope = &own;
        detail::child_observer* observer = nullptr;

        promise_type(task<>&, cancel_scope& parent, detail::child_observer* obs) : observer(obs) {
            node.frame = std::coroutine_handle<promise_type>::from_promise(*this);
            detail::loop_access::link_spawned(*loop, node);
            detail::scope_access::enter(own, &parent);
        }
        ~promise_type() { detail::loop_access::unlink_spawned(*loop, node); }
        detached get_return_object() noexcept {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); } // run_detached catches all
    };
    std::coroutine_handle<promise_type> handle;
};

detached run_detached(task<> t, cancel_scope&, detail::child_observer* observer) {
    std::exception_ptr error;
    try {
        co_await std::move(t);
    } catch (...) {
        error = std::current_exception();
    }
    if (observer != nullptr)
        observer->child_done(error);
    else if (error)
        report_escaped(error);
}

} // namespace

event_loop::event_loop(loop_options options)
    : event_loop(options, std::make_shared<detail::loop_shared>()) {}

event_loop::event_loop(loop_options options, std::shared_ptr<detail::loop_shared> shared)
    : shared_(std::move(shared)) {
    if (owner_ != nullptr) throw std::logic_error("coronet: this thread already has a loop");
    backend_kind kind = options.backend ? *options.backend : configured_backend_kind();
    if (options.pool_buffer_size < 64 || options.pool_buffer_size > (1u << 20))
        throw std::invalid_argument("coronet: loop_options::pool_buffer_size must be 64 .. 1 MiB");
    if (options.pool_buffers < 1 || options.pool_buffers > 32768)
        throw std::invalid_argument("coronet: loop_options::pool_buffers must be 1 .. 32768");
    fast_paths_ = options.fast_paths ? *options.fast_paths : configured_fast_paths();
    detail::backend_config config;
    config.fast_paths = fast_paths_;
    config.pool_buffer_size = options.pool_buffer_size;
    config.pool_buffers = options.pool_buffers;
    config.zero_copy_min = options.zero_copy_min;
    config.zero_copy_local = options.zero_copy_local;
    backend_ = detail::make_backend(kind, ready_, config, shared_->wake);
    shared_->join_group_ring(backend_->msg_ring_fd());
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

event_loop& current_loop() {
    return detail::running_loop_or_throw();
}

backend_kind event_loop::backend() const noexcept {
    return backend_->kind();
}
std::string event_loop::backend_features() const {
    return backend_->features();
}

loop_stats event_loop::stats() const noexcept {
    const detail::backend_stats& b = backend_->stats();
    loop_stats s;
    s.turns = turns_;
    s.operations_submitted = b.submitted;
    s.completions = b.completed;
    s.kernel_waits = b.kernel_waits;
    s.zero_copy_sends = b.zero_copy_sends;
    s.in_flight = backend_->in_flight();
    if (const detail::buffer_pool* p = backend_->pool_if_any()) {
        s.pool_buffers_in_use = p->in_use();
        s.pool_buffers_peak = p->peak();
        s.pool_buffers = p->capacity();
        s.pool_buffer_size = p->buffer_size();
    }
    return s;
}

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

void event_loop::spawn_child(task<> t, cancel_scope& parent, detail::child_observer* observer) {
    current_scope scope(this);
    ready_.push(run_detached(std::move(t), parent, observer).handle);
}

void event_loop::spawn(task<> t) {
    spawn_child(std::move(t), root_scope_, nullptr);
}

void spawn(task<> t) {
    current_loop().spawn(std::move(t));
}

thread_pool& event_loop::blocking_pool() {
    if (!pool_) pool_ = std::make_unique<thread_pool>(*this);
    return *pool_;
}

void event_loop::post(std::function<void()> fn) {
    detail::post_to(*shared_, std::move(fn));
}

void event_loop::run_mail() noexcept {
    if (!shared_->box.maybe_pending()) return; // the common case: a plain load
    detail::dispatch(shared_->box.take_all(), true);
}

void event_loop::drive(std::coroutine_handle<> root) {
    if (owner_ != this) throw std::logic_error("coronet: a loop runs only on its own thread");
    current_scope scope(this);
    ready_.push(root);
    try {
        while (!root.done())
            turn(root, true);
    } catch (...) {
        // A backend failure: never leave operations in flight behind frames
        // that are about to be destroyed.
        backend_->drain();
        throw;
    }
}

bool event_loop::turn(std::coroutine_handle<> root, bool may_block) {
    ++turns_;
    run_mail();
    // The one place where the loop resumes coroutines.
    inline_budget_ = inline_budget_per_turn;
    bool ran = !ready_.empty();
    for (std::coroutine_handle<> h : ready_.take_batch())
        h.resume();
    if (root && root.done()) return true;

    const auto now = timers_.empty() ? detail::clock::time_point{} : detail::clock::now();
    bool fired = false;
    while (detail::timer_node* t = timers_.empty() ? nullptr : timers_.pop_expired(now)) {
        fired = true;
        if (t->fire != nullptr)
            t->fire(t->context);
        else
            ready_.push(t->waiter);
    }

    std::optional<std::chrono::nanoseconds> timeout;
    if (!ready_.empty()) {
        timeout = std::chrono::nanoseconds::zero();
    } else if (!timers_.empty()) {
        timeout = std::max(timers_.next_deadline() - now, detail::clock::duration::zero());
    }
    // Completions to come from outside: run_blocking jobs, run_on replies.
    bool pool_waits = (pool_ && pool_->waiting() > 0) || remote_waits_ > 0;
    if (!may_block) { // teardown: never wait long for what may not come
        if (!ran && !fired && ready_.empty() && backend_->in_flight() == 0 && !pool_waits)
            return false;
        timeout = std::min(timeout.value_or(std::chrono::milliseconds(100)),
                           std::chrono::nanoseconds(std::chrono::milliseconds(100)));
    }
    std::size_t completed = backend_->poll(timeout);
    return ran || fired || completed > 0 || !ready_.empty() || pool_waits;
}

void event_loop::teardown() noexcept {
    backend_->flush(); // what the last turn queued (a MSG_RING to another loop) goes out
    // 1. Cancel what still runs and let it finish: its waits complete with
    //    operation_canceled and the tasks unwind normally.
    root_scope_.cancel();
    try {
        for (int i = 0; i < teardown_turn_limit && spawned_count_ > 0; ++i)
            if (!turn({}, false)) break; // the rest wait on nothing cancellable
    } catch (...) {
        // A backend failure while joining: fall through to the hard path.
    }
    // 2. Hard path for tasks that did not finish: the kernel lets go of every
    //    buffer, timers are disarmed, then the frames are destroyed.
    backend_->drain();
    timers_.clear();
    while (spawned_.next != &spawned_)
        spawned_.next->frame.destroy(); // unlinks itself
    ready_.clear();
    backend_->drain(); // closes made by destroyed frames may have queued more
    ready_.clear();
    pool_.reset(); // joins the workers: nothing is posted after this
    // 3. Close the mailbox: later messages fail at their sender; pending ones
    //    are discarded, not run (a posted function is destroyed, a task never
    //    started is destroyed, a run_on request is answered with loop_closed),
    //    while the backend is still there for the sockets they close.
    detail::dispatch(shared_->box.close(), false);
    backend_->flush(); // replies those discards sent by MSG_RING
}

} // namespace coronet
