// The test-only fault seam (runtime/detail/fault.hpp), on the backend
// itself like backend_conformance_test: plans with fixed probabilities make
// the faults certain or never, so each case shows one fault's effect. The
// randomised schedules over real workloads are test/net/fault_test.cpp.
// Runs in every backend configuration (CORONET_BACKEND, CORONET_FAST_PATHS).
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/detail/backend.hpp>
#include <coronet/runtime/detail/fault.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace coronet;
using namespace coronet::detail;

namespace {

// Installs `plan` for the fixture made after it; removes it at the end.
struct scoped_plan {
    explicit scoped_plan(const fault_plan& plan) { install_fault_plan(plan); }
    ~scoped_plan() { remove_fault_plan(); }
};

fault_plan only(fault f, double p, std::uint64_t seed = 1) {
    fault_plan plan;
    plan.seed = seed;
    plan[f] = p;
    return plan;
}

struct fixture {
    ready_queue ready;
    wake_fd wake;
    std::unique_ptr<backend> b;
    fixture() {
        backend_config config;
        config.fast_paths = configured_fast_paths();
        b = make_backend(configured_backend_kind(), ready, config, wake);
    }
    bool poll_until_done(const operation& op, int turns = 2000) {
        for (int i = 0; i < turns && op.state != op_state::done; ++i)
            b->poll(std::chrono::milliseconds(10));
        return op.state == op_state::done;
    }
    bool run(operation& op) { return b->submit(op) || poll_until_done(op); }
};

struct socket_pair {
    int a = -1, b = -1;
    socket_pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        a = fds[0];
        b = fds[1];
    }
    ~socket_pair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
};

operation make(op_kind kind, int fd, void* buf = nullptr, std::size_t len = 0) {
    operation op;
    op.kind = kind;
    op.fd = fd;
    op.buffer = buf;
    op.length = len;
    op.deadline = nullptr; // start_operation sets it; these tests call the backend directly
    op.waiter = std::noop_coroutine();
    return op;
}

} // namespace

TEST_CASE("fault seam: one seed and stream give one sequence of decisions") {
    fault_plan plan = only(fault::again, 0.5, 42);
    plan[fault::short_io] = 0.5;
    auto draw = [&](std::uint64_t seed, std::uint64_t stream) {
        plan.seed = seed;
        fault_injector f(plan, stream);
        std::string s;
        for (int i = 0; i < 64; ++i)
            s += std::to_string(f.fire(fault::again)) + ":" + std::to_string(f.shorten(1000)) + " ";
        return s;
    };
    CHECK(draw(42, 0) == draw(42, 0));
    CHECK(draw(42, 0) != draw(43, 0));
    CHECK(draw(42, 0) != draw(42, 1)); // a second loop draws from a stream of its own
    fault_injector never(only(fault::again, 0.0), 0), always(only(fault::again, 1.0), 0);
    for (int i = 0; i < 100; ++i) {
        CHECK_FALSE(never.fire(fault::again));
        CHECK(always.fire(fault::again));
        CHECK(never.shorten(100) == 100);
    }
}

TEST_CASE("fault seam: without a plan a backend injects nothing") {
    { scoped_plan p(only(fault::short_io, 1.0)); } // installed and removed: counters zeroed
    fixture f;
    socket_pair p;
    REQUIRE(::write(p.a, "0123456789", 10) == 10);
    char buf[16];
    operation op = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE(f.run(op));
    CHECK(op.result == 10); // whole: nothing shortened it
    CHECK(faults_injected(fault::short_io) == 0);
}

TEST_CASE("fault seam: short reads and writes at every length lose and reorder nothing") {
    scoped_plan plan(only(fault::short_io, 1.0));
    fixture f;
    socket_pair p;
    std::vector<char> data(3000);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>(i * 7 + i / 251);
    operation send = make(op_kind::send_all, p.a, data.data(), data.size());
    REQUIRE(f.run(send));
    CHECK(send.result == 0);
    CHECK(send.sent == data.size());
    std::vector<char> got;
    char buf[512];
    for (int guard = 0; got.size() < data.size() && guard < 100'000; ++guard) {
        operation r = make(op_kind::recv, p.b, buf, sizeof buf);
        REQUIRE(f.run(r));
        REQUIRE(r.result > 0);
        got.insert(got.end(), buf, buf + r.result);
    }
    CHECK(got == data);
    CHECK(faults_injected(fault::short_io) > 10);
}

TEST_CASE("fault seam: an injected EAGAIN waits, then the receive gets the data") {
    scoped_plan plan(only(fault::again, 0.5, 7));
    fixture f;
    socket_pair p;
    REQUIRE(::write(p.a, "after eagain", 12) == 12);
    std::string got;
    char buf[4];
    for (int guard = 0; got.size() < 12 && guard < 10'000; ++guard) {
        operation r = make(op_kind::recv, p.b, buf, sizeof buf);
        REQUIRE(f.run(r));
        REQUIRE(r.result > 0);
        got.append(buf, static_cast<std::size_t>(r.result));
    }
    CHECK(got == "after eagain");
    CHECK(faults_injected(fault::again) > 0);
    CHECK(f.b->in_flight() == 0);
}

TEST_CASE("fault seam: an injected reset ends the stream with connection_reset on both ends") {
    scoped_plan plan(only(fault::reset, 1.0));
    fixture f;
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(l, 1) == 0);
    REQUIRE(::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(c, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    int s = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    REQUIRE(s >= 0);
    char buf[8];
    operation r = make(op_kind::recv, s, buf, sizeof buf);
    REQUIRE(f.run(r));
    CHECK(r.result == -ECONNRESET);
    CHECK(::recv(c, buf, sizeof buf, 0) < 0); // the peer was reset for real
    CHECK(errno == ECONNRESET);
    f.b->close(s);
    ::close(c);
    ::close(l);
}

// Regression (found by fault_test on io_uring-plain: close() of a listener
// hung): after an EAGAIN, io_uring waited for readiness with a POLL_ADD
// linked in front of the request, and ASYNC_CANCEL cannot reach a request
// that waits behind its link's head. Now the poll is a request of its own
// that a cancel reaches. Every receive here gets EAGAIN, so it waits on that
// poll, on a socket that never becomes readable.
TEST_CASE("fault seam: an operation waiting for readiness after EAGAIN is cancelled and closed") {
    scoped_plan plan(only(fault::again, 1.0));
    fixture f;
    socket_pair p;
    char buf[8];
    operation r = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(r));
    for (int i = 0; i < 5; ++i)
        f.b->poll(std::chrono::milliseconds(1));
    REQUIRE(r.state != op_state::done);
    f.b->cancel(r);
    REQUIRE(f.poll_until_done(r));
    CHECK(r.result == -ECANCELED);

    operation again = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(again));
    for (int i = 0; i < 5; ++i)
        f.b->poll(std::chrono::milliseconds(1));
    f.b->close(std::exchange(p.b, -1)); // returns once the operation is joined
    CHECK(again.state == op_state::done);
    CHECK(again.result == -ECANCELED);
    CHECK(f.b->in_flight() == 0);
}

TEST_CASE("fault seam: a linked timeout still ends an operation waiting for readiness") {
    scoped_plan plan(only(fault::again, 1.0));
    fixture f;
    socket_pair p;
    char buf[8];
    operation r = make(op_kind::recv, p.b, buf, sizeof buf);
    if (!f.b->links_timeout(r)) return; // loop timers time it: nothing of the backend's
    auto when = std::chrono::steady_clock::now().time_since_epoch() + std::chrono::milliseconds(30);
    mono_timespec deadline{when.count() / 1'000'000'000, when.count() % 1'000'000'000};
    r.deadline = &deadline;
    REQUIRE_FALSE(f.b->submit(r));
    REQUIRE(f.poll_until_done(r, 500)); // before: the timeout waited for a poll that never fired
    CHECK(r.result == -ECANCELED);
}

// Regression (found by fault_test's receive storm on io_uring): a request
// cancelled while the kernel answered EAGAIN finished with EAGAIN, which the
// caller saw as resource_unavailable_try_again instead of operation_canceled.
TEST_CASE("fault seam: a cancelled operation whose request got EAGAIN ends as cancelled") {
    scoped_plan plan(only(fault::again, 1.0));
    fixture f;
    socket_pair p;
    char buf[8];
    operation r = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(r));
    f.b->cancel(r); // before its EAGAIN comes back
    REQUIRE(f.poll_until_done(r));
    CHECK(r.result == -ECANCELED);
}
