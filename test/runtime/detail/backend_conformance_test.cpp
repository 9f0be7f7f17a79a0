// The backend contract (runtime/detail/backend.hpp), checked on the backend
// itself, without a loop or coroutines: submit, cancel, close and forget
// with operations pending, drain, wakeup and poll timeouts. The same cases
// run against io_uring, io_uring-plain and epoll (CORONET_BACKEND and
// CORONET_FAST_PATHS choose), so a new or changed backend is checked against
// the contract, not only through sockets. Completions go to a ready queue
// that nobody resumes: an operation's waiter is the no-op coroutine.
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/detail/backend.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace coronet;
using namespace coronet::detail;
using namespace std::chrono_literals;

namespace {

struct fixture {
    ready_queue ready;
    wake_fd wake;
    std::unique_ptr<backend> b;

    explicit fixture(backend_config config = {}) {
        config.fast_paths = configured_fast_paths();
        b = make_backend(configured_backend_kind(), ready, config, wake);
    }
    // Polls until `op` is done, at most `turns` times (each waits up to 1 s).
    bool poll_until_done(const operation& op, int turns = 200) {
        for (int i = 0; i < turns && op.state != op_state::done; ++i)
            b->poll(std::chrono::seconds(1));
        return op.state == op_state::done;
    }
    // Submits `op`; true when it is done, at once or after polls.
    bool run(operation& op) { return b->submit(op) || poll_until_done(op); }
};

// A connected pair of non-blocking stream sockets.
struct socket_pair {
    int a = -1, b = -1;
    explicit socket_pair(int family = AF_UNIX) {
        if (family == AF_UNIX) {
            int fds[2];
            REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
            a = fds[0];
            b = fds[1];
            return;
        }
        int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&addr), len) == 0);
        REQUIRE(::listen(l, 1) == 0);
        REQUIRE(::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        a = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(a, reinterpret_cast<sockaddr*>(&addr), len) == 0);
        b = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        REQUIRE(b >= 0);
        ::fcntl(a, F_SETFL, O_NONBLOCK);
        ::close(l);
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

bool fd_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

} // namespace

TEST_CASE("backend: a receive with data there completes, at once or through poll") {
    fixture f;
    socket_pair p;
    REQUIRE(::write(p.a, "hello", 5) == 5);
    char buf[16];
    operation op = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE(f.run(op));
    CHECK(op.result == 5);
    CHECK(std::memcmp(buf, "hello", 5) == 0);
    CHECK(f.b->in_flight() == 0);
    CHECK(f.b->stats().completed >= 1);
}

TEST_CASE("backend: a pending receive waits in poll until data comes, then completes once") {
    fixture f;
    socket_pair p;
    char buf[16];
    operation op = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(op));
    CHECK(f.b->in_flight() == 1);
    f.b->poll(std::chrono::nanoseconds(0));
    CHECK(op.state != op_state::done);
    REQUIRE(::write(p.a, "abc", 3) == 3);
    REQUIRE(f.poll_until_done(op));
    CHECK(op.result == 3);
    CHECK(f.ready.size() == 1); // its waiter was queued exactly once
    CHECK(f.b->in_flight() == 0);
}

TEST_CASE("backend: cancel ends a pending receive with operation_canceled; nothing is lost") {
    fixture f;
    socket_pair p;
    char buf[16];
    operation op = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(op));
    f.b->cancel(op);
    REQUIRE(f.poll_until_done(op));
    CHECK(op.result == -ECANCELED);
    f.b->cancel(op); // a finished operation is left alone
    CHECK(op.result == -ECANCELED);
    // The bytes sent afterwards are there for the next receive.
    REQUIRE(::write(p.a, "xy", 2) == 2);
    operation again = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE(f.run(again));
    CHECK(again.result == 2);
}

TEST_CASE("backend: a cancel racing with data gives the data or operation_canceled") {
    fixture f;
    socket_pair p;
    char buf[16];
    operation op = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(op));
    REQUIRE(::write(p.a, "race", 4) == 4);
    f.b->cancel(op);
    REQUIRE(f.poll_until_done(op));
    CHECK((op.result == 4 || op.result == -ECANCELED));
    if (op.result == -ECANCELED) { // then the bytes are still in the socket
        operation again = make(op_kind::recv, p.b, buf, sizeof buf);
        REQUIRE(f.run(again));
        CHECK(again.result == 4);
    }
}

TEST_CASE("backend: close() joins pending operations before the fd is closed") {
    fixture f;
    socket_pair p;
    char buf[16];
    operation r = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(r));
    int fd = std::exchange(p.b, -1);
    f.b->close(fd);
    // No poll needed: close returns only once the operation is settled.
    CHECK(r.state == op_state::done);
    CHECK(r.result == -ECANCELED);
    CHECK_FALSE(fd_open(fd));
    CHECK(f.b->in_flight() == 0);
}

TEST_CASE("backend: forget() settles an fd like close() but leaves it open and usable") {
    fixture f;
    socket_pair p;
    char buf[16];
    operation r = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE_FALSE(f.b->submit(r));
    f.b->forget(p.b);
    CHECK(r.state == op_state::done);
    CHECK(r.result == -ECANCELED);
    CHECK(fd_open(p.b));
    // Another backend (another loop) adopts it.
    fixture other;
    REQUIRE(::write(p.a, "moved", 5) == 5);
    operation again = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE(other.run(again));
    CHECK(again.result == 5);
    other.b->forget(p.b);
}

TEST_CASE("backend: drain() finishes every pending operation on every fd") {
    fixture f;
    socket_pair p1, p2;
    char b1[8], b2[8];
    operation r1 = make(op_kind::recv, p1.b, b1, sizeof b1);
    operation r2 = make(op_kind::recv, p2.b, b2, sizeof b2);
    operation r3 = make(op_kind::recv, p2.a, b2, sizeof b2);
    REQUIRE_FALSE(f.b->submit(r1));
    REQUIRE_FALSE(f.b->submit(r2));
    REQUIRE_FALSE(f.b->submit(r3));
    CHECK(f.b->in_flight() == 3);
    f.b->drain();
    CHECK(f.b->in_flight() == 0);
    for (operation* op : {&r1, &r2, &r3}) {
        CHECK(op->state == op_state::done);
        CHECK(op->result == -ECANCELED);
    }
}

TEST_CASE("backend: wakeup() from another thread ends a poll that has no limit") {
    fixture f;
    std::atomic<bool> polling{false};
    std::thread t([&] {
        while (!polling.load())
            std::this_thread::yield();
        std::this_thread::sleep_for(20ms); // let the loop block (not synchronisation)
        f.b->wakeup();
    });
    auto start = std::chrono::steady_clock::now();
    polling = true;
    std::size_t n = f.b->poll(std::nullopt);
    t.join();
    CHECK(n == 0);
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    // A wakeup before the poll makes the next poll return at once too.
    f.b->wakeup();
    start = std::chrono::steady_clock::now();
    f.b->poll(std::nullopt);
    CHECK(std::chrono::steady_clock::now() - start < 30s);
}

TEST_CASE("backend: poll(timeout) with nothing to do waits at least the timeout") {
    fixture f;
    auto start = std::chrono::steady_clock::now();
    CHECK(f.b->poll(std::chrono::milliseconds(30)) == 0);
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
    start = std::chrono::steady_clock::now();
    CHECK(f.b->poll(std::chrono::nanoseconds(0)) == 0); // zero: do not wait
    CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("backend: accept and connect complete; a refused connect is an error") {
    fixture f;
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(l, 4) == 0);
    REQUIRE(::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    operation acc = make(op_kind::accept, l);
    bool accepted_now = f.b->submit(acc);
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    operation con = make(op_kind::connect, c, &addr, len);
    REQUIRE((f.b->submit(con) || f.poll_until_done(con)));
    CHECK(con.result == 0);
    REQUIRE((accepted_now || f.poll_until_done(acc)));
    REQUIRE(acc.result >= 0);
    f.b->close(acc.result);
    f.b->close(c);
    f.b->close(l); // port free again: a connect there is refused
    int c2 = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    operation refused = make(op_kind::connect, c2, &addr, len);
    REQUIRE(f.run(refused));
    CHECK(refused.result == -ECONNREFUSED);
    f.b->close(c2);
}

TEST_CASE("backend: send_all goes on after partial sends until every byte is taken") {
    fixture f;
    socket_pair p(AF_INET);
    std::vector<char> data(4 << 20, 'x'); // far more than the socket buffers hold
    operation op = make(op_kind::send_all, p.b, data.data(), data.size());
    bool done = f.b->submit(op);
    std::vector<char> sink(1 << 16);
    std::size_t got = 0;
    for (int i = 0; i < 1'000'000 && got < data.size(); ++i) {
        ssize_t n = ::recv(p.a, sink.data(), sink.size(), MSG_DONTWAIT);
        if (n > 0) got += static_cast<std::size_t>(n);
        if (!done) f.b->poll(std::chrono::nanoseconds(0));
        done = done || op.state == op_state::done;
    }
    CHECK(got == data.size());
    REQUIRE((done || f.poll_until_done(op)));
    CHECK(op.result == 0);
    CHECK(op.sent == data.size());
}

TEST_CASE("backend: a pooled receive lends a buffer only when data came; release gives it back") {
    fixture f;
    socket_pair p(AF_INET);
    operation op = make(op_kind::recv_pooled, p.b);
    bool done = f.b->submit(op);
    if (!done) {
        f.b->poll(std::chrono::nanoseconds(0));
        const buffer_pool* pool = f.b->pool_if_any();
        CHECK((pool == nullptr || pool->in_use() == 0)); // a waiting socket holds none
        REQUIRE(::write(p.a, "pooled", 6) == 6);
        REQUIRE(f.poll_until_done(op));
    }
    REQUIRE(op.result == 6);
    CHECK(std::memcmp(op.buffer, "pooled", 6) == 0);
    REQUIRE(f.b->pool_if_any() != nullptr);
    CHECK(f.b->pool_if_any()->in_use() == 1);
    f.b->release_buffer(op.buffer_id);
    CHECK(f.b->pool_if_any()->in_use() == 0);
}

TEST_CASE("backend: close() with received data queued gives every pool buffer back") {
    fixture f;
    socket_pair p(AF_INET);
    operation op = make(op_kind::recv_pooled, p.b);
    if (f.b->submit(op) || (::write(p.a, "1", 1) == 1 && f.poll_until_done(op)))
        f.b->release_buffer(op.buffer_id);
    // More data than one buffer, while nobody receives: some backends queue it.
    std::vector<char> data(64 * 1024, 'q');
    REQUIRE(::write(p.a, data.data(), data.size()) > 0);
    for (int i = 0; i < 20; ++i)
        f.b->poll(std::chrono::milliseconds(1));
    int fd = std::exchange(p.b, -1);
    f.b->close(fd);
    CHECK(f.b->pool_if_any()->in_use() == 0);
    CHECK(f.b->in_flight() == 0);
}

TEST_CASE("backend: an operation on an fd that is not a socket fails; the backend goes on") {
    fixture f;
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    char buf[4];
    operation op = make(op_kind::recv, fds[0], buf, sizeof buf);
    REQUIRE(f.run(op));
    CHECK(op.result == -ENOTSOCK);
    ::close(fds[0]);
    ::close(fds[1]);
    socket_pair p;
    REQUIRE(::write(p.a, "ok", 2) == 2);
    operation next = make(op_kind::recv, p.b, buf, sizeof buf);
    REQUIRE(f.run(next));
    CHECK(next.result == 2);
}
