#pragma once
// Helpers shared by the pooled-receive tests (recv_pooled_*_test.cpp,
// buffer_lease_test.cpp): the running loop's pool counters, a sender that
// cuts its data into irregular chunks, and one pooled receive that reports
// when it started and finished.

#include "test/test_util.hpp"
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/buffer_lease.hpp>
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/result.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <span>
#include <sys/socket.h>

namespace test {

/// The running loop's counters (pool_buffers_in_use and the like).
inline coronet::loop_stats stats() {
    return coronet::current_loop().stats();
}

/// Sends `data` in irregular chunks (1 byte to 200 KB, across the pool's
/// buffer sizes), then half-closes unless `eof` is false; `ok` becomes true
/// if all of it went out.
inline coronet::task<> send_chunks(coronet::tcp_stream& s, std::span<const std::byte> data,
                                   bool& ok, bool eof = true) {
    static constexpr std::size_t sizes[] = {1,     7,   4096,  100, 16384,  16385, 3,
                                            65536, 999, 32768, 5,   200000, 63,    64};
    std::size_t off = 0;
    for (std::size_t i = 0; off < data.size(); ++i) {
        std::size_t n = std::min(sizes[i % std::size(sizes)], data.size() - off);
        if (!co_await s.send_all(data.subspan(off, n))) co_return;
        off += n;
    }
    if (eof && !s.shutdown(SHUT_WR)) co_return;
    ok = true;
}

/// One pooled receive on `s` into `out`: `started` is set before it waits,
/// `done` once it has a result.
inline coronet::task<> pooled_once(coronet::tcp_stream& s, bool& started, bool& done,
                                   coronet::result<coronet::buffer_lease>& out) {
    started = true;
    out = co_await s.recv_pooled();
    done = true;
}

} // namespace test
