#pragma once
// Helpers shared by coronet's tests: running a task on a fresh loop, a
// loopback listener on port 0, and counting the process's open fds.

#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/detail/loop_access.hpp>
#include <coronet/runtime/event_loop.hpp>

#include <cstddef>
#include <dirent.h>
#include <span>
#include <string>
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

/// Echoes until EOF or error (the server side of most tests).
inline coronet::task<> echo(coronet::tcp_stream s) {
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
