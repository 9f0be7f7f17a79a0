#pragma once
/// \class coronet::stream_socket
/// coronet::stream_socket: what every connected byte stream does the same way
/// (tcp_stream and unix_stream derive from it): recv, send, send_all,
/// half-close and close on the socket it owns.
///
/// Every operation returns a result, EOF is a 0-byte recv, sends never raise
/// SIGPIPE, and a cancelled operation (scope, timeout, or close() from another
/// coroutine) is joined before it completes with operation_canceled or with
/// the result it reached anyway; each member says its errors.

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
    /// Takes ownership of a connected stream socket.
    explicit stream_socket(socket_handle socket) noexcept : socket_(std::move(socket)) {}

    /// co_await → result<std::size_t>: receives between 1 and buf.size()
    /// bytes, or 0 when the peer closed its write side (EOF). Errors:
    /// connection_reset, operation_canceled, and those of recv(2). Cancelled
    /// (its scope, a timeout, close()): the receive is cancelled and joined;
    /// operation_canceled, or the byte count if data arrived first.
    detail::recv_awaitable recv(std::span<std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    /// recv into a char buffer.
    detail::recv_awaitable recv(std::span<char> buf) noexcept {
        return recv(std::as_writable_bytes(buf));
    }
    /// co_await → result<buffer_lease>: the bytes received, in a buffer lent
    /// by the loop's receive pool (at most loop_options::pool_buffer_size
    /// bytes); an empty lease means EOF. The buffer is taken only when data
    /// has arrived, so memory grows with the connections that have data, not
    /// with those that wait; when every buffer is leased, the receive waits
    /// for one to come back. Errors: as recv. Cancelled: operation_canceled,
    /// or the data if it had already arrived; nothing is lost (data the
    /// kernel received stays queued for the next receive).
    detail::recv_pooled_awaitable recv_pooled() noexcept {
        return detail::recv_pooled_awaitable(socket_.native_handle());
    }
    /// co_await → result<std::size_t>: sends some of `buf`, at least 1 byte
    /// and possibly fewer than asked. Errors: broken_pipe, connection_reset,
    /// operation_canceled. Never raises SIGPIPE. Cancelled: operation_canceled,
    /// or the byte count if the kernel took bytes first.
    detail::send_awaitable send(std::span<const std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    /// send for text: some of the bytes of `s`.
    detail::send_awaitable send(std::string_view s) noexcept {
        return send(std::as_bytes(std::span(s.data(), s.size())));
    }
    /// co_await → result<void>: sends all of `buf`, like Python's sendall():
    /// every byte, or the error that stopped it. The awaitable's bytes_sent()
    /// tells how far it got, also after an error or a cancellation. Errors:
    /// broken_pipe, connection_reset, operation_canceled. Never raises
    /// SIGPIPE. Cancelled (its scope, a timeout, close()): operation_canceled,
    /// with bytes_sent() what the kernel took. A cancelled zero-copy send
    /// (io_uring, loop_options::zero_copy_min) resets the connection.
    detail::send_all_awaitable send_all(std::span<const std::byte> buf) noexcept {
        return {socket_.native_handle(), buf};
    }
    /// send_all for text: all the bytes of `s`.
    detail::send_all_awaitable send_all(std::string_view s) noexcept {
        return send_all(std::as_bytes(std::span(s.data(), s.size())));
    }

    /// Half-close: shuts down the write side (the peer reads EOF), or `how`
    /// (SHUT_RD, SHUT_WR, SHUT_RDWR). Errors: not_connected, bad_file_descriptor.
    result<void> shutdown(int how = SHUT_WR) noexcept;
    /// Closes the stream: operations other coroutines await on it are
    /// cancelled and joined first. Idempotent.
    void close() noexcept { socket_.close(); }
    /// False once closed (or when default-constructed).
    bool is_open() const noexcept { return socket_.is_open(); }
    /// The descriptor (still owned by the stream).
    int native_handle() const noexcept { return socket_.native_handle(); }
    /// The descriptor's owner, for socket options (set_option) and addresses.
    socket_handle& socket() noexcept { return socket_; }
    /// Makes the running loop forget the stream so that it may move to a
    /// task on another loop (see socket_handle::forget_loop, which also says
    /// what error::data_pending asks). Needed only if operations ran on it
    /// here; an accepted stream can move as it is.
    result<void> forget_loop() noexcept { return socket_.forget_loop(); }

protected:
    /// The socket this stream owns.
    socket_handle socket_;
};

} // namespace coronet
