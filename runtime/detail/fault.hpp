#pragma once
// Test-only fault injection for the backends (DESIGN.md, "Testing rules").
// A test installs a fault_plan (a seed and a probability per fault kind);
// every backend made while a plan is installed gets a fault_injector and
// consults it at each syscall and completion it could fail. Without a plan
// there is no injector: the seam in the backends is one never-taken branch
// on a null pointer per syscall, SQE or completion batch.
//
// Every fault is lossless: a failure is injected instead of the syscall (or,
// on io_uring, by turning the request into a NOP that completes with the
// error), never in place of bytes the kernel delivered; a short read or
// write shortens the length the request asks for. A reset resets the
// connection for real, so the peer sees it too.
//
// Not part of the public API: installed headers do not include this one.

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace coronet::detail {

enum class fault : std::uint8_t {
    nomem,        // ENOMEM from a receive, send or accept
    again,        // EAGAIN from a receive, send or accept (nothing was done)
    short_io,     // a receive or send asks for 1..n of its n bytes
    reset,        // ECONNRESET from a receive or send; the connection is reset
    accept_mfile, // EMFILE from an accept
    accept_nfile, // ENFILE from an accept
    no_buffers,   // io_uring: -ENOBUFS from the buffer ring (a multishot receive)
    cancel_race,  // io_uring: a cancel requested just before a completion is reaped
    enter_eintr,  // io_uring_enter, epoll_wait: EINTR (nothing submitted, nothing waited)
    enter_ebusy,  // io_uring_enter: EBUSY (nothing submitted)
    sq_full,      // io_uring: the SQ is full: get_sqe flushes it and retries
};
inline constexpr std::size_t fault_kinds = 11;

/// The name of `f`, as the fault suite prints it ("again", "short_io", ...).
const char* to_string(fault f) noexcept;

/// A seeded schedule: each time a backend could inject fault `f`, it does
/// with probability `probability[f]`, drawn from a generator seeded by
/// `seed` (and the backend's number since the plan was installed, so loops
/// on several threads draw from streams of their own).
struct fault_plan {
    std::uint64_t seed = 0;
    std::array<double, fault_kinds> probability{};

    double& operator[](fault f) noexcept { return probability[static_cast<std::size_t>(f)]; }
    double operator[](fault f) const noexcept { return probability[static_cast<std::size_t>(f)]; }
};

/// Installs `plan` for every backend made from now on (loops already running
/// keep what they had) and zeroes the counters below. Tests only.
void install_fault_plan(const fault_plan& plan) noexcept;
/// Backends made from now on get no injector.
void remove_fault_plan() noexcept;
/// Faults of kind `f` injected by every backend since the last install.
std::uint64_t faults_injected(fault f) noexcept;

/// One backend's view of the installed plan: its own generator, and the
/// io_uring requests it turned into NOPs. Loop thread only.
class fault_injector {
public:
    fault_injector(const fault_plan& plan, std::uint64_t stream) noexcept;

    /// Whether fault `f` happens now (and counts it if so).
    bool fire(fault f) noexcept {
        const std::uint32_t t = threshold_[static_cast<std::size_t>(f)];
        if (t == 0 || static_cast<std::uint32_t>(next() >> 32) >= t) return false;
        count(f);
        return true;
    }
    /// A length to ask for instead of `n` (>= 1): `n`, or with short_io one
    /// of 1..n, small ones as often as the rest (every offset of a header).
    std::size_t shorten(std::size_t n) noexcept;
    /// A failure for a receive or send on `fd` about to be made, as -errno,
    /// or 0 for none: EAGAIN (if `again_too`), ENOMEM, or ECONNRESET (after
    /// resetting the connection on `fd`).
    int stream_failure(int fd, bool again_too) noexcept;
    /// A failure for an accept about to be made: EAGAIN (if `again_too`),
    /// EMFILE, ENFILE, ENOMEM, or 0.
    int accept_failure(bool again_too) noexcept;
    /// A failure for io_uring_enter or epoll_wait about to be called: -EINTR,
    /// -EBUSY (if `busy_too`), or 0.
    int enter_failure(bool busy_too) noexcept;

    /// io_uring: the request with `user_data` was made a NOP; its completion
    /// carries `res` instead of the NOP's 0.
    void expect(std::uint64_t user_data, int res);
    /// If `user_data` is such a NOP, sets `res` to its injected result
    /// (unless the NOP itself was cancelled: then `res` stays -ECANCELED).
    void take_result(std::uint64_t user_data, int& res) noexcept;

private:
    std::uint64_t next() noexcept { // splitmix64
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    static void count(fault f) noexcept;

    std::array<std::uint32_t, fault_kinds> threshold_{}; // probability * 2^32
    std::uint64_t state_;
    std::vector<std::pair<std::uint64_t, int>> expected_;
};

/// A new backend's injector (owned by the backend), or nullptr when no plan
/// is installed.
fault_injector* make_fault_injector();

} // namespace coronet::detail
