// Cancellation and resource workloads under a randomised fault schedule
// (see fault_harness.hpp), in every backend configuration: cancellation
// storms of recv and accept, pooled receives from a pool that runs dry,
// receives under short timeouts, and closes under pending receives. Each
// run prints its seed; CORONET_FAULT_SEED=N runs seed N alone.
#include "test/net/fault_harness.hpp"

using namespace fault_suite;

namespace {

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
