// accept_or_refuse (net/fd_reserve.hpp): at the fd limit a client is refused
// at once, the connections the server has go on, and accepting resumes when
// fds are freed. The process runs out of fds for real: the soft limit is
// lowered and every free slot taken by dup().
#include "test/test_util.hpp"
#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/unix_listener.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

namespace {

// Lowers the soft fd limit to a little above what is open; fill() then takes
// every free slot, and free_one() gives one back. The limit is lowered before
// the server starts: io_uring reads it when an accept is submitted.
class fd_exhaustion {
public:
    fd_exhaustion() {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit low = saved_;
        low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, test::open_fds() + 64);
        ::setrlimit(RLIMIT_NOFILE, &low);
    }
    ~fd_exhaustion() {
        for (int fd : dummies_)
            ::close(fd);
        ::setrlimit(RLIMIT_NOFILE, &saved_);
    }
    fd_exhaustion(const fd_exhaustion&) = delete;
    fd_exhaustion& operator=(const fd_exhaustion&) = delete;

    void fill() {
        for (int i = 0; i < 100'000; ++i) {
            int fd = ::dup(0);
            if (fd < 0) break;
            dummies_.push_back(fd);
        }
    }
    bool exhausted() const {
        int fd = ::dup(0);
        if (fd >= 0) ::close(fd);
        return fd < 0 && errno == EMFILE;
    }
    void free_one() {
        ::close(dummies_.back());
        dummies_.pop_back();
    }

private:
    rlimit saved_{};
    std::vector<int> dummies_;
};

// A client socket made while fds are free (socket() needs a slot; connect() does not).
int client_fd() {
    return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

// Connects (on loopback the handshake completes in the backlog, before any
// accept) and adopts the fd as a non-blocking tcp_stream.
tcp_stream connect_now(int fd, const socket_address& to) {
    REQUIRE(::connect(fd, to.data(), to.size()) == 0);
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    return tcp_stream(socket_handle(fd), to);
}

task<bool> echoes(tcp_stream& s, std::string text) {
    if (!co_await s.send_all(text)) co_return false;
    std::string back(text.size(), '\0');
    auto buf = std::as_writable_bytes(std::span(back));
    auto got = co_await with_timeout(10s, test::recv_exactly(s, buf));
    co_return got&&* got&& back == text;
}

struct server_state {
    std::size_t served = 0;
    std::size_t refused = 0;
    task_group connections; // joined before the listener goes away
};

task<> serve(tcp_listener& l, server_state& st) {
    for (;;) {
        auto c = co_await l.accept_or_refuse();
        if (c) {
            ++st.served;
            st.connections.spawn(test::echo(std::move(*c)));
        } else if (c.error() == std::errc::too_many_files_open) {
            ++st.refused;
        } else {
            co_return;
        }
    }
}

} // namespace

TEST_CASE("accept_or_refuse: at the fd limit a client is refused at once, the others go on, "
          "and accepting resumes when fds are freed") {
    auto main = []() -> task<> {
        fd_exhaustion limit;
        const std::size_t before = test::open_fds();
        auto l = test::listen_loopback();
        server_state st;
        task_group server;
        server.spawn(serve(l, st));
        for (int i = 0; i < 100 && test::open_fds() < before + 2; ++i)
            co_await sleep_for(0ms);           // until the server waits, its spare fd taken
        CHECK(test::open_fds() == before + 2); // the listener and its spare
        int a_fd = client_fd(), b_fd = client_fd(), c_fd = client_fd();
        tcp_stream a = connect_now(a_fd, l.local_address());
        CHECK(co_await echoes(a, "served before the limit"));
        // UBSan (sanitizer builds) checks a virtual call's target type the first
        // time it meets it, with a pipe: do that while fds are free.
        CHECK(std::error_code(EMFILE, std::generic_category()) == std::errc::too_many_files_open);
        limit.fill();
        REQUIRE(limit.exhausted());
        tcp_stream b = connect_now(b_fd, l.local_address());
        std::byte byte[1];
        auto r = co_await with_timeout(10s, b.recv(byte));
        CHECK((!r ? r.error() == std::errc::connection_reset : *r == 0)); // refused at once
        CHECK(st.refused == 1);
        CHECK(co_await echoes(a, "still served at the limit"));
        limit.free_one(); // a slot frees up: the next client is served
        tcp_stream c = connect_now(c_fd, l.local_address());
        CHECK(co_await echoes(c, "served after fds were freed"));
        CHECK(co_await echoes(a, "and a still is"));
        CHECK(st.refused == 1);
        CHECK(st.served == 2);
        l.close(); // ends the accept loop
        co_await server.join();
        a.close();
        c.close();
        co_await st.connections.join();
    };
    test::run(main());
}

TEST_CASE("accept_or_refuse: with fds to spare it is accept(); closing the listener ends it") {
    auto main = []() -> task<> {
        const std::size_t before = test::open_fds();
        {
            auto l = test::listen_loopback();
            auto client = co_await tcp_stream::connect(l.local_address());
            auto accepted = co_await l.accept_or_refuse();
            REQUIRE(accepted);
            CHECK(accepted->peer_address() == client->local_address().value());
            auto timed = co_await with_timeout(20ms, l.accept_or_refuse());
            CHECK(timed.error() == error::timed_out);
            CHECK(test::open_fds() == before + 4); // listener, spare, two ends
            l.close();
            CHECK(test::open_fds() == before + 2); // the spare goes with the listener
            auto closed = co_await l.accept_or_refuse();
            CHECK_FALSE(closed);
            CHECK(test::open_fds() == before + 2); // and is not taken again
        }
        CHECK(test::open_fds() == before);
        std::string path = "@coronet-refuse-test-" + std::to_string(::getpid());
        auto u = unix_listener::bind(path).value();
        auto uc = co_await unix_stream::connect(path);
        REQUIRE(uc);
        auto ua = co_await u.accept_or_refuse();
        CHECK(ua);
    };
    test::run(main());
}
