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
/// Cancellation: closing the listener while a coroutine awaits accept()
/// cancels the accept; if the kernel had already accepted a connection it is
/// delivered, otherwise accept completes with std::errc::operation_canceled.
/// A connection accepted during loop teardown is closed, never leaked.

#include "coronet/net/address.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/net/tcp_stream.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"

#include <netinet/in.h>
#include <string_view>
#include <sys/socket.h>

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

    /// co_await → result<tcp_stream> whose peer_address() is the client's.
    /// Errors: too_many_files_open (back off: the connection waits in the
    /// backlog), connection_aborted, operation_canceled. Cancelled (its
    /// scope, a timeout, close()): a connection the kernel had already
    /// accepted is delivered, otherwise operation_canceled.
    accept_awaitable accept() noexcept;

    /// The bound address, with the real port when bound to port 0.
    const socket_address& local_address() const noexcept { return local_; }
    /// Stops listening (see the cancellation note above). Idempotent.
    void close() noexcept { socket_.close(); }
    /// False once closed (or when default-constructed).
    bool is_open() const noexcept { return socket_.is_open(); }
    /// The listening socket's descriptor (still owned by the listener).
    int native_handle() const noexcept { return socket_.native_handle(); }

private:
    socket_handle socket_;
    socket_address local_;
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
