#pragma once
/// \class coronet::unix_listener
/// coronet::unix_listener: a listening Unix domain stream socket.
///
///     auto listener = coronet::unix_listener::bind("/tmp/app.sock").value();  // or "@app"
///     for (;;) {
///         auto conn = co_await listener.accept();                  // result<unix_stream>
///         if (conn) coronet::spawn(echo(std::move(*conn)));
///     }
///
/// bind() needs no running loop, so a listener can be made before run().
///
/// The socket file. bind() creates it; an existing file at the path is never
/// removed silently: by default bind() fails with std::errc::address_in_use.
/// With unix_listen_options::replace_stale, bind() removes it only if it is a
/// socket that nobody listens on (a probe connect(2) is refused: a server that
/// crashed left it) and binds again; a live server's socket (the probe
/// connects, and that server sees one connection closed at once) and any file
/// that is not a socket are left alone: address_in_use. close() and the
/// destructor remove the file if it is still the one this listener created
/// (same inode), unless remove_on_close is false. Abstract names have no file.
///
/// Cancellation: closing the listener while a coroutine awaits accept()
/// cancels the accept; if the kernel had already accepted a connection it is
/// delivered, otherwise accept completes with std::errc::operation_canceled.
/// Cancelling the enclosing cancel_scope (or a timeout) does the same.

#include "coronet/net/fd_reserve.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/net/unix_address.hpp"
#include "coronet/net/unix_stream.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"

#include <string_view>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

namespace coronet {

/// How unix_listener::bind sets up the listening socket and its file.
struct unix_listen_options {
    int backlog = SOMAXCONN;     ///< listen(2) backlog
    bool replace_stale = false;  ///< remove a socket file nobody listens on (see above)
    bool remove_on_close = true; ///< close() removes the socket file this listener made
};

class unix_listener {
public:
    class accept_awaitable;

    /// A closed listener (is_open() is false).
    unix_listener() noexcept = default;
    /// Takes over `o`'s socket and socket file; `o` is left closed.
    unix_listener(unix_listener&& o) noexcept;
    /// Closes this listener (removing its file), then takes over `o`'s.
    unix_listener& operator=(unix_listener&& o) noexcept;
    ~unix_listener() { close(); }

    /// Creates, binds and listens. Errors: address_in_use (see above),
    /// no_such_file_or_directory (the directory does not exist),
    /// permission_denied, filename_too_long, invalid_argument.
    static result<unix_listener> bind(const unix_address& addr, unix_listen_options opts = {});
    /// Parses `addr` (a path, or "@name") and binds. Errors: as above, and
    /// unix_address::parse's.
    static result<unix_listener> bind(std::string_view addr, unix_listen_options opts = {});

    /// co_await → result<unix_stream> (its peer_address() is usually
    /// unnamed). Errors: too_many_files_open (back off: the connection waits
    /// in the backlog), operation_canceled. Cancelled (its scope, a timeout,
    /// close()): a connection the kernel had already accepted is delivered,
    /// otherwise operation_canceled.
    accept_awaitable accept() noexcept;

    /// co_await → result<unix_stream>: accept(), and out of fds the
    /// reserve-fd technique; see tcp_listener::accept_or_refuse (the refused
    /// client reads EOF).
    task<result<unix_stream>> accept_or_refuse();

    /// The bound address.
    const unix_address& local_address() const noexcept { return local_; }
    /// Stops listening (see the cancellation note above), removes the socket
    /// file (see above) and frees the spare fd of accept_or_refuse. Idempotent.
    void close() noexcept;
    /// False once closed (or when default-constructed).
    bool is_open() const noexcept { return socket_.is_open(); }
    /// The listening socket's descriptor (still owned by the listener).
    int native_handle() const noexcept { return socket_.native_handle(); }

private:
    struct socket_file { // the file bind() created, to remove at close()
        bool owned = false;
        dev_t dev = 0;
        ino_t ino = 0;
    };
    socket_handle socket_;
    unix_address local_;
    socket_file file_;
    fd_reserve spare_; // for accept_or_refuse
};

/// The awaitable returned by unix_listener::accept: co_await it once for a
/// `result<unix_stream>`.
class [[nodiscard]] unix_listener::accept_awaitable : public detail::io_awaitable {
public:
    /// An accept on the listening socket `fd` (made by accept()).
    explicit accept_awaitable(int fd) noexcept;
    bool await_ready() noexcept;
    result<unix_stream> await_resume() noexcept;

private:
    sockaddr_un peer_{};
};

inline unix_listener::accept_awaitable unix_listener::accept() noexcept {
    return accept_awaitable(socket_.native_handle());
}

} // namespace coronet
