#include "test/test_util.hpp"
#include <coronet/net/byte_stream.hpp>
#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/unix_listener.hpp>
#include <coronet/net/unix_stream.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timeout.hpp>

#include <chrono>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

using namespace coronet;
using namespace std::chrono_literals;

static_assert(byte_stream<unix_stream> && byte_stream<tcp_stream>);

namespace {

// A fresh directory for socket files, removed (with its files) at the end.
struct temp_dir {
    std::string path;
    temp_dir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/coronet-unix-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        for (const char* f : {"/s.sock", "/stale.sock", "/file"})
            ::unlink((path + f).c_str());
        ::rmdir(path.c_str());
    }
    std::string file(const char* name) const { return path + "/" + name; }
};

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string unique_abstract_name() {
    static int n = 0;
    return "@coronet-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

template <class Listener, class Connect>
task<std::string> round_trip(Listener& l, Connect connect_fn, std::string text) {
    auto accepted = [](Listener& listener) -> task<> {
        auto s = co_await listener.accept();
        if (s) co_await test::echo(std::move(*s)); // generic: any stream type
    };
    spawn(accepted(l));
    auto conn = co_await connect_fn();
    auto c = std::move(conn).value();
    CHECK(co_await c.send_all(text));
    CHECK(c.shutdown());
    std::string reply;
    char buf[64];
    for (int guard = 0; guard < 10'000; ++guard) {
        auto n = co_await c.recv(std::span(buf));
        if (!n || *n == 0) break;
        reply.append(buf, *n);
    }
    co_return reply;
}

} // namespace

TEST_CASE("unix_stream: echo over a path in a temporary directory; close removes the file") {
    temp_dir dir;
    auto main = [](std::string path) -> task<> {
        auto l = unix_listener::bind(path).value();
        CHECK(l.local_address().to_string() == path);
        CHECK(exists(path));
        auto reply = co_await round_trip(
            l, [&] { return unix_stream::connect(path); }, "over a path");
        CHECK(reply == "over a path");
        l.close();
        CHECK_FALSE(exists(path));
    };
    test::run(main(dir.file("s.sock")));
}

TEST_CASE("unix_stream: echo over an abstract name; addresses on both sides") {
    auto main = []() -> task<> {
        std::string name = unique_abstract_name();
        auto l = unix_listener::bind(name).value();
        CHECK(l.local_address().is_abstract());
        CHECK(l.local_address().to_string() == name);
        spawn([](unix_listener& listener) -> task<> {
            auto s = (co_await listener.accept()).value();
            CHECK(s.peer_address().is_unnamed()); // the client did not bind
            CHECK(s.local_address().value() == listener.local_address());
            CHECK(s.peer_credentials().value().pid == ::getpid());
            co_await test::echo(std::move(s));
        }(l));
        auto c = (co_await unix_stream::connect(name)).value();
        CHECK(c.peer_address().to_string() == name);
        CHECK(co_await c.send_all("abstract"));
        std::string reply(8, '\0');
        std::size_t got = 0;
        for (int guard = 0; got < reply.size() && guard < 1000; ++guard) {
            auto n = co_await c.recv(std::span(reply).subspan(got));
            REQUIRE(n);
            REQUIRE(*n > 0);
            got += *n;
        }
        CHECK(reply == "abstract");
    };
    test::run(main());
}

TEST_CASE("unix_stream: the same generic echo works over TCP") {
    auto main = []() -> task<> {
        auto l = test::listen_loopback();
        auto reply = co_await round_trip(
            l, [&] { return tcp_stream::connect(l.local_address()); }, "generic");
        CHECK(reply == "generic");
    };
    test::run(main());
}

TEST_CASE("unix_address: a path that is too long is filename_too_long everywhere") {
    std::string longest(unix_address::max_length, 'x');
    CHECK(unix_address::from_path(longest));
    CHECK(unix_address::parse("@" + longest));
    std::string too_long = "/tmp/" + std::string(200, 'x');
    CHECK(unix_address::parse(too_long).error() == std::errc::filename_too_long);
    CHECK(unix_address::parse("@" + longest + "x").error() == std::errc::filename_too_long);
    CHECK(unix_listener::bind(too_long).error() == std::errc::filename_too_long);
    CHECK(unix_address::parse("").error() == std::errc::invalid_argument);
    CHECK(unix_address::parse("@").error() == std::errc::invalid_argument);
    CHECK(unix_address::from_path(std::string("a\0b", 3)).error() == std::errc::invalid_argument);
    auto main = [](std::string path) -> task<> {
        auto c = co_await unix_stream::connect(path);
        CHECK(c.error() == std::errc::filename_too_long);
        CHECK(c.error().message() == "File name too long");
    };
    test::run(main(too_long));
}

TEST_CASE("unix_stream: connecting where nobody listens") {
    temp_dir dir;
    auto main = [](std::string path) -> task<> {
        auto missing = co_await unix_stream::connect(path);
        CHECK(missing.error() == std::errc::no_such_file_or_directory);
        auto abstract = co_await unix_stream::connect(unique_abstract_name());
        CHECK(abstract.error() == std::errc::connection_refused);
    };
    auto before = test::open_fds();
    test::run(main(dir.file("s.sock")));
    CHECK(test::open_fds() == before);
}

TEST_CASE("unix_stream: EOF, then a peer reset and a broken pipe") {
    auto main = []() -> task<> {
        auto l = unix_listener::bind(unique_abstract_name()).value();
        auto c = (co_await unix_stream::connect(l.local_address())).value();
        auto s = (co_await l.accept()).value();
        s.close(); // with nothing unread: the client reads EOF
        std::byte buf[16];
        auto n = co_await c.recv(buf);
        REQUIRE(n);
        CHECK(*n == 0);
        auto sent = co_await c.send_all("to nobody");
        CHECK(sent.error() == std::errc::broken_pipe); // no SIGPIPE

        auto c2 = (co_await unix_stream::connect(l.local_address())).value();
        auto s2 = (co_await l.accept()).value();
        CHECK(co_await c2.send_all("never read"));
        s2.close(); // unread data: the client's next read is a reset
        auto r = co_await c2.recv(buf);
        CHECK(r.error() == std::errc::connection_reset);
    };
    test::run(main());
}

TEST_CASE("unix_listener: an existing file is never removed silently") {
    temp_dir dir;
    std::string stale_path = dir.file("stale.sock");
    std::string file_path = dir.file("file");
    { // a crashed server's socket file: bound, never removed
        auto l = unix_listener::bind(stale_path, {.remove_on_close = false}).value();
    }
    REQUIRE(exists(stale_path));
    int fd = ::open(file_path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
    auto main = [](std::string stale, std::string file) -> task<> {
        CHECK(unix_listener::bind(stale).error() == std::errc::address_in_use);
        auto refused = co_await unix_stream::connect(stale);
        CHECK(refused.error() == std::errc::connection_refused);
        CHECK(unix_listener::bind(file, {.replace_stale = true}).error() ==
              std::errc::address_in_use); // not a socket: left alone
        auto l = unix_listener::bind(stale, {.replace_stale = true});
        REQUIRE(l); // the stale socket was replaced
        CHECK(unix_listener::bind(stale, {.replace_stale = true}).error() ==
              std::errc::address_in_use); // a live one is not
        auto c = co_await unix_stream::connect(stale);
        CHECK(c);
    };
    test::run(main(stale_path, file_path));
    CHECK(exists(file_path));
    CHECK_FALSE(exists(stale_path)); // removed by the listener that made it
}

TEST_CASE("unix_listener: moving keeps one owner of the socket file") {
    temp_dir dir;
    std::string path = dir.file("s.sock");
    {
        auto a = unix_listener::bind(path).value();
        unix_listener b = std::move(a);
        a.close(); // the moved-from listener owns nothing
        CHECK(exists(path));
        CHECK(b.is_open());
    }
    CHECK_FALSE(exists(path));
}

TEST_CASE("unix_stream: cancellation — a timeout on recv, closing the listener under accept") {
    auto main = []() -> task<> {
        auto l = unix_listener::bind(unique_abstract_name()).value();
        auto c = (co_await unix_stream::connect(l.local_address())).value();
        auto s = (co_await l.accept()).value();
        std::byte buf[4];
        auto r = co_await with_timeout(5ms, c.recv(buf));
        CHECK(r.error() == error::timed_out);
        spawn([](unix_listener& listener) -> task<> {
            listener.close();
            co_return;
        }(l));
        auto a = co_await l.accept();
        CHECK(a.error() == std::errc::operation_canceled);
    };
    test::run(main());
}

namespace {

// The outcome of connects made by connect_counted.
struct connects {
    int done = 0;
    std::vector<unix_stream> streams;
    std::vector<std::error_code> errors;
};

task<> connect_counted(std::string name, connects& out) {
    auto c = co_await unix_stream::connect(name);
    ++out.done;
    if (c)
        out.streams.push_back(std::move(*c));
    else
        out.errors.push_back(c.error());
}

} // namespace

// Linux answers a non-blocking connect to a Unix listener whose backlog is
// full with EAGAIN (on io_uring too), and no readiness event says when the
// listener makes room: the connect waits (io_uring: blocking, in the
// kernel; epoll: connect(2) again on a timer that backs off).
TEST_CASE("unix_stream: connects to a listener whose backlog is full wait until it accepts") {
    auto main = []() -> task<> {
        std::string name = unique_abstract_name();
        auto l = unix_listener::bind(name, {.backlog = 1}).value();
        constexpr int n = 5;
        connects out;
        task_group g;
        for (int i = 0; i < n; ++i)
            g.spawn(connect_counted(name, out));
        // The backlog takes what it takes (backlog + 1 on Linux); the rest wait.
        CHECK(co_await test::yield_until([&] { return out.done >= 1; }));
        co_await test::yield_turns(200);
        CHECK(out.done < n);
        CHECK(out.errors.empty()); // before: EAGAIN
        std::vector<unix_stream> accepted;
        for (int i = 0; i < n; ++i) {
            auto a = co_await with_timeout(20s, l.accept());
            REQUIRE(a);
            accepted.push_back(std::move(*a));
        }
        co_await g.join();
        CHECK(out.done == n);
        CHECK(out.streams.size() == n);
        CHECK(out.errors.empty());
    };
    auto before = test::open_fds();
    test::run(main());
    CHECK(test::open_fds() == before);
}

TEST_CASE("unix_stream: a connect waiting for a full backlog is cancelled or refused cleanly") {
    auto main = []() -> task<> {
        std::string name = unique_abstract_name();
        auto l = unix_listener::bind(name, {.backlog = 0}).value();
        std::vector<unix_stream> queued; // fill the backlog (backlog + 1 on Linux)
        for (int i = 0; i < 8; ++i) {
            auto c = co_await with_timeout(20ms, unix_stream::connect(name));
            if (!c) {
                CHECK(c.error() == error::timed_out); // it waited, then timed out
                break;
            }
            queued.push_back(std::move(*c));
        }
        REQUIRE(queued.size() < 8);
        // A waiting connect gets the real error when the listener goes away.
        connects out;
        task_group g;
        g.spawn(connect_counted(name, out));
        co_await test::yield_turns(50);
        CHECK(out.done == 0);
        l.close();
        co_await g.join();
        REQUIRE(out.errors.size() == 1);
        CHECK(out.errors[0] == std::errc::connection_refused);
    };
    auto before = test::open_fds();
    test::run(main());
    CHECK(test::open_fds() == before);
}
