#pragma once
// Test doubles for coronet::byte_stream:
// - memory_stream: an in-memory stream that delivers its input at most
//   `chunk` bytes per recv (arbitrary packet boundaries, deterministically)
//   and records every send;
// - hooked_stream<S>: forwards to a real stream and calls a hook after every
//   recv completes (to act at an exact point of a read without sleeping).

#include <coronet/net/byte_stream.hpp>
#include <coronet/runtime/result.hpp>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace test {

inline std::vector<std::byte> bytes_of(std::string_view s) {
    auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

inline std::string text_of(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// An awaitable that is always ready: what an in-memory stream's recv and
/// send_all return (also used by the fuzz targets' chunked_stream).
template <class T>
struct ready {
    T value;
    std::size_t sent = 0;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    T await_resume() { return std::move(value); }
    std::size_t bytes_sent() const noexcept { return sent; }
};

class memory_stream {
public:
    explicit memory_stream(std::string_view in = {}, std::size_t max_chunk = 1)
        : input(bytes_of(in)), chunk(max_chunk) {}

    ready<coronet::result<std::size_t>> recv(std::span<std::byte> buf) {
        ++recvs;
        std::size_t n = std::min({chunk, buf.size(), input.size() - pos});
        if (n) std::memcpy(buf.data(), input.data() + pos, n);
        pos += n;
        return {n};
    }

    /// Takes min(accept_limit, buf.size()) bytes; fails with send_error if
    /// that is not everything and send_error is set.
    ready<coronet::result<void>> send_all(std::span<const std::byte> buf) {
        ++sends;
        largest_send = std::max(largest_send, buf.size());
        std::size_t n = std::min(accept_limit, buf.size());
        output.insert(output.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        accept_limit -= n;
        if (n < buf.size()) return {send_error, n};
        return {coronet::result<void>{}, n};
    }

    std::vector<std::byte> input;
    std::size_t pos = 0;
    std::size_t chunk;
    std::size_t recvs = 0;
    std::vector<std::byte> output;
    std::size_t sends = 0;
    std::size_t largest_send = 0;
    std::size_t accept_limit = static_cast<std::size_t>(-1);
    std::error_code send_error = std::make_error_code(std::errc::broken_pipe);
};

static_assert(coronet::byte_stream<memory_stream>);

template <class S>
class hooked_stream {
public:
    template <class A>
    struct hooked {
        A inner;
        std::function<void(std::size_t)>& hook;
        bool await_ready() { return inner.await_ready(); }
        template <class P>
        auto await_suspend(std::coroutine_handle<P> h) {
            return inner.await_suspend(h);
        }
        coronet::result<std::size_t> await_resume() {
            auto r = inner.await_resume();
            if (r && hook) hook(*r);
            return r;
        }
    };

    explicit hooked_stream(S& s) : s_(s) {}
    auto recv(std::span<std::byte> buf) {
        return hooked<decltype(s_.recv(buf))>{s_.recv(buf), on_recv};
    }
    auto send_all(std::span<const std::byte> buf) { return s_.send_all(buf); }

    /// Called with the byte count after every successful recv.
    std::function<void(std::size_t)> on_recv;

private:
    S& s_;
};

} // namespace test
