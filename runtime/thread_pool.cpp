#include "coronet/runtime/thread_pool.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

#include <csignal>
#include <pthread.h>

namespace coronet {
namespace {

using status = detail::pool_job::status;

// Blocks every asynchronous signal in the calling thread while it lives, so
// that a thread started meanwhile inherits that mask: signals stay with the
// loop's thread (signalfd) and never interrupt a worker.
class signals_blocked {
public:
    signals_blocked() noexcept {
        sigset_t all;
        ::sigfillset(&all);
        for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
            ::sigdelset(&all, s); // synchronous: must stay deliverable
        ::pthread_sigmask(SIG_BLOCK, &all, &saved_);
    }
    ~signals_blocked() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t saved_;
};

} // namespace

thread_pool::thread_pool(event_loop& loop, unsigned max_threads)
    : loop_(loop), max_threads_(max_threads == 0 ? 1 : max_threads) {}

thread_pool::~thread_pool() {
    detail::pool_job* dropped = nullptr;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        dropped = std::exchange(head_, nullptr);
        tail_ = nullptr;
        queued_ = 0;
        for (detail::pool_job* j = dropped; j != nullptr; j = j->next)
            j->st = status::removed;
    }
    wake_.notify_all();
    for (auto& t : threads_)
        t.join();
    while (dropped != nullptr) { // never run; normally none are left by now
        detail::pool_job* next = dropped->next;
        dropped->queued_self.reset();
        dropped = next;
    }
}

std::size_t thread_pool::threads() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
}

std::error_code thread_pool::submit(std::shared_ptr<detail::pool_job> job) {
    {
        std::lock_guard lock(mutex_);
        if (busy_ + queued_ >= threads_.size() && threads_.size() < max_threads_) {
            try {
                signals_blocked mask;
                threads_.emplace_back([this] { work(); });
            } catch (...) {
                // Out of threads or memory: the workers there are will do.
                if (threads_.empty())
                    return std::make_error_code(std::errc::resource_unavailable_try_again);
            }
        }
        detail::pool_job& j = *job;
        j.st = status::queued;
        j.queued_self = std::move(job);
        j.next = nullptr;
        j.prev = tail_;
        (tail_ ? tail_->next : head_) = &j;
        tail_ = &j;
        ++queued_;
    }
    ++submitted_;
    wake_.notify_one();
    return {};
}

detail::pool_job::status thread_pool::remove(detail::pool_job& job) noexcept {
    std::shared_ptr<detail::pool_job> ref; // released after the lock
    std::lock_guard lock(mutex_);
    if (job.st != status::queued) return job.st;
    (job.prev ? job.prev->next : head_) = job.next;
    (job.next ? job.next->prev : tail_) = job.prev;
    job.prev = job.next = nullptr;
    --queued_;
    job.st = status::removed;
    ref = std::move(job.queued_self);
    return status::removed;
}

void thread_pool::work() noexcept {
    event_loop* loop = &loop_;
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || head_ != nullptr; });
        if (stopping_) return;
        detail::pool_job* job = head_;
        head_ = job->next;
        (head_ ? head_->prev : tail_) = nullptr;
        job->next = nullptr;
        --queued_;
        ++busy_;
        job->st = status::running;
        std::shared_ptr<detail::pool_job> ref = std::move(job->queued_self);
        lock.unlock();

        job->invoke();

        lock.lock();
        job->st = status::finished;
        --busy_;
        lock.unlock();
        job->done.store(true, std::memory_order_release);
        job->done.notify_all();
        // The loop resumes the awaiter, if it still waits. The loop outlives
        // this thread (it joins the pool at teardown). A failure to post (out
        // of memory) would lose a wake-up: terminate rather than hang.
        loop->post([job = std::move(ref)] {
            if (std::coroutine_handle<> h = std::exchange(job->waiter, {})) detail::schedule(h);
        });
        lock.lock();
    }
}

namespace detail {

blocking_base::~blocking_base() {
    link_.detach();
    if (!job_) return;
    if (suspended_) --pool_->waiting_;
    if (!job_->waiter) return; // completed or cancelled: nothing refers to this frame
    job_->waiter = {};         // its completion resumes nobody now
    if (pool_->remove(*job_) == pool_job::status::running && policy_ == cancel_policy::wait)
        job_->done.wait(false); // the function may use this frame: join it
}

bool blocking_base::start(std::shared_ptr<pool_job> job, std::coroutine_handle<> h,
                          cancel_scope* scope) {
    pool_ = &current_loop().blocking_pool();
    job->waiter = h;
    if (std::error_code ec = pool_->submit(job)) {
        error_ = ec;
        return false;
    }
    job_ = std::move(job);
    suspended_ = true;
    ++pool_->waiting_;
    if (scope != nullptr) {
        scope_access::attach(*scope, link_, this, &blocking_base::on_cancel);
    }
    return true;
}

void blocking_base::finish() noexcept {
    link_.detach();
    if (suspended_) {
        suspended_ = false;
        --pool_->waiting_;
    }
}

void blocking_base::on_cancel(void* p) noexcept {
    auto* self = static_cast<blocking_base*>(p);
    pool_job& job = *self->job_;
    if (!job.waiter) return; // already completed: it keeps its value
    pool_job::status st = self->pool_->remove(job);
    bool abandon = st == pool_job::status::running && self->policy_ == cancel_policy::abandon;
    if (st != pool_job::status::removed && !abandon) return; // its real outcome follows
    self->error_ = std::make_error_code(std::errc::operation_canceled);
    detail::schedule(std::exchange(job.waiter, {}));
}

} // namespace detail
} // namespace coronet
