#pragma once
/// \class coronet::unix_stream
/// coronet::unix_stream: a connected Unix domain stream socket, with the same
/// members as tcp_stream, so code written for one (a template echo, a
/// stream_reader) works with both.
///
///     auto conn = co_await coronet::unix_stream::connect("/run/app.sock");  // or "@app"
///     if (!conn) { fmt::print("{}\n", conn.error().message()); co_return; }
///     co_await conn->send_all("Hello, world");
///     std::array<char, 1024> buf;
///     auto n = co_await conn->recv(buf);                                     // 0 = peer closed
///
/// Every operation returns a result: EOF (0 bytes) and a peer reset
/// (std::errc::connection_reset) are ordinary results, not exceptions. Sends
/// never raise SIGPIPE (a send to a closed peer is std::errc::broken_pipe).
///
/// Cancellation: as for tcp_stream. Cancelling the enclosing cancel_scope, a
/// timeout, or closing the stream cancels a pending operation and joins it
/// (see stream_socket); a result that completed anyway is returned.

#include "coronet/net/socket.hpp"
#include "coronet/net/stream_socket.hpp"
#include "coronet/net/unix_address.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"

#include <span>
#include <string_view>
#include <sys/socket.h>

namespace coronet {

class unix_stream : public stream_socket {
public:
    class connect_awaitable;

    /// A closed stream (every operation fails with bad_file_descriptor).
    unix_stream() noexcept = default;
    /// Takes ownership of a connected socket whose peer is `peer`.
    unix_stream(socket_handle socket, const unix_address& peer) noexcept
        : stream_socket(std::move(socket)), peer_(peer), peer_known_(true) {}
    /// Wraps a connected socket; its peer is asked for when peer_address() is.
    explicit unix_stream(socket_handle socket) noexcept : stream_socket(std::move(socket)) {}

    /// co_await → result<unix_stream>: connects to `peer`. A listener whose
    /// backlog is full makes the connect wait until it accepts (never
    /// resource_unavailable_try_again). Errors: no_such_file_or_directory
    /// (no socket at that path), connection_refused (nothing listens there,
    /// not a socket, or the listener closed while the connect waited),
    /// permission_denied, too_many_files_open, operation_canceled. Cancelled
    /// (its scope, a timeout): the attempt is cancelled and joined;
    /// operation_canceled, or the stream if it connected first.
    static connect_awaitable connect(const unix_address& peer) noexcept;
    /// Parses `address` (a path, or "@name" for an abstract socket; see
    /// unix_address) and connects; a bad address is the connect's error
    /// (filename_too_long, invalid_argument). Cancellation: as above.
    static connect_awaitable connect(std::string_view address);

    /// The peer's address: the path connected to, or (accepted) usually
    /// unnamed. An accepted connection asks the kernel (getpeername) on the
    /// first call only; unnamed if the kernel cannot tell.
    const unix_address& peer_address() const noexcept;
    /// The local address (getsockname): unnamed for a client, the path for an
    /// accepted connection. Errors: bad_file_descriptor on a closed stream.
    result<unix_address> local_address() const;
    /// The peer process's pid, uid and gid at connect time (SO_PEERCRED).
    /// Errors: bad_file_descriptor on a closed stream.
    result<ucred> peer_credentials() const noexcept;

private:
    mutable unix_address peer_;
    mutable bool peer_known_ = false;
};

/// The awaitable returned by unix_stream::connect: co_await it once for a
/// `result<unix_stream>`.
class [[nodiscard]] unix_stream::connect_awaitable : public detail::io_awaitable {
public:
    /// A connect to `peer` (made by connect()).
    explicit connect_awaitable(const unix_address& peer) noexcept : peer_(peer) {}
    /// Completes at once with `error` (a bad address).
    explicit connect_awaitable(std::error_code error) noexcept : error_(error) {}
    /// Opens the socket; a failure completes the connect at once.
    bool await_ready() noexcept;
    result<unix_stream> await_resume() noexcept;

private:
    unix_address peer_;
    socket_handle socket_;
    std::error_code error_;
};

inline unix_stream::connect_awaitable unix_stream::connect(const unix_address& peer) noexcept {
    return connect_awaitable(peer);
}

} // namespace coronet
