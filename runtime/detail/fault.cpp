// Test-only fault injection (fault.hpp): the installed plan, the counters,
// and the decisions a backend's injector makes.
#include "coronet/runtime/detail/fault.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <sys/socket.h>

namespace coronet::detail {
namespace {

fault_plan installed_plan;
std::atomic<bool> plan_active{false};
std::atomic<std::uint64_t> streams{0};
std::array<std::atomic<std::uint64_t>, fault_kinds> injected{};

constexpr const char* names[fault_kinds] = {
    "nomem",      "again",       "short_io",    "reset",       "accept_mfile", "accept_nfile",
    "no_buffers", "cancel_race", "enter_eintr", "enter_ebusy", "sq_full",
};

// Resets the connection for real: TCP sends an RST (connect with AF_UNSPEC
// disconnects); other sockets are shut down both ways.
void reset_connection(int fd) noexcept {
    sockaddr sa{};
    sa.sa_family = AF_UNSPEC;
    if (::connect(fd, &sa, sizeof sa) != 0) ::shutdown(fd, SHUT_RDWR);
}

} // namespace

const char* to_string(fault f) noexcept {
    auto i = static_cast<std::size_t>(f);
    return i < fault_kinds ? names[i] : "?";
}

void install_fault_plan(const fault_plan& plan) noexcept {
    plan_active.store(false);
    installed_plan = plan;
    streams.store(0);
    for (auto& n : injected)
        n.store(0);
    plan_active.store(true, std::memory_order_release);
}

void remove_fault_plan() noexcept {
    plan_active.store(false);
}

std::uint64_t faults_injected(fault f) noexcept {
    return injected[static_cast<std::size_t>(f)].load(std::memory_order_relaxed);
}

fault_injector* make_fault_injector() {
    if (!plan_active.load(std::memory_order_acquire)) return nullptr;
    return new fault_injector(installed_plan, streams.fetch_add(1));
}

fault_injector::fault_injector(const fault_plan& plan, std::uint64_t stream) noexcept
    : state_(plan.seed * 0x2545f4914f6cdd1dull + stream * 0x9e3779b97f4a7c15ull) {
    for (std::size_t i = 0; i < fault_kinds; ++i) {
        double p = std::clamp(plan.probability[i], 0.0, 1.0);
        threshold_[i] = p >= 1.0 ? UINT32_MAX : static_cast<std::uint32_t>(p * 4294967296.0);
    }
}

void fault_injector::count(fault f) noexcept {
    injected[static_cast<std::size_t>(f)].fetch_add(1, std::memory_order_relaxed);
}

std::size_t fault_injector::shorten(std::size_t n) noexcept {
    if (n <= 1 || !fire(fault::short_io)) return n;
    std::uint64_t r = next();
    std::size_t limit = (r & 1) != 0 ? std::min<std::size_t>(n, 16) : n; // small ones too
    return 1 + static_cast<std::size_t>((r >> 1) % limit);
}

int fault_injector::stream_failure(int fd, bool again_too) noexcept {
    if (again_too && fire(fault::again)) return -EAGAIN;
    if (fire(fault::nomem)) return -ENOMEM;
    if (fire(fault::reset)) {
        reset_connection(fd);
        return -ECONNRESET;
    }
    return 0;
}

int fault_injector::accept_failure(bool again_too) noexcept {
    if (again_too && fire(fault::again)) return -EAGAIN;
    if (fire(fault::accept_mfile)) return -EMFILE;
    if (fire(fault::accept_nfile)) return -ENFILE;
    if (fire(fault::nomem)) return -ENOMEM;
    return 0;
}

int fault_injector::enter_failure(bool busy_too) noexcept {
    if (fire(fault::enter_eintr)) return -EINTR;
    if (busy_too && fire(fault::enter_ebusy)) return -EBUSY;
    return 0;
}

void fault_injector::expect(std::uint64_t user_data, int res) {
    expected_.emplace_back(user_data, res);
}

void fault_injector::take_result(std::uint64_t user_data, int& res) noexcept {
    for (std::size_t i = 0; i < expected_.size(); ++i) {
        if (expected_[i].first == user_data) {
            if (res == 0) res = expected_[i].second; // else the NOP was cancelled: keep that
            expected_[i] = expected_.back();
            expected_.pop_back();
            return;
        }
    }
}

} // namespace coronet::detail
