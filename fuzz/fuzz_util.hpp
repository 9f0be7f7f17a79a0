#pragma once
// Shared by the fuzz targets: running a task without an event loop, and an
// in-memory byte_stream (like test/net/memory_stream.hpp) whose packet
// boundaries and failures the fuzzer chooses.
//
// Every await in these targets is on chunked_stream, whose awaitables are
// always ready, so a task runs to completion inside one resume(): no loop,
// no kernel, thousands of inputs a second.

#include <coronet/net/byte_stream.hpp>
#include <coronet/runtime/result.hpp>
#include <coronet/runtime/task.hpp>

#include "test/net/memory_stream.hpp"

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <system_error>
#include <vector>

namespace fuzz {

/// Fails the input: libFuzzer reports the abort as a crash and keeps the input.
[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

inline void check(bool ok, const char* what) {
    if (!ok) fail(what);
}

/// Runs `t` to completion on this thread. A task that suspends would need a
/// loop: that is a bug in the target, not in the code under test.
template <class T>
T run_now(coronet::task<T> t) {
    t.handle().resume();
    check(t.done(), "a task suspended on an always-ready stream");
    return t.take_result();
}

/// The stream's recv fails with this when the schedule says so.
inline const std::error_code injected = std::make_error_code(std::errc::connection_reset);

/// A byte_stream over `input`: recv number i delivers at most chunks[i % size]
/// bytes; a chunk of 0 fails that recv with `injected` (at most `max_failures`
/// times in all, then it delivers 1 byte), and at the end of the input recv
/// returns 0 (EOF). send_all appends to `output`.
class chunked_stream {
public:
    template <class T>
    using ready = test::ready<T>;

    chunked_stream(std::span<const std::byte> in, std::vector<std::size_t> chunk_sizes,
                   std::size_t max_failures = 8)
        : input(in), chunks(std::move(chunk_sizes)), failures_left(max_failures) {
        if (chunks.empty()) chunks.push_back(1);
    }

    ready<coronet::result<std::size_t>> recv(std::span<std::byte> buf) {
        std::size_t want = chunks[next++ % chunks.size()];
        if (want == 0 && failures_left > 0 && pos < input.size()) {
            --failures_left;
            ++failures;
            return {coronet::result<std::size_t>(injected)};
        }
        std::size_t n = std::min({std::max<std::size_t>(want, 1), buf.size(), input.size() - pos});
        if (n) std::memcpy(buf.data(), input.data() + pos, n);
        pos += n;
        return {n};
    }

    ready<coronet::result<void>> send_all(std::span<const std::byte> buf) {
        output.insert(output.end(), buf.begin(), buf.end());
        return {coronet::result<void>{}, buf.size()};
    }

    std::span<const std::byte> input;
    std::size_t pos = 0; ///< bytes of input delivered so far
    std::vector<std::size_t> chunks;
    std::size_t next = 0;
    std::size_t failures_left;
    std::size_t failures = 0; ///< recvs failed with `injected` so far
    std::vector<std::byte> output;
};

static_assert(coronet::byte_stream<chunked_stream>);

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

} // namespace fuzz
