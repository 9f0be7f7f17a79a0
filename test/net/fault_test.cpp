// The suites' workloads under a randomised fault schedule (the backends'
// test-only seam, runtime/detail/fault.hpp), in every backend configuration:
// an echo of a pattern (TCP and Unix, plain and pooled receives on both
// sides, and from a pool that runs dry), framed messages, buffered lines
// and blocks (stream_reader and stream_writer), cancellation storms of recv
// and accept, receives under short timeouts, and closes under pending
// receives.
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

using namespace coronet;
using namespace std::chrono_literals;
using detail::fault;

namespace {

// heavy: the transparent schedule's faults at high rates (checked the same way).
enum class schedule { transparent, heavy, hostile };

const char* name(schedule s) {
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

detail::fault_plan plan_for(std::uint64_t seed, schedule s) {
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

std::vector<std::uint64_t> seeds() {
    if (const char* e = std::getenv("CORONET_FAULT_SEED"); e != nullptr && *e != '\0')
        return {std::strtoull(e, nullptr, 0)};
    std::random_device rd;
    return {1, 2, 3, 4, 5, 6, 7, 8, (std::uint64_t(rd()) << 32 | rd()) % 1'000'000'000};
}

bool on_io_uring() {
    return configured_backend_kind() == backend_kind::io_uring;
}

// Whether pooled receives use io_uring's buffer ring here (-ENOBUFS can come).
bool has_buffer_ring() {
    return test::run([]() -> task<bool> { co_return test::has_feature("provided_buffers"); }());
}

task<bool> bounded(task<> work) {
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
std::vector<fault> stream_faults() {
    std::vector<fault> f = {fault::again, fault::short_io, fault::enter_eintr};
    if (on_io_uring()) f.insert(f.end(), {fault::enter_ebusy, fault::sq_full});
    return f;
}

std::string abstract_name() {
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

task<> connect_tcp_client(const socket_address& at, std::span<const std::byte> data, std::size_t n,
                          echo_result& out) {
    auto c = co_await tcp_stream::connect(at);
    REQUIRE(c);
    co_await echo_client(std::move(*c), data, n, out);
}

task<> connect_unix_client(std::string at, std::span<const std::byte> data, std::size_t n,
                           echo_result& out) {
    auto c = co_await unix_stream::connect(at);
    REQUIRE(c);
    co_await echo_client(std::move(*c), data, n, out);
}

constexpr std::size_t tcp_clients = 4, unix_clients = 2;
constexpr std::size_t echo_bytes = 64 * 1024;

task<> echo_workload(schedule s, std::uint64_t seed) {
    auto tcp = test::listen_loopback();
    std::string path = abstract_name();
    auto local = unix_listener::bind(path).value();
    std::vector<std::vector<std::byte>> data;
    for (std::size_t i = 0; i < tcp_clients + unix_clients; ++i)
        data.push_back(test::pattern(echo_bytes, static_cast<unsigned>(seed + i)));
    std::vector<echo_result> results(data.size());
    std::size_t tcp_accepted = 0, unix_accepted = 0;
    task_group handlers, acceptors, clients;
    acceptors.spawn(accept_loop(tcp, handlers, tcp_accepted, echo_handler<tcp_stream>));
    acceptors.spawn(accept_loop(local, handlers, unix_accepted, echo_handler<unix_stream>));
    for (std::size_t i = 0; i < tcp_clients; ++i)
        clients.spawn(connect_tcp_client(tcp.local_address(), data[i], i, results[i]));
    for (std::size_t i = tcp_clients; i < data.size(); ++i)
        clients.spawn(connect_unix_client(path, data[i], i, results[i]));
    co_await clients.join();
    tcp.close();
    local.close();
    co_await acceptors.join();
    co_await handlers.join();
    for (std::size_t i = 0; i < results.size(); ++i) {
        const echo_result& r = results[i];
        INFO("connection " << i << ": " << r.received << " of " << echo_bytes << " bytes echoed");
        CHECK_FALSE(r.corrupt);
        if (s != schedule::hostile) {
            CHECK(r.sent_all);
            CHECK(r.received == echo_bytes);
            CHECK(r.eof);
            CHECK_FALSE(r.failed);
        } else {
            CHECK(r.received <= echo_bytes); // a prefix (checked byte by byte)
            CHECK((r.received == echo_bytes || r.failed || r.eof));
        }
    }
    CHECK(tcp_accepted == tcp_clients);
    CHECK(unix_accepted == unix_clients);
}

// ---- framed messages ----------------------------------------------------

constexpr std::size_t frames = 400;

// Frame i's payload: 0..2999 bytes (several empty) of a pattern of its own.
std::vector<std::byte> frame(std::size_t i) {
    std::size_t n = i % 17 == 0 ? 0 : (i * 2654435761u >> 7) % 3000;
    return test::pattern(n, static_cast<unsigned>(i + 1));
}

task<> frame_echo_handler(tcp_stream s, std::size_t) {
    stream_reader reader(s, 8192);
    for (int guard = 0; guard < 100'000; ++guard) {
        auto m = co_await recv_message(reader, 4096);
        if (!m) co_return; // end_of_stream, or the connection's error
        auto sent = co_await send_message(s, *m);
        if (!sent) co_return;
    }
}

struct frame_result {
    std::size_t sent = 0, received = 0;
    bool corrupt = false, clean_end = false, failed = false;
};

task<> frame_writer(tcp_stream& c, frame_result& out) {
    for (std::size_t i = 0; i < frames; ++i) {
        auto payload = frame(i);
        auto r = co_await send_message(c, std::span<const std::byte>(payload));
        if (!r) {
            out.failed = true;
            (void)c.shutdown(SHUT_RDWR);
            co_return;
        }
        ++out.sent;
    }
    (void)c.shutdown(SHUT_WR);
}

task<> frame_reader(tcp_stream& c, frame_result& out) {
    stream_reader reader(c, 8192);
    for (int guard = 0; guard < 100'000; ++guard) {
        auto m = co_await recv_message(reader, 4096);
        if (!m) {
            out.clean_end = m.error() == error::end_of_stream;
            out.failed = !out.clean_end;
            break;
        }
        auto want = frame(out.received);
        if (out.received >= frames || !test::same_bytes(*m, want)) {
            out.corrupt = true;
            break;
        }
        ++out.received;
    }
    (void)c.shutdown(SHUT_RDWR);
}

task<> frame_client(socket_address at, frame_result& out) {
    auto c = co_await tcp_stream::connect(at);
    REQUIRE(c);
    task_group g;
    g.spawn(frame_writer(*c, out));
    g.spawn(frame_reader(*c, out));
    co_await g.join();
}

task<> framing_workload(schedule s, std::uint64_t) {
    auto l = test::listen_loopback();
    std::size_t accepted = 0;
    std::vector<frame_result> results(2);
    task_group handlers, acceptors, clients;
    acceptors.spawn(accept_loop(l, handlers, accepted, frame_echo_handler));
    for (auto& r : results)
        clients.spawn(frame_client(l.local_address(), r));
    co_await clients.join();
    l.close();
    co_await acceptors.join();
    co_await handlers.join();
    for (const frame_result& r : results) {
        INFO(r.received << " of " << frames << " frames echoed");
        CHECK_FALSE(r.corrupt); // each frame whole, in order, once
        CHECK(r.received <= r.sent);
        if (s != schedule::hostile) {
            CHECK(r.received == frames);
            CHECK(r.clean_end);
        } else {
            CHECK((r.received == frames || r.failed || r.clean_end));
        }
    }
}

// ---- buffered lines and blocks (stream_reader, stream_writer) -------------

constexpr std::size_t records = 300;

// Record i: a line "B <i> <n>\n", then n bytes of a pattern of its own.
std::string record_line(std::size_t i, std::size_t n) {
    return "B " + std::to_string(i) + " " + std::to_string(n) + "\n";
}
std::size_t record_size(std::size_t i) {
    return (i * 40503u + 7) % 4000;
}

// Reads one record into `line` and `block`; false at the end or on an error
// (`clean` tells which).
template <class Reader>
task<bool> read_record(Reader& r, std::string& line, std::vector<std::byte>& block, bool& clean) {
    auto l = co_await r.read_line(64);
    if (!l) {
        clean = l.error() == error::end_of_stream;
        co_return false;
    }
    line.assign(*l);
    std::size_t i = 0, n = 0;
    if (std::sscanf(line.c_str(), "B %zu %zu", &i, &n) != 2) co_return false;
    auto b = co_await r.read_exactly(n);
    if (!b) co_return false;
    block.assign(b->begin(), b->end());
    co_return true;
}

task<> record_echo_handler(tcp_stream s, std::size_t) {
    stream_reader reader(s, 8192);
    stream_writer writer(s, 4096);
    std::string line;
    std::vector<std::byte> block;
    for (int guard = 0; guard < 100'000; ++guard) {
        bool clean = false;
        bool got = co_await read_record(reader, line, block, clean);
        if (!got) break;
        auto w1 = co_await writer.write(line);
        if (!w1) co_return;
        auto w2 = co_await writer.write(block);
        if (!w2) co_return;
        if (reader.buffered().empty()) { // nothing more to read at once: send
            auto f = co_await writer.flush();
            if (!f) co_return;
        }
    }
    auto f = co_await writer.flush();
    (void)f;
}

task<> record_writer(tcp_stream& c, frame_result& out) {
    stream_writer writer(c, 4096);
    std::mt19937 rng(11);
    for (std::size_t i = 0; i < records; ++i) {
        auto block = test::pattern(record_size(i), static_cast<unsigned>(i));
        auto w1 = co_await writer.write(record_line(i, block.size()));
        if (!w1) break;
        auto w2 = co_await writer.write(block);
        if (!w2) break;
        if (rng() % 4 == 0) {
            auto f = co_await writer.flush();
            if (!f) break;
        }
        ++out.sent;
    }
    auto f = co_await writer.flush();
    if (out.sent < records || !f) {
        out.failed = true;
        (void)c.shutdown(SHUT_RDWR);
        co_return;
    }
    (void)c.shutdown(SHUT_WR);
}

task<> record_reader(tcp_stream& c, frame_result& out) {
    stream_reader reader(c, 8192);
    std::string line;
    std::vector<std::byte> block;
    for (int guard = 0; guard < 100'000; ++guard) {
        bool clean = false;
        bool got = co_await read_record(reader, line, block, clean);
        if (!got) {
            out.clean_end = clean;
            out.failed = !clean;
            break;
        }
        auto want = test::pattern(record_size(out.received), static_cast<unsigned>(out.received));
        if (line != record_line(out.received, want.size()) || block != want) {
            out.corrupt = true;
            break;
        }
        ++out.received;
    }
    (void)c.shutdown(SHUT_RDWR);
}

task<> record_client(socket_address at, frame_result& out) {
    auto c = co_await tcp_stream::connect(at);
    REQUIRE(c);
    task_group g;
    g.spawn(record_writer(*c, out));
    g.spawn(record_reader(*c, out));
    co_await g.join();
}

task<> buffered_workload(schedule s, std::uint64_t) {
    auto l = test::listen_loopback();
    std::size_t accepted = 0;
    std::vector<frame_result> results(2);
    task_group handlers, acceptors, clients;
    acceptors.spawn(accept_loop(l, handlers, accepted, record_echo_handler));
    for (auto& r : results)
        clients.spawn(record_client(l.local_address(), r));
    co_await clients.join();
    l.close();
    co_await acceptors.join();
    co_await handlers.join();
    for (const frame_result& r : results) {
        INFO(r.received << " of " << records << " records echoed");
        CHECK_FALSE(r.corrupt);
        CHECK(r.received <= r.sent);
        if (s != schedule::hostile) {
            CHECK(r.received == records);
            CHECK(r.clean_end);
        } else {
            CHECK((r.received == records || r.failed || r.clean_end));
        }
    }
}

// ---- cancellation storms ------------------------------------------------

constexpr int storm_rounds = 1500;

// Runs `op` in a scope cancelled after 0..3 loop turns (0: before it starts).
template <class A>
task<detail::await_result_t<A>> cancel_randomly(A op, std::mt19937& rng) {
    cancel_scope scope;
    int turns = static_cast<int>(rng() % 4);
    if (turns == 0) scope.cancel();
    task_group g;
    if (turns > 0) g.spawn(test::cancel_after(scope, turns - 1));
    auto r = co_await scope.run(std::move(op));
    co_await g.join();
    co_return r;
}

// Receives cancelled at random points while data trickles in: every byte
// arrives once, in order (a prefix, if a hostile fault ends the stream).
task<> recv_storm(schedule s, std::uint64_t seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    auto l = test::listen_loopback();
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    tcp_stream srv;
    for (int guard = 0; guard < 10'000 && !srv.is_open(); ++guard) {
        auto a = co_await l.accept(); // refused at random (EMFILE, ENFILE): again
        if (a) srv = std::move(*a);
    }
    REQUIRE(srv.is_open());
    std::size_t sent = 0, received = 0;
    bool ended = false;
    std::byte buf[64];
    for (int i = 0; i < storm_rounds && !ended; ++i) {
        if (rng() % 2) {
            std::byte b[3] = {std::byte(sent), std::byte(sent + 1), std::byte(sent + 2)};
            auto send = srv.send_all(b);
            auto r = co_await send;
            sent += send.bytes_sent();
            if (!r) { // a hostile fault ended the stream
                CHECK_MESSAGE(s == schedule::hostile, "send_all: " << r.error().message());
                ended = true;
            }
        }
        auto r = co_await cancel_randomly(c.recv(buf), rng);
        if (r) {
            if (*r == 0) {
                ended = true;
                continue;
            }
            for (std::size_t k = 0; k < *r; ++k)
                CHECK(buf[k] == std::byte(received + k));
            received += *r;
        } else if (r.error() != std::errc::operation_canceled) {
            CHECK_MESSAGE(s == schedule::hostile, "recv: " << r.error().message());
            ended = true;
        }
    }
    (void)srv.shutdown(SHUT_WR);
    for (int guard = 0; guard < 100'000 && !ended; ++guard) { // the rest is in the socket
        auto r = co_await c.recv(buf);
        if (!r || *r == 0) {
            CHECK((r || s == schedule::hostile));
            break;
        }
        for (std::size_t k = 0; k < *r; ++k)
            CHECK(buf[k] == std::byte(received + k));
        received += *r;
    }
    CHECK(received <= sent);
    if (s != schedule::hostile) CHECK(received == sent);
}

// Accepts cancelled at random points while connections arrive, and refused
// at random (EMFILE, ENFILE, ENOMEM): every connection is accepted once.
task<> accept_storm(schedule, std::uint64_t seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed) + 1);
    auto l = test::listen_loopback();
    std::size_t connected = 0, accepted = 0;
    std::vector<tcp_stream> clients;
    for (int i = 0; i < storm_rounds; ++i) {
        if (rng() % 2) {
            auto c = co_await tcp_stream::connect(l.local_address());
            REQUIRE(c);
            clients.push_back(std::move(*c));
            ++connected;
        }
        auto r = co_await cancel_randomly(l.accept(), rng);
        if (r) ++accepted; // closed here by its destructor
        if (clients.size() > 100) clients.clear();
    }
    for (int guard = 0; guard < 100'000 && accepted < connected; ++guard) {
        auto r = co_await l.accept(); // the rest wait in the backlog
        if (r) ++accepted;
    }
    CHECK(accepted == connected);
}

// ---- pooled receives from a pool that runs dry ---------------------------

constexpr std::size_t pool_clients = 6;

task<> pooled_echo_handler(tcp_stream s, std::size_t) {
    for (int guard = 0; guard < 1'000'000; ++guard) {
        auto lease = co_await s.recv_pooled(); // waits for a buffer when all are out
        if (!lease || lease->size() == 0) co_return;
        auto sent = co_await s.send_all(lease->bytes());
        if (!sent) co_return;
    }
}

// Six connections echoed from a pool of four small buffers: receives wait
// for buffers, the ring grows and runs dry, sockets starve and come back.
task<> pool_workload(schedule s, std::uint64_t seed) {
    auto l = test::listen_loopback();
    std::vector<std::vector<std::byte>> data;
    for (std::size_t i = 0; i < pool_clients; ++i)
        data.push_back(test::pattern(32 * 1024, static_cast<unsigned>(seed * 31 + i)));
    std::vector<echo_result> results(data.size());
    std::size_t accepted = 0;
    task_group handlers, acceptors, clients;
    acceptors.spawn(accept_loop(l, handlers, accepted, pooled_echo_handler));
    for (std::size_t i = 0; i < data.size(); ++i) // n * 3 + 1: plain receives on the client
        clients.spawn(connect_tcp_client(l.local_address(), data[i], i * 3, results[i]));
    co_await clients.join();
    l.close();
    co_await acceptors.join();
    co_await handlers.join();
    for (const echo_result& r : results) {
        CHECK_FALSE(r.corrupt);
        if (s != schedule::hostile) CHECK(r.received == 32 * 1024);
    }
    CHECK(current_loop().stats().pool_buffers_in_use == 0);
}

loop_options tiny_pool() {
    loop_options o;
    o.pool_buffers = 4;
    o.pool_buffer_size = 1024;
    return o;
}

// ---- timeouts and closes under faults -------------------------------------

// Receives under short timeouts while data trickles in (linked timeouts on
// io_uring, loop timers elsewhere): every byte arrives once, in order.
task<> timeout_storm(schedule s, std::uint64_t seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed) + 2);
    auto l = test::listen_loopback();
    auto c = (co_await tcp_stream::connect(l.local_address())).value();
    tcp_stream srv;
    for (int guard = 0; guard < 10'000 && !srv.is_open(); ++guard) {
        auto a = co_await l.accept();
        if (a) srv = std::move(*a);
    }
    REQUIRE(srv.is_open());
    std::size_t sent = 0, received = 0;
    std::byte buf[16];
    bool ended = false;
    for (int i = 0; i < storm_rounds / 2 && !ended; ++i) {
        if (rng() % 2) {
            std::byte b[5];
            for (std::size_t k = 0; k < 5; ++k)
                b[k] = std::byte(sent + k);
            auto send = srv.send_all(b);
            auto r = co_await send;
            sent += send.bytes_sent();
            ended = !r;
        }
        auto r = co_await with_timeout(std::chrono::microseconds(rng() % 300), c.recv(buf));
        if (r) {
            ended = *r == 0;
            for (std::size_t k = 0; k < *r; ++k)
                CHECK(buf[k] == std::byte(received + k));
            received += *r;
        } else if (r.error() != error::timed_out && r.error() != std::errc::operation_canceled) {
            CHECK_MESSAGE(s == schedule::hostile, "recv: " << r.error().message());
            ended = true;
        }
    }
    (void)srv.shutdown(SHUT_WR);
    for (int guard = 0; guard < 100'000 && !ended; ++guard) {
        auto r = co_await c.recv(buf);
        if (!r || *r == 0) break;
        for (std::size_t k = 0; k < *r; ++k)
            CHECK(buf[k] == std::byte(received + k));
        received += *r;
    }
    CHECK(received <= sent);
    if (s != schedule::hostile) CHECK(received == sent);
}

task<> receive_until_closed(tcp_stream& c, bool pooled, bool& finished) {
    std::byte buf[64];
    for (int guard = 0; guard < 100'000; ++guard) {
        if (pooled) {
            auto r = co_await c.recv_pooled();
            if (!r || r->size() == 0) break;
        } else {
            auto r = co_await c.recv(buf);
            if (!r || *r == 0) break;
        }
    }
    finished = true;
}

// Streams closed while a receive waits on them, after 0..3 loop turns and
// with data on its way: close() joins the receive, which finishes; no fd
// and no pool buffer is left behind.
task<> close_storm(schedule, std::uint64_t seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed) + 3);
    auto l = test::listen_loopback();
    for (int i = 0; i < 200; ++i) {
        auto c = (co_await tcp_stream::connect(l.local_address())).value();
        tcp_stream srv;
        for (int guard = 0; guard < 10'000 && !srv.is_open(); ++guard) {
            auto a = co_await l.accept();
            if (a) srv = std::move(*a);
        }
        REQUIRE(srv.is_open());
        bool finished = false;
        task_group g;
        g.spawn(receive_until_closed(c, i % 2 == 1, finished));
        if (rng() % 2) {
            auto sent = co_await srv.send_all("some bytes on their way");
            (void)sent;
        }
        co_await test::yield_turns(static_cast<int>(rng() % 4));
        c.close(); // cancels and joins the receive
        co_await g.join();
        CHECK(finished);
    }
    CHECK(current_loop().stats().pool_buffers_in_use == 0);
}

} // namespace

TEST_CASE("faults: an echo of a pattern loses, duplicates and leaks nothing") {
    std::vector<fault> must = stream_faults();
    must.insert(must.end(), {fault::reset, fault::nomem});
    if (on_io_uring()) must.push_back(fault::cancel_race);
    if (on_io_uring() && has_buffer_ring()) must.push_back(fault::no_buffers);
    under_faults("echo", must, echo_workload);
}

TEST_CASE("faults: framed messages arrive whole, in order, once") {
    under_faults("framing", stream_faults(), framing_workload);
}

TEST_CASE("faults: buffered lines and blocks (stream_reader, stream_writer) lose nothing") {
    under_faults("buffered", stream_faults(), buffered_workload);
}

TEST_CASE("faults: a cancellation storm of receives loses no byte") {
    under_faults("recv storm", stream_faults(), recv_storm);
}

TEST_CASE("faults: a cancellation storm of accepts loses and leaks no connection") {
    std::vector<fault> must = {fault::accept_mfile, fault::accept_nfile, fault::enter_eintr};
    if (on_io_uring()) must.insert(must.end(), {fault::enter_ebusy, fault::sq_full});
    under_faults("accept storm", must, accept_storm);
}

TEST_CASE("faults: pooled receives from a pool that runs dry lose nothing") {
    std::vector<fault> must = stream_faults();
    if (on_io_uring() && has_buffer_ring()) must.push_back(fault::no_buffers);
    under_faults("tiny pool", must, pool_workload, tiny_pool());
}

TEST_CASE("faults: receives under short timeouts lose no byte") {
    under_faults("timeout storm", stream_faults(), timeout_storm);
}

TEST_CASE("faults: closing streams under pending receives joins them and leaks nothing") {
    std::vector<fault> must = {fault::enter_eintr};
    if (on_io_uring()) must.insert(must.end(), {fault::enter_ebusy, fault::sq_full});
    under_faults("close storm", must, close_storm);
}
