// The suites' stream workloads under a randomised fault schedule (the
// backends' test-only seam, runtime/detail/fault.hpp), in every backend
// configuration: an echo of a pattern (TCP and Unix, plain and pooled
// receives on both sides), framed messages, and buffered lines and blocks
// (stream_reader and stream_writer). The schedules, the seeds and what is
// checked are described in fault_harness.hpp; each run prints its seed,
// and CORONET_FAULT_SEED=N runs seed N alone.
#include "test/net/fault_harness.hpp"

using namespace fault_suite;

namespace {

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
