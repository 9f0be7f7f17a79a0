#include "test/test_util.hpp"

#include <doctest/doctest.h>

using namespace coronet;

namespace {

constexpr std::size_t connections = 1000;
constexpr int rounds = 5;

// One client: `rounds` round trips of distinct content, each checked.
task<> client(socket_address addr, unsigned id, std::size_t& ok, test::latch& done) {
    auto c = co_await tcp_stream::connect(addr);
    if (c) {
        bool good = true;
        for (int r = 0; r < rounds && good; ++r) {
            auto msg = test::pattern(1 + (id * 131 + r * 977) % 4096, id * 10 + r);
            std::vector<std::byte> back(msg.size());
            good = (co_await c->send_all(msg)) && (co_await test::recv_exactly(*c, back)) &&
                   back == msg;
        }
        if (good) ++ok;
    }
    done.count_down();
}

} // namespace

TEST_CASE("tcp: 1,000 concurrent connections, several checked round trips each, one thread") {
    REQUIRE(test::raise_fd_limit() >= 2 * connections + 64);
    auto before = test::open_fds();
    auto main = []() -> task<std::size_t> {
        auto l = test::listen_loopback();
        spawn(test::serve_echo(l, connections));
        std::size_t ok = 0;
        test::latch done(connections);
        for (unsigned i = 0; i < connections; ++i)
            spawn(client(l.local_address(), i, ok, done));
        co_await done.wait();
        co_return ok;
    };
    CHECK(test::run(main()) == connections);
    CHECK(test::open_fds() == before);
}
