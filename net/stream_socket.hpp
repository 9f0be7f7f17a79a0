#pragma once
// coronet::stream_socket: what every connected byte stream does the same way
// (tcp_stream and unix_stream derive from it): recv, send, send_all,
// half-close and close on the socket it owns.
//
// Errors and cancellation are those of the awaitables in
// net/detail/stream_ops.hpp: every operation returns a result, EOF is a
// 0-byte recv, sends never raise SIGPIPE, and a cancelled operation (scope,
// timeout, or close() from another coroutine) is joined before it completes
// with operation_canceled or with the result it reached anyway.

#include "coronet/net/detail/stream_ops.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/runtime/result.hpp"

#include <span>
#include <string_view>
#include <sys/socket.h>
#include <utility>

namespace coronet {

class stream_socket {
public:
    stream_socket() noexcept = default;
    explicit stream_socket(socket_handle socket) noexcept : socket_(std::move(socket)) {}

    /// Receives up to buf.size() bytes (see detail::recv_awaitable).
    detail::recv_awaitable recv(std::span<std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    detail::recv_awaitable recv(std::span<char> buf) noexcept {
        return recv(std::as_writable_bytes(buf));
    }
    /// Receives into a buffer borrowed from the loop's pool (see
    /// detail::recv_pooled_awaitable and buffer_lease): memory grows with
    /// the connections that have data, not with those that wait.
    detail::recv_pooled_awaitable recv_pooled() noexcept {
        return detail::recv_pooled_awaitable(socket_.native_handle());
    }
    /// Sends some of `buf` (see detail::send_awaitable).
    detail::send_awaitable send(std::span<const std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    detail::send_awaitable send(std::string_view s) noexcept {
        return send(std::as_bytes(std::span(s.data(), s.size())));
    }
    /// Sends all of `buf`, like Python's sendall() (see detail::send_all_awaitable).
    detail::send_all_awaitable send_all(std::span<const std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    detail::send_all_awaitable send_all(std::string_view s) noexcept {
        return send_all(std::as_bytes(std::span(s.data(), s.size())));
    }

    /// Half-close: shuts down the write side (the peer reads EOF), or `how`
    /// (SHUT_RD, SHUT_WR, SHUT_RDWR). Errors: not_connected, bad_file_descriptor.
    result<void> shutdown(int how = SHUT_WR) noexcept;
    /// Closes the stream: operations other coroutines await on it are
    /// cancelled and joined first. Idempotent.
    void close() noexcept { socket_.close(); }
    bool is_open() const noexcept { return socket_.is_open(); }
    int native_handle() const noexcept { return socket_.native_handle(); }
    socket_handle& socket() noexcept { return socket_; }

protected:
    socket_handle socket_;
};

} // namespace coronet
