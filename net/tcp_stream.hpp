#pragma once
/// \class coronet::tcp_stream
/// coronet::tcp_stream: a connected TCP socket.
///
///     auto conn = co_await coronet::tcp_stream::connect(addr);   // result<tcp_stream>
///     if (!conn) { fmt::print("{}\n", conn.error().message()); co_return; }
///     co_await conn->send_all("Hello, world");
///     std::array<char, 1024> buf;
///     auto n = co_await conn->recv(buf);                          // 0 = peer closed
///
/// Every operation returns a result: EOF (0 bytes) and a peer reset
/// (std::errc::connection_reset) are ordinary results, not exceptions; use
/// .value() for the throwing form. Sends never raise SIGPIPE.
///
/// Cancellation: every operation is cancelled by its cancel_scope (see
/// runtime/cancel_scope.hpp), by a timeout around it (with_timeout), or by
/// closing the stream (close() or destruction) while another coroutine awaits
/// it. Cancellation is request + join: the kernel lets go of the buffer before
/// the operation completes, with std::errc::operation_canceled or, if it
/// finished first, with its real result (bytes received or sent).

#include "coronet/net/address.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/net/stream_socket.hpp"
#include "coronet/runtime/task.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace coronet {

class tcp_stream : public stream_socket {
public:
    class connect_awaitable;

    /// A closed stream (every operation fails with bad_file_descriptor).
    tcp_stream() noexcept = default;
    /// Takes ownership of a connected socket whose peer is `peer`.
    tcp_stream(socket_handle socket, const socket_address& peer) noexcept
        : stream_socket(std::move(socket)), peer_(peer), peer_known_(true) {}
    /// Wraps a connected socket; its peer is asked for when peer_address() is.
    explicit tcp_stream(socket_handle socket) noexcept : stream_socket(std::move(socket)) {}

    /// co_await → result<tcp_stream>: connects to `peer`. Errors:
    /// connection_refused, network_unreachable, timed_out (the kernel's),
    /// too_many_files_open, operation_canceled. Cancelled (its scope, a
    /// timeout): the attempt is cancelled and joined; operation_canceled,
    /// or the stream if it connected first.
    static connect_awaitable connect(const socket_address& peer) noexcept;
    /// co_await → result<tcp_stream>: resolves `host` (see resolve.hpp; a
    /// numeric host is not looked up) and tries each address in the order
    /// returned (IPv6 and IPv4 alike) until one connects. Errors: the lookup's
    /// (resolve_error::host_not_found, ...), else the LAST address's connect
    /// error. Cancellation stops at once with operation_canceled (the running
    /// attempt is cancelled and joined; a lookup in progress is abandoned).
    static task<result<tcp_stream>> connect(std::string_view host, std::uint16_t port);

    /// Disables (true) or enables Nagle's algorithm (TCP_NODELAY). Errors:
    /// those of setsockopt(2), e.g. bad_file_descriptor on a closed stream.
    result<void> set_nodelay(bool on) noexcept;
    /// The peer's address, as accepted or connected to. An accepted
    /// connection asks the kernel (getpeername) on the first call only, so
    /// a server that never asks pays nothing; if the kernel cannot tell
    /// (the connection is already reset), the address is 0.0.0.0:0.
    const socket_address& peer_address() const noexcept;
    /// The local address (getsockname): the port the kernel chose for a
    /// client. Errors: bad_file_descriptor on a closed stream.
    result<socket_address> local_address() const { return socket_.local_address(); }

private:
    mutable socket_address peer_;
    mutable bool peer_known_ = false;
};

/// The awaitable returned by tcp_stream::connect(const socket_address&):
/// co_await it once for a `result<tcp_stream>`.
class [[nodiscard]] tcp_stream::connect_awaitable : public detail::io_awaitable {
public:
    /// A connect to `peer` (made by connect()).
    explicit connect_awaitable(const socket_address& peer) noexcept : peer_(peer) {}
    /// Opens the socket; a failure completes the connect at once.
    bool await_ready() noexcept;
    result<tcp_stream> await_resume() noexcept;

private:
    socket_address peer_;
    socket_handle socket_;
    std::error_code open_error_;
};

inline tcp_stream::connect_awaitable tcp_stream::connect(const socket_address& peer) noexcept {
    return connect_awaitable(peer);
}

} // namespace coronet
