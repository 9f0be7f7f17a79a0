#pragma once
/// \file
/// run_blocking (alias to_thread): run a blocking function on a worker thread
/// and await its value without stalling the loop, like asyncio.to_thread.
///
///     auto text = co_await coronet::run_blocking([&] { return read_whole_file(path); });
///     if (text) use(*text);           // result<std::string>
///
/// co_await yields result<T> for a function returning T (result<void> for
/// void; a function that returns `result<U>` yields that `result<U>` as it is).
/// An exception thrown by the function is rethrown by the co_await. Errors:
/// operation_canceled (see below), resource_unavailable_try_again when no
/// worker thread can be started.
///
/// Where it runs: each loop owns a thread_pool (event_loop::blocking_pool()),
/// created on first use; up to 4 workers start on demand, idle ones wait for
/// work, and all are joined when the loop is torn down. Workers block every
/// asynchronous signal (a signal_set keeps working). The function must not use
/// the loop (no coronet I/O, no spawn) and is destroyed on the worker after it
/// returns. Completion is posted back to the loop (event_loop::post).
///
/// Cancellation (the awaiting coroutine's cancel_scope, a timeout, teardown):
/// - a job still queued is removed: it never runs; operation_canceled.
/// - a job a worker already runs cannot be interrupted. With
///   cancel_policy::wait (the default) this is request + join like every
///   coronet wait: the awaiter keeps waiting and gets the function's real value
///   (or exception), so the function may safely use references into the
///   awaiting frame. With cancel_policy::abandon the awaiter gets
///   operation_canceled at once and the value is discarded when the function
///   returns: the function must then own everything it uses (capture by value).
///
/// A frame destroyed while its job runs (loop teardown) waits for the job
/// under cancel_policy::wait and simply lets go of it under abandon; the job
/// state is shared, so nothing ever points into a destroyed frame. Teardown
/// turns the loop until such waits finish, then joins the workers: a job that
/// never returns blocks the teardown, as joining its thread would.
///
/// Costs one allocation per call (the job state shared with the worker).
///
/// g++ 12 caveat: a lambda with captures of class type (std::string,
/// shared_ptr, ...) written inside a co_await expression is miscompiled (a
/// capture is destroyed twice: double frees, leaks). Name it first:
///
///     auto fn = [path] { return read_whole_file(path); };
///     auto text = co_await coronet::run_blocking(std::move(fn));

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/result.hpp"

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace coronet {

class event_loop;

/// What cancelling a run_blocking does to a job that a worker already runs.
enum class cancel_policy {
    wait,    ///< request + join: wait for the function and return its real value
    abandon, ///< operation_canceled at once; the function's value is discarded later
};

namespace detail {

/// A job's state, shared by its awaitable (loop thread) and a worker.
struct pool_job {
    enum class status : unsigned char { queued, running, finished, removed };
    virtual ~pool_job() = default;
    /// On a worker: runs the function, keeps its outcome, destroys it. Never throws.
    virtual void invoke() noexcept = 0;

    pool_job* prev = nullptr; // the pool's queue (under the pool's mutex)
    pool_job* next = nullptr;
    std::shared_ptr<pool_job> queued_self; // the queue's reference
    status st = status::queued;            // under the pool's mutex
    std::atomic<bool> done{false};         // invoke() returned (for joins)
    std::coroutine_handle<> waiter;        // loop thread only; null once nobody waits
};

class blocking_base;

} // namespace detail

/// A small pool of worker threads whose completions go back to one loop.
/// Owned by the loop (event_loop::blocking_pool()); see run_blocking.
class thread_pool {
public:
    /// How many workers a loop's pool starts at most.
    static constexpr unsigned default_max_threads = 4;

    /// No thread starts before the first submit().
    explicit thread_pool(event_loop& loop, unsigned max_threads = default_max_threads);
    /// Stops the workers after their current job and joins them (this waits
    /// for running jobs); jobs still queued never run.
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    /// Queues `job` (loop thread) and starts a worker if every started one
    /// is busy and fewer than max_threads() exist. When it finishes, a worker
    /// posts its completion to the loop, which resumes `job->waiter` (if
    /// set). Error: resource_unavailable_try_again when no worker exists and
    /// none could be started (the job is then not queued).
    std::error_code submit(std::shared_ptr<detail::pool_job> job);
    /// Removes `job` if it is still queued (it will never run). Returns its
    /// status: `removed`, or `running`/`finished` when it was too late.
    detail::pool_job::status remove(detail::pool_job& job) noexcept;

    /// The most workers this pool starts.
    unsigned max_threads() const noexcept { return max_threads_; }
    /// Worker threads started so far.
    std::size_t threads() const;
    /// Jobs submitted so far (loop thread).
    std::uint64_t submitted() const noexcept { return submitted_; }
    /// Coroutines suspended on a job of this pool (loop thread): teardown
    /// turns the loop while there are any.
    std::size_t waiting() const noexcept { return waiting_; }

private:
    friend class detail::blocking_base; // counts waiting()
    void work() noexcept;
    event_loop& loop_;
    unsigned max_threads_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    detail::pool_job* head_ = nullptr; // FIFO queue
    detail::pool_job* tail_ = nullptr;
    std::size_t queued_ = 0;
    std::size_t busy_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
    std::uint64_t submitted_ = 0;
    std::size_t waiting_ = 0;
};

namespace detail {

template <class R>
struct blocking_result {
    using type = result<R>;
};
template <class U>
struct blocking_result<result<U>> {
    using type = result<U>;
};

template <class F>
struct blocking_job final : pool_job {
    using value_type = std::invoke_result_t<F&&>;
    using stored = std::conditional_t<std::is_void_v<value_type>, bool, value_type>;
    explicit blocking_job(F&& f) : fn(std::move(f)) {}
    void invoke() noexcept override {
        try {
            if constexpr (std::is_void_v<value_type>) {
                std::invoke(std::move(*fn));
                value.emplace(true);
            } else {
                value.emplace(std::invoke(std::move(*fn)));
            }
        } catch (...) {
            error = std::current_exception();
        }
        fn.reset();
    }
    std::optional<F> fn;
    std::optional<stored> value;
    std::exception_ptr error;
};

/// The type-independent half of blocking_awaitable (runtime/thread_pool.cpp).
class blocking_base {
protected:
    explicit blocking_base(cancel_policy policy) noexcept : policy_(policy) {}
    ~blocking_base();
    blocking_base(blocking_base&& o) noexcept : policy_(o.policy_) {}
    blocking_base& operator=(blocking_base&&) = delete;

    /// Submits `job` for `h`; false (do not suspend) if it failed (error_ set).
    bool start(std::shared_ptr<pool_job> job, std::coroutine_handle<> h, cancel_scope* scope);
    /// Leaves the scope once resumed.
    void finish() noexcept;
    static void on_cancel(void* self) noexcept;

    std::shared_ptr<pool_job> job_;
    std::error_code error_;

private:
    thread_pool* pool_ = nullptr;
    wait_link link_;
    cancel_policy policy_;
    bool suspended_ = false;
};

} // namespace detail

/// The awaitable returned by run_blocking. Movable only before it is awaited.
template <class F>
class [[nodiscard]] blocking_awaitable : detail::blocking_base {
    using job_type = detail::blocking_job<F>;
    using value_type = typename job_type::value_type;

public:
    /// What co_await yields: `result<T>` for an `F` returning T, `result<U>`
    /// as it is for one returning `result<U>`.
    using result_type = typename detail::blocking_result<value_type>::type;

    /// A job that runs `fn` under `policy` (made by run_blocking).
    blocking_awaitable(F fn, cancel_policy policy)
        : blocking_base(policy), fn_(std::in_place, std::move(fn)) {}
    /// Only before it is awaited.
    blocking_awaitable(blocking_awaitable&& o)
        : blocking_base(std::move(o)), fn_(std::move(o.fn_)) {}

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_scope* scope = detail::scope_of(h);
        if (scope != nullptr && scope->cancelled()) {
            error_ = std::make_error_code(std::errc::operation_canceled);
            return false;
        }
        return start(std::make_shared<job_type>(std::move(*fn_)), h, scope);
    }
    result_type await_resume() {
        finish();
        if (error_) return error_;
        auto& job = static_cast<job_type&>(*job_);
        if (job.error) std::rethrow_exception(job.error);
        if constexpr (std::is_void_v<value_type>)
            return {};
        else
            return std::move(*job.value);
    }

private:
    std::optional<F> fn_;
};

/// co_await → result<T>: runs `fn()` on the loop's worker pool and returns
/// its value; its exception is rethrown. Errors: operation_canceled,
/// resource_unavailable_try_again (no worker could be started).
/// Cancellation: a queued job never runs; a running one is waited for
/// (cancel_policy::wait) or abandoned (cancel_policy::abandon); see the file
/// comment.
template <class F>
blocking_awaitable<std::decay_t<F>> run_blocking(F&& fn,
                                                 cancel_policy policy = cancel_policy::wait) {
    return blocking_awaitable<std::decay_t<F>>(std::forward<F>(fn), policy);
}

/// The same as run_blocking (the name Python's asyncio uses).
template <class F>
blocking_awaitable<std::decay_t<F>> to_thread(F&& fn, cancel_policy policy = cancel_policy::wait) {
    return run_blocking(std::forward<F>(fn), policy);
}

} // namespace coronet
