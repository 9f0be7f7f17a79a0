#pragma once
// Helpers shared by coronet's tests: running a task on a fresh loop, a
// loopback listener on port 0 and connected stream pairs, bounded trips
// through the loop, backend feature checks, and counting the process's
// open fds.

#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/cancel_scope.hpp>
#include <coronet/runtime/detail/loop_access.hpp>
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <dirent.h>
#include <doctest/doctest.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <vector>

namespace test {

/// Runs `t` on a new loop (backend from CORONET_BACKEND) and returns its value.
template <class T>
T run(coronet::task<T> t) {
    return coronet::run(std::move(t));
}

/// A listener on 127.0.0.1 (or ::1), port 0.
inline coronet::tcp_listener listen_loopback(bool v6 = false) {
    auto a = v6 ? coronet::socket_address::loopback_v6() : coronet::socket_address::loopback_v4();
    return coronet::tcp_listener::bind(a).value();
}

/// A connected loopback TCP pair: `client` connected, `server` accepted.
struct stream_pair {
    coronet::tcp_stream client;
    coronet::tcp_stream server;
};

/// Connects a client to `l` and accepts it; throws (failing the test) if
/// either side fails.
inline coronet::task<stream_pair> connect_pair(coronet::tcp_listener& l) {
    auto c = (co_await coronet::tcp_stream::connect(l.local_address())).value();
    auto s = (co_await l.accept()).value();
    co_return stream_pair{std::move(c), std::move(s)};
}

/// Whether connect_pair() sets TCP_NODELAY on the server side.
enum class server_nodelay : bool { off, on };

/// A pair over a listener of its own on 127.0.0.1, port 0 (closed once the
/// pair is connected). With server_nodelay::on, the server side gets
/// TCP_NODELAY, checked to succeed.
inline coronet::task<stream_pair> connect_pair(server_nodelay nodelay = server_nodelay::off) {
    auto l = listen_loopback();
    auto p = co_await connect_pair(l);
    if (nodelay == server_nodelay::on) CHECK(p.server.set_nodelay(true));
    co_return p;
}

/// Whether `loop` has backend feature `name` (a word of backend_features()).
inline bool has_feature(const coronet::event_loop& loop, std::string_view name) {
    std::string all = " " + loop.backend_features() + " ";
    return all.find(" " + std::string(name) + " ") != std::string::npos;
}

/// Whether the running loop has backend feature `name`.
inline bool has_feature(std::string_view name) {
    return has_feature(coronet::current_loop(), name);
}

/// Yields to the loop until `done()` holds, at most `turns` loop trips;
/// returns done().
template <class F>
coronet::task<bool> yield_until(F done, int turns = 200'000) {
    for (int i = 0; i < turns && !done(); ++i)
        co_await coronet::sleep_for(std::chrono::milliseconds(0));
    co_return done();
}

/// `turns` trips through the loop (to show that something does NOT happen).
inline coronet::task<> yield_turns(int turns) {
    for (int i = 0; i < turns; ++i)
        co_await coronet::sleep_for(std::chrono::milliseconds(0));
}

/// Cancels `s` after `turns` trips through the loop (spawn it beside the
/// operation `s` runs).
inline coronet::task<> cancel_after(coronet::cancel_scope& s, int turns) {
    co_await yield_turns(turns);
    s.cancel();
}

/// Whether `a` and `b` hold the same bytes.
inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

/// Open file descriptors of this process.
inline std::size_t open_fds() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr)
            ++n;
        ::closedir(d);
    }
    return n - 3; // ".", ".." and the directory's own fd
}

/// Raises the soft fd limit to the hard limit; returns the new soft limit.
inline rlim_t raise_fd_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

/// Bytes 0..n-1 of a deterministic pattern seeded by `seed`.
inline std::vector<std::byte> pattern(std::size_t n, unsigned seed = 1) {
    std::vector<std::byte> v(n);
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<std::byte>(x);
    }
    return v;
}

/// Receives exactly buf.size() bytes; false on EOF or error first.
inline coronet::task<bool> recv_exactly(coronet::tcp_stream& s, std::span<std::byte> buf) {
    std::size_t got = 0;
    for (int guard = 0; got < buf.size() && guard < 100'000'000; ++guard) {
        auto n = co_await s.recv(buf.subspan(got));
        if (!n || *n == 0) co_return false;
        got += *n;
    }
    co_return got == buf.size();
}

/// Echoes until EOF or error (the server side of most tests), on any
/// stream type (tcp_stream, unix_stream).
template <class Stream>
coronet::task<> echo(Stream s) {
    std::byte buf[16384];
    for (;;) {
        auto n = co_await s.recv(buf);
        if (!n || *n == 0) co_return;
        if (!co_await s.send_all(std::span(buf, *n))) co_return;
    }
}

/// Accepts `count` connections and spawns echo() for each.
inline coronet::task<> serve_echo(coronet::tcp_listener& l, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        auto c = co_await l.accept();
        if (!c) co_return;
        coronet::spawn(echo(std::move(*c)));
    }
}

} // namespace test

namespace test {

/// Test-only join point: wait() resumes once count_down() was called
/// `count` times.
class latch {
public:
    explicit latch(std::size_t count) : count_(count) {}
    void count_down() {
        if (--count_ == 0 && waiter_) coronet::detail::schedule(waiter_);
    }
    auto wait() {
        struct awaiter {
            latch& l;
            bool await_ready() const noexcept { return l.count_ == 0; }
            void await_suspend(std::coroutine_handle<> h) noexcept { l.waiter_ = h; }
            void await_resume() const noexcept {}
        };
        return awaiter{*this};
    }

private:
    std::size_t count_;
    std::coroutine_handle<> waiter_;
};

} // namespace test
