#pragma once
/// \class coronet::tcp_listener
/// coronet::tcp_listener: a listening TCP socket.
///
///     auto listener = coronet::tcp_listener::bind("127.0.0.1:0").value();
///     fmt::print("listening on {}\n", listener.local_address());   // real port
///     for (;;) {
///         auto conn = co_await listener.accept();                    // result<tcp_stream>
///         if (conn) coronet::spawn(echo(std::move(*conn)));
///     }
///
/// bind() needs no running loop, so a listener can be made before run().
///
/// At the fd limit, accept() fails with too_many_files_open at once and the
/// clients in the backlog wait unanswered. accept_or_refuse() is accept() with
/// the reserve-fd technique (net/fd_reserve.hpp) for that case: the listener
/// keeps one spare fd, and when accepting fails for want of fds it frees the
/// spare, accepts one client, resets that connection at once and takes the
/// spare back. Servers should loop on it:
///
///     auto conn = co_await listener.accept_or_refuse();
///     if (conn) spawn(serve(std::move(*conn)));
///     else if (conn.error() == std::errc::too_many_files_open) continue; // one refused
///     else break;                                                        // cancelled
///
/// Cancellation: closing the listener while a coroutine awaits accept()
/// cancels the accept; if the kernel had already accepted a connection it is
/// delivered, otherwise accept completes with std::errc::operation_canceled.
/// A connection accepted during loop teardown is closed, never leaked.

#include "coronet/net/address.hpp"
#include "coronet/net/fd_reserve.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/net/tcp_stream.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <netinet/in.h>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace coronet {

/// How tcp_listener::bind sets up the listening socket.
struct listen_options {
    int backlog = SOMAXCONN;   ///< listen(2) backlog
    bool reuse_address = true; ///< SO_REUSEADDR: rebind while old connections linger
    bool reuse_port = false;   ///< SO_REUSEPORT: several listeners share the port
};

class tcp_listener {
public:
    class accept_awaitable;

    /// A closed listener (is_open() is false).
    tcp_listener() noexcept = default;

    /// Creates, binds and listens. Port 0 picks a free port (see
    /// local_address()). Errors: address_in_use, permission_denied,
    /// address_not_available, address_family_not_supported, invalid_argument.
    static result<tcp_listener> bind(const socket_address& addr, listen_options opts = {});
    /// Parses `addr` ("127.0.0.1:8080", "[::1]:0") and binds. Errors: as
    /// above; invalid_argument for text that is not an address.
    static result<tcp_listener> bind(std::string_view addr, listen_options opts = {});
    /// Binds `count` listeners to one address with SO_REUSEPORT, one for
    /// each loop of a group: the kernel spreads new connections among them
    /// (by a hash of the client's address and port). With port 0 the first
    /// picks the port and the others share it. Errors: as bind().
    static result<std::vector<tcp_listener>>
    bind_reuse_port(const socket_address& addr, std::size_t count, listen_options opts = {});

    /// co_await → result<tcp_stream> whose peer_address() is the client's.
    /// Errors: too_many_files_open (back off: the connection waits in the
    /// backlog), connection_aborted, operation_canceled. Cancelled (its
    /// scope, a timeout, close()): a connection the kernel had already
    /// accepted is delivered, otherwise operation_canceled.
    accept_awaitable accept() noexcept;

    /// co_await → result<tcp_stream>: accept(), but out of fds (EMFILE,
    /// ENFILE) it refuses one client instead: frees the listener's spare fd,
    /// accepts (waiting for a client if none is queued), resets that
    /// connection (the client sees ECONNRESET) and returns
    /// too_many_files_open. Accept again at once: no back-off is needed, and
    /// no CPU is spent while no client comes. If fds were freed while it
    /// waited, the client is served instead. The spare is opened by the
    /// first call (while fds are free) and held until the listener is
    /// destroyed; if it cannot be taken back, the call pauses 100 ms before
    /// retrying. Other errors and cancellation: as accept(). A task (one
    /// frame per call) that uses the listener when it resumes: the listener
    /// must outlive it (close() ends it; do not destroy the listener under it).
    task<result<tcp_stream>> accept_or_refuse();

    /// The bound address, with the real port when bound to port 0.
    const socket_address& local_address() const noexcept { return local_; }
    /// Stops listening (see the cancellation note above) and frees the
    /// spare fd of accept_or_refuse. Idempotent.
    void close() noexcept {
        socket_.close();
        spare_.release();
    }
    /// False once closed (or when default-constructed).
    bool is_open() const noexcept { return socket_.is_open(); }
    /// The listening socket's descriptor (still owned by the listener).
    int native_handle() const noexcept { return socket_.native_handle(); }

private:
    socket_handle socket_;
    socket_address local_;
    fd_reserve spare_; // for accept_or_refuse
};

/// The awaitable returned by tcp_listener::accept: co_await it once for a
/// `result<tcp_stream>`.
class [[nodiscard]] tcp_listener::accept_awaitable : public detail::io_awaitable {
public:
    /// An accept on the listening socket `fd` (made by accept()).
    explicit accept_awaitable(int fd) noexcept;
    bool await_ready() noexcept;
    result<tcp_stream> await_resume() noexcept;

private:
    sockaddr_in6 peer_{};
};

inline tcp_listener::accept_awaitable tcp_listener::accept() noexcept {
    return accept_awaitable(socket_.native_handle());
}

} // namespace coronet
