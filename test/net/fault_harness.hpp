#pragma once
// The fault-injection suites' harness (fault_test.cpp, fault_cancel_test.cpp):
// the three schedules and their plans, the seeds, under_faults() that runs a
// workload for every seed and schedule and checks fds, hangs and which faults
// fired, and the echo handler and clients both suites use.
//
// Three schedules per seed:
//   transparent  EAGAIN, short reads and writes, EMFILE/ENFILE on accept,
//                -ENOBUFS from the buffer ring, EINTR/EBUSY from the wait, a
//                full SQ: a program that retries a refused accept sees none
//                of them; every byte arrives once, in order, and every
//                connection is accepted once.
//   heavy        the same faults at high rates, checked the same way.
//   hostile      adds ECONNRESET and ENOMEM mid-stream and cancels racing
//                real completions: connections end early, with an error
//                result, and what arrived is a prefix of what was sent.
// Always: no fd leaks (the process's fds are counted before and after each
// run), no pool buffer left leased, and no hang (each run is bounded by a
// timeout, the whole case by the watchdog). Each run prints its seed on
// stderr; CORONET_FAULT_SEED=N runs seed N alone, to reproduce a failure.
// Otherwise seeds 1 to 8 and one random seed run.
#include "test/test_util.hpp"
#include <coronet/net/framing.hpp>
#include <coronet/net/stream_reader.hpp>
#include <coronet/net/stream_writer.hpp>
#include <coronet/net/unix_listener.hpp>
#include <coronet/net/unix_stream.hpp>
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/detail/fault.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <doctest/doctest.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace fault_suite {

using namespace coronet;
using namespace std::chrono_literals;
using detail::fault;

// heavy: the transparent schedule's faults at high rates (checked the same way).
enum class schedule { transparent, heavy, hostile };

inline const char* name(schedule s) {
    switch (s) {
    case schedule::transparent:
        return "transparent";
    case schedule::heavy:
        return "heavy";
    case schedule::hostile:
        break;
    }
    return "hostile";
}

inline detail::fault_plan plan_for(std::uint64_t seed, schedule s) {
    detail::fault_plan p;
    p.seed = seed;
    p[fault::again] = 0.2;
    p[fault::short_io] = 0.3;
    p[fault::accept_mfile] = 0.15;
    p[fault::accept_nfile] = 0.15;
    p[fault::no_buffers] = 0.15;
    p[fault::enter_eintr] = 0.05;
    p[fault::enter_ebusy] = 0.05;
    p[fault::sq_full] = 0.1;
    if (s == schedule::heavy) {
        p[fault::again] = 0.5;
        p[fault::short_io] = 0.7;
        p[fault::accept_mfile] = p[fault::accept_nfile] = 0.3;
        p[fault::no_buffers] = 0.5;
        p[fault::enter_eintr] = p[fault::enter_ebusy] = 0.3;
        p[fault::sq_full] = 0.5;
    }
    if (s == schedule::hostile) {
        p[fault::nomem] = 0.005;
        p[fault::reset] = 0.005;
        p[fault::cancel_race] = 0.02;
    }
    return p;
}

inline std::vector<std::uint64_t> seeds() {
    if (const char* e = std::getenv("CORONET_FAULT_SEED"); e != nullptr && *e != '\0')
        return {std::strtoull(e, nullptr, 0)};
    std::random_device rd;
    return {1, 2, 3, 4, 5, 6, 7, 8, (std::uint64_t(rd()) << 32 | rd()) % 1'000'000'000};
}

inline bool on_io_uring() {
    return configured_backend_kind() == backend_kind::io_uring;
}

// Whether pooled receives use io_uring's buffer ring here (-ENOBUFS can come).
inline bool has_buffer_ring() {
    return test::run([]() -> task<bool> { co_return test::has_feature("provided_buffers"); }());
}

inline task<bool> bounded(task<> work) {
    auto r = co_await with_timeout(15s, std::move(work));
    co_return r.has_value();
}

// Runs `make(schedule, seed)` on a fresh loop for every seed and schedule,
// with the plan installed; checks fds and that every fault of `must_fire`
// was injected at least once over all runs.
template <class Make>
void under_faults(const char* what, std::vector<fault> must_fire, Make make,
                  loop_options options = {}) {
    std::array<std::uint64_t, detail::fault_kinds> total{};
    for (std::uint64_t seed : seeds()) {
        for (schedule s : {schedule::transparent, schedule::heavy, schedule::hostile}) {
            std::fprintf(stderr,
                         "fault suite: %s, seed %llu, %s schedule (reproduce: "
                         "CORONET_FAULT_SEED=%llu)\n",
                         what, static_cast<unsigned long long>(seed), name(s),
                         static_cast<unsigned long long>(seed));
            INFO(std::string(what) << ": seed " << seed << ", " << std::string(name(s))
                                   << " schedule (reproduce: CORONET_FAULT_SEED=" << seed << ")");
            auto fds_before = test::open_fds();
            detail::install_fault_plan(plan_for(seed, s));
            bool finished = coronet::run(bounded(make(s, seed)), options);
            detail::remove_fault_plan();
            for (std::size_t k = 0; k < detail::fault_kinds; ++k)
                total[k] += detail::faults_injected(static_cast<fault>(k));
            CHECK(finished); // not stopped by the timeout: no hang
            CHECK(test::open_fds() == fds_before);
        }
    }
    std::string counts;
    for (std::size_t k = 0; k < detail::fault_kinds; ++k)
        counts +=
            std::string(" ") + to_string(static_cast<fault>(k)) + "=" + std::to_string(total[k]);
    MESSAGE((std::string(what) + ": faults injected:" + counts));
    if (std::getenv("CORONET_FAULT_SEED") != nullptr) return; // one seed need not meet them all
    for (fault f : must_fire) {
        INFO("fault kind " << std::string(to_string(f)) << " never injected");
        CHECK(total[static_cast<std::size_t>(f)] > 0);
    }
}

// The faults every run of a stream workload must have met on this backend.
inline std::vector<fault> stream_faults() {
    std::vector<fault> f = {fault::again, fault::short_io, fault::enter_eintr};
    if (on_io_uring()) f.insert(f.end(), {fault::enter_ebusy, fault::sq_full});
    return f;
}

inline std::string abstract_name() {
    static int n = 0;
    return "@coronet-fault-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

// Accepts until the listener is closed; a refused accept (an injected
// EMFILE, ENFILE or ENOMEM: the connection waits in the backlog, or a
// cancel racing its completion in the hostile schedule) is retried.
template <class Listener, class Handler>
task<> accept_loop(Listener& l, task_group& handlers, std::size_t& accepted, Handler handler) {
    for (int guard = 0; guard < 1'000'000 && l.is_open(); ++guard) {
        auto c = co_await l.accept();
        if (!c) continue;
        handlers.spawn(handler(std::move(*c), accepted++));
    }
}

// ---- echo ----------------------------------------------------------------

template <class Stream>
task<> echo_handler(Stream s, std::size_t n) {
    const bool pooled = n % 2 == 1;
    std::vector<std::byte> buf(8192);
    for (int guard = 0; guard < 1'000'000; ++guard) {
        if (pooled) {
            auto lease = co_await s.recv_pooled();
            if (!lease || lease->size() == 0) co_return;
            auto sent = co_await s.send_all(lease->bytes());
            if (!sent) co_return;
        } else {
            auto got = co_await s.recv(buf);
            if (!got || *got == 0) co_return;
            auto sent = co_await s.send_all(std::span(buf).first(*got));
            if (!sent) co_return;
        }
    }
}

struct echo_result {
    std::size_t received = 0;
    bool sent_all = false;
    bool corrupt = false;
    bool eof = false;
    bool failed = false; // a send or receive ended with an error
};

template <class Stream>
task<> echo_writer(Stream& c, std::span<const std::byte> data, std::uint32_t seed,
                   echo_result& out) {
    std::mt19937 rng(seed);
    std::size_t off = 0;
    for (int guard = 0; off < data.size() && guard < 1'000'000; ++guard) {
        std::size_t n = std::min<std::size_t>(1 + rng() % 8192, data.size() - off);
        auto send = c.send_all(data.subspan(off, n));
        auto r = co_await send;
        off += send.bytes_sent();
        if (!r) { // the connection is over: both directions
            out.failed = true;
            (void)c.shutdown(SHUT_RDWR);
            co_return;
        }
    }
    out.sent_all = off == data.size();
    (void)c.shutdown(SHUT_WR);
}

template <class Stream>
task<> echo_reader(Stream& c, std::span<const std::byte> data, bool pooled, std::uint32_t seed,
                   echo_result& out) {
    std::mt19937 rng(seed);
    std::vector<std::byte> buf(16384);
    for (int guard = 0; guard < 1'000'000; ++guard) {
        std::span<const std::byte> got;
        buffer_lease lease;
        if (pooled) {
            auto r = co_await c.recv_pooled();
            if (!r) {
                out.failed = true;
                break;
            }
            lease = std::move(*r);
            got = lease.bytes();
        } else {
            auto r = co_await c.recv(std::span(buf).first(1 + rng() % buf.size()));
            if (!r) {
                out.failed = true;
                break;
            }
            got = std::span(buf).first(*r);
        }
        if (got.empty()) {
            out.eof = true;
            co_return;
        }
        if (out.received + got.size() > data.size() ||
            !std::equal(got.begin(), got.end(), data.begin() + out.received)) {
            out.corrupt = true; // a byte lost, duplicated or reordered
            break;
        }
        out.received += got.size();
    }
    (void)c.shutdown(SHUT_RDWR);
}

template <class Stream>
task<> echo_client(Stream c, std::span<const std::byte> data, std::size_t n, echo_result& out) {
    task_group g;
    g.spawn(echo_writer(c, data, static_cast<std::uint32_t>(n * 7 + 1), out));
    g.spawn(echo_reader(c, data, n % 3 == 2, static_cast<std::uint32_t>(n * 13 + 5), out));
    co_await g.join();
}

inline task<> connect_tcp_client(const socket_address& at, std::span<const std::byte> data,
                                 std::size_t n, echo_result& out) {
    auto c = co_await tcp_stream::connect(at);
    REQUIRE(c);
    co_await echo_client(std::move(*c), data, n, out);
}

inline task<> connect_unix_client(std::string at, std::span<const std::byte> data, std::size_t n,
                                  echo_result& out) {
    auto c = co_await unix_stream::connect(at);
    REQUIRE(c);
    co_await echo_client(std::move(*c), data, n, out);
}

} // namespace fault_suite
