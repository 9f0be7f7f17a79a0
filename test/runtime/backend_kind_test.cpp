#include "test/test_util.hpp"
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/event_loop.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace coronet;

namespace {

// Makes io_uring_setup fail with `err` in this process, as a container's
// seccomp profile or kernel.io_uring_disabled would.
bool block_io_uring(int err) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & 0xffff)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Runs `body` in a child process; returns its exit code (128+N for signal N).
template <class F>
int in_child(F body) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::alarm(20); // the child's own watchdog
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

task<int> echo_once() {
    auto listener = test::listen_loopback();
    spawn(test::serve_echo(listener, 1));
    auto c = co_await tcp_stream::connect(listener.local_address());
    if (!c || !co_await c->send_all("ping")) co_return 10;
    std::byte buf[4];
    co_return (co_await test::recv_exactly(*c, buf)) ? 0 : 11;
}

// In a child with io_uring blocked by `err`: forcing io_uring is a clear
// error, auto falls back to epoll and really serves I/O.
int fallback_child(int err, const char* expected_reason) {
    if (!block_io_uring(err)) return 3;
    std::string why = backend_unavailable_reason(backend_kind::io_uring);
    if (why.find(expected_reason) == std::string::npos) return 4;
    try {
        event_loop forced(loop_options{backend_kind::io_uring});
        return 5;
    } catch (const backend_unavailable& e) {
        std::string msg = e.what();
        if (msg.find("io_uring") == std::string::npos || msg.find('\n') != std::string::npos)
            return 6;
    }
    event_loop loop(loop_options{backend_kind::automatic});
    if (loop.backend() != backend_kind::epoll) return 7;
    return loop.run_until_complete(echo_once());
}

} // namespace

TEST_CASE("backend_kind: names round trip") {
    for (auto k : {backend_kind::automatic, backend_kind::io_uring, backend_kind::epoll})
        CHECK(parse_backend_kind(to_string(k)) == k);
    CHECK_FALSE(parse_backend_kind("uring"));
    CHECK_FALSE(parse_backend_kind(""));
}

TEST_CASE("backend_kind: a bad CORONET_BACKEND is a clear error") {
    int code = in_child([] {
        ::setenv("CORONET_BACKEND", "kqueue", 1);
        try {
            event_loop loop;
        } catch (const std::invalid_argument& e) {
            return std::string(e.what()).find("'kqueue'") != std::string::npos ? 0 : 2;
        }
        return 1;
    });
    CHECK(code == 0);
}

TEST_CASE("backend_kind: an explicit option beats CORONET_BACKEND") {
    event_loop loop(loop_options{backend_kind::epoll});
    CHECK(loop.backend() == backend_kind::epoll);
}

TEST_CASE("backend_kind: auto picks io_uring where it works") {
    if (!backend_unavailable_reason(backend_kind::io_uring).empty()) {
        MESSAGE("io_uring unavailable here: auto must pick epoll");
        event_loop loop(loop_options{backend_kind::automatic});
        CHECK(loop.backend() == backend_kind::epoll);
        return;
    }
    event_loop loop(loop_options{backend_kind::automatic});
    CHECK(loop.backend() == backend_kind::io_uring);
}

TEST_CASE("backend_kind: falls back to epoll when seccomp returns EPERM for io_uring_setup") {
    CHECK(in_child([] { return fallback_child(EPERM, "EPERM"); }) == 0);
}

TEST_CASE("backend_kind: falls back to epoll when the kernel has no io_uring (ENOSYS)") {
    CHECK(in_child([] { return fallback_child(ENOSYS, "ENOSYS"); }) == 0);
}

namespace {

// In a child: CORONET_FAST_PATHS=`value`; 0 if configured_fast_paths() and a
// loop agree with `expected`.
int fast_paths_child(const char* value, bool expected) {
    ::setenv("CORONET_FAST_PATHS", value, 1);
    if (configured_fast_paths() != expected) return 2;
    event_loop loop;
    if (loop.fast_paths() != expected) return 3;
    if (loop.backend() == backend_kind::io_uring && !expected) {
        // Plain mode: none of the optional kernel features.
        for (const char* f : {"multishot_accept", "multishot_recv", "provided_buffers", "send_zc",
                              "linked_timeout", "defer_taskrun", "registered_ring"})
            if (test::has_feature(loop, f)) return 4;
    }
    return loop.run_until_complete(echo_once()) == 0 ? 0 : 5;
}

} // namespace

TEST_CASE("backend_kind: CORONET_FAST_PATHS accepts 1|on|0|off, and unset or empty means on") {
    CHECK(in_child([] { return fast_paths_child("1", true); }) == 0);
    CHECK(in_child([] { return fast_paths_child("on", true); }) == 0);
    CHECK(in_child([] { return fast_paths_child("", true); }) == 0);
    CHECK(in_child([] { return fast_paths_child("0", false); }) == 0);
    CHECK(in_child([] { return fast_paths_child("off", false); }) == 0);
    CHECK(in_child([] {
              ::unsetenv("CORONET_FAST_PATHS");
              return configured_fast_paths() ? 0 : 1;
          }) == 0);
}

TEST_CASE("backend_kind: a bad CORONET_FAST_PATHS is a clear error and no loop is made") {
    for (const char* bad : {"yes", "true", "2", "ON", " 1", "of"}) {
        CAPTURE(bad);
        int code = in_child([bad] {
            ::setenv("CORONET_FAST_PATHS", bad, 1);
            try {
                (void)configured_fast_paths();
                return 1;
            } catch (const std::invalid_argument& e) {
                std::string msg = e.what();
                if (msg.find("CORONET_FAST_PATHS") == std::string::npos) return 2;
                if (msg.find(std::string("'") + bad + "'") == std::string::npos) return 3;
                if (msg.find('\n') != std::string::npos) return 4;
            }
            try {
                event_loop loop;
                return 5;
            } catch (const std::invalid_argument&) {
            }
            if (event_loop::current() != nullptr) return 6;
            // An explicit option does not read the variable: this loop is made.
            loop_options o;
            o.fast_paths = false;
            event_loop loop(o);
            if (loop.fast_paths()) return 7;
            return loop.run_until_complete(echo_once()) == 0 ? 0 : 8;
        });
        CHECK(code == 0);
    }
}

TEST_CASE("backend_kind: loop_options::fast_paths beats CORONET_FAST_PATHS") {
    int code = in_child([] {
        ::setenv("CORONET_FAST_PATHS", "0", 1);
        loop_options o;
        o.fast_paths = true;
        event_loop loop(o);
        return loop.fast_paths() ? 0 : 1;
    });
    CHECK(code == 0);
}
