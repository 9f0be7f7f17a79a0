#include "coronet/runtime/loop_group.hpp"

#include "coronet/runtime/detail/loop_access.hpp"
#include "coronet/runtime/signal_set.hpp"
#include "coronet/runtime/task_group.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace coronet {
namespace detail {

// A loop's own part of the group, in its main task's frame (its thread only).
struct group_local {
    event level1;      // set once the stop level reaches 1
    event level2;      // ... 2
    event others_done; // loop 0: every other loop has finished
    cancel_scope hard; // the main task runs in it: cancelled at level 3 or on failure
};

struct loop_group_state {
    loop_group_state(std::size_t n, const loop_group_options& o) : options(o), locals(n) {
        results.stats.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            auto s = std::make_shared<loop_shared>();
            s->group = this;
            shared.push_back(s);
            handles.push_back(handle_access::make(std::move(s)));
        }
        running = n;
    }

    // Any thread: raise the stop level, or cancel every loop's main task.
    void raise_stop() noexcept {
        level.fetch_add(1, std::memory_order_acq_rel);
        reach_every_loop();
    }
    void cancel_all() noexcept {
        failed.store(true, std::memory_order_release);
        reach_every_loop();
    }
    void reach_every_loop() noexcept {
        for (std::size_t i = 0; i < handles.size(); ++i) {
            try {
                (void)handles[i].post([this, i] { apply(i); }); // a stopped loop needs nothing
            } catch (...) {                                     // no memory to tell loop i
            }
        }
    }
    // On loop i: bring its events and scope up to the group's state.
    void apply(std::size_t i) noexcept {
        group_local* local = locals[i];
        if (local == nullptr) return; // not started (it reads the state when it does) or over
        int l = level.load(std::memory_order_acquire);
        if (l >= 1) local->level1.set();
        if (l >= 2) local->level2.set();
        if (l >= 3 || failed.load(std::memory_order_acquire)) local->hard.cancel();
        if (i == 0 && running.load(std::memory_order_acquire) == 1) local->others_done.set();
    }

    // Loop 0 reads the stop signals (blocked in every thread, see
    // stop_signal_watch) from their signalfd, through its backend.
    task<> watch_signals() {
        for (;;) {
            auto sig = co_await signal_set::wait_awaitable(signal_fd);
            if (!sig) co_return; // cancelled: the group is over
            raise_stop();
        }
    }

    task<int> main_task(std::size_t i) {
        group_local local;
        locals[i] = &local;
        apply(i); // the group may have moved before this loop started
        group_context ctx(*this, i, local, handles);
        task_group helpers;
        if (i == 0 && signal_fd >= 0) helpers.spawn(watch_signals());
        int code = 0;
        std::exception_ptr error;
        try {
            code = co_await local.hard.run((*factory)(ctx));
        } catch (...) {
            error = std::current_exception();
        }
        report(i, code, error, nullptr);
        // Loop 0 stays until the others have finished: it watches the signals.
        if (i == 0) (void)co_await local.others_done.wait();
        helpers.cancel();
        co_await helpers.join();
        locals[i] = nullptr;
        loop_stats stats = current_loop().stats(); // its own work: the helpers are gone
        std::lock_guard lock(mutex);
        results.stats[i] = stats;
        co_return code;
    }

    // Runs loop i on this thread (loop 0: the caller's) until it finishes.
    void run_loop(std::size_t i, int cpu) noexcept {
        try {
            if (cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                pthread_setaffinity_np(pthread_self(), sizeof set, &set);
            }
            std::unique_ptr<event_loop> loop(new event_loop(options.loop, shared[i]));
            loop->run_until_complete(main_task(i));
        } catch (...) { // the loop could not start (or its teardown failed)
            report(i, 0, std::current_exception(), nullptr);
        }
        // A loop that never ran never closed its mailbox: close it now, so
        // senders fail instead of waiting for it.
        dispatch(shared[i]->box.close(), false);
        if (i == 0) return;
        running.fetch_sub(1, std::memory_order_acq_rel);
        try { // tell loop 0, which may wait for the last of us
            (void)handles[0].post([this] { apply(0); });
        } catch (...) {
        }
    }

    void report(std::size_t i, int code, std::exception_ptr error, const loop_stats* stats) {
        bool stop_others = false;
        {
            std::lock_guard lock(mutex);
            if (stats != nullptr) results.stats[i] = *stats;
            if (error && !first_error) {
                first_error = error;
                stop_others = true;
            } else if (error) {
                print_later_error(i, error);
            } else if (code != 0 && results.exit_code == 0) {
                results.exit_code = code;
                stop_others = true;
            }
        }
        if (stop_others) cancel_all();
    }

    static void print_later_error(std::size_t i, std::exception_ptr e) noexcept {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::fprintf(stderr, "coronet: run_loops: loop %zu failed too: %s\n", i, x.what());
        } catch (...) {
            std::fprintf(stderr, "coronet: run_loops: loop %zu failed too\n", i);
        }
    }

    loop_group_options options;
    const group_factory* factory = nullptr;
    std::vector<std::shared_ptr<loop_shared>> shared;
    std::vector<loop_handle> handles;
    std::vector<group_local*> locals; // entry i: loop i's thread only
    std::atomic<int> level{0};
    std::atomic<bool> failed{false};
    std::atomic<std::size_t> running{0}; // loops not finished (loop 0 counts until the end)
    int signal_fd = -1;                  // the stop signals' signalfd, or -1
    std::mutex mutex;                    // guards the outcome below
    std::exception_ptr first_error;
    group_result results;
};

namespace {

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
    if (cpus.empty()) cpus.push_back(0);
    return cpus;
}

// Restores the calling thread's CPU mask after loop 0 ran pinned on it.
class affinity_guard {
public:
    explicit affinity_guard(bool active) : active_(active) {
        if (active_) active_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    }
    ~affinity_guard() {
        if (active_) sched_setaffinity(0, sizeof saved_, &saved_);
    }
    affinity_guard(const affinity_guard&) = delete;
    affinity_guard& operator=(const affinity_guard&) = delete;

private:
    bool active_;
    cpu_set_t saved_{};
};

// Blocks the stop signals in this thread (the loop threads inherit the mask)
// and routes them to a signalfd that loop 0 reads; restores the mask when done.
class stop_signal_watch {
public:
    explicit stop_signal_watch(const std::vector<int>& signals) {
        if (signals.empty()) return;
        sigset_t set;
        sigemptyset(&set);
        for (int s : signals)
            sigaddset(&set, s);
        pthread_sigmask(SIG_BLOCK, &set, &previous_);
        fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd_ < 0) {
            int err = errno;
            pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
            throw std::system_error(err, std::generic_category(), "signalfd");
        }
    }
    ~stop_signal_watch() {
        if (fd_ < 0) return;
        ::close(fd_);
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    stop_signal_watch(const stop_signal_watch&) = delete;
    stop_signal_watch& operator=(const stop_signal_watch&) = delete;
    int fd() const noexcept { return fd_; }

private:
    int fd_ = -1;
    sigset_t previous_{};
};

} // namespace

// Loop 0 runs on the calling thread (so one loop runs as coronet::run
// would), loops 1 .. N-1 on threads of their own.
group_result run_group(group_factory factory, const loop_group_options& options) {
    std::size_t n = options.threads ? *options.threads : configured_threads();
    if (n == 0) n = available_cpus();
    const std::vector<int> cpus = allowed_cpus();
    loop_group_state g(n, options);
    g.factory = &factory;
    stop_signal_watch signals(options.stop_signals);
    g.signal_fd = signals.fd();
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    try {
        for (std::size_t i = 1; i < n; ++i) {
            int cpu = options.pin_threads ? cpus[i % cpus.size()] : -1;
            threads.emplace_back([&g, i, cpu] { g.run_loop(i, cpu); });
        }
    } catch (...) { // a thread could not start: stop those that did
        std::exception_ptr e = std::current_exception();
        for (std::size_t i = threads.size() + 1; i < n; ++i)
            dispatch(g.shared[i]->box.close(), false);
        g.cancel_all();
        for (auto& t : threads)
            t.join();
        std::rethrow_exception(e);
    }
    {
        affinity_guard keep(options.pin_threads); // the caller's mask comes back afterwards
        g.run_loop(0, options.pin_threads ? cpus[0] : -1);
    }
    for (auto& t : threads)
        t.join();
    if (g.first_error) std::rethrow_exception(g.first_error);
    return std::move(g.results);
}

} // namespace detail

int group_context::stop_level() const noexcept {
    return group_.level.load(std::memory_order_acquire);
}

task<> group_context::stopped(int level) const {
    (void)co_await (level >= 2 ? local_.level2 : local_.level1).wait();
}

void group_context::request_stop() const noexcept {
    group_.raise_stop();
}

unsigned available_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

unsigned configured_threads() {
    const char* env = std::getenv("CORONET_THREADS");
    if (env == nullptr || *env == '\0') return available_cpus();
    std::string_view text = env;
    unsigned n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || n < 1 || n > 1024)
        throw std::invalid_argument("coronet: CORONET_THREADS='" + std::string(text) +
                                    "' is not a number from 1 to 1024");
    return n;
}

} // namespace coronet
