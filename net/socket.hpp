#pragma once
/// \class coronet::socket_handle
/// coronet::socket_handle: sole owner of a non-blocking socket descriptor.
///
/// Closing (explicitly or by the destructor) goes through the running loop's
/// backend: operations still in flight on the descriptor are cancelled and
/// joined first (they complete with std::errc::operation_canceled), so a
/// descriptor number reused later never sees a stale completion. Without a
/// running loop the descriptor is simply closed.
///
/// The setup calls here (socket, bind, listen, setsockopt, getsockname) never
/// block and are made directly; all waiting I/O goes through the backend.

#include "coronet/net/address.hpp"
#include "coronet/runtime/result.hpp"

#include <utility>

namespace coronet {

class socket_handle {
public:
    socket_handle() noexcept = default;
    /// Takes ownership of `fd` (which should be non-blocking).
    explicit socket_handle(int fd) noexcept : fd_(fd) {}
    /// Takes over `o`'s descriptor; `o` becomes closed.
    socket_handle(socket_handle&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    /// Closes this handle's descriptor (see close()), then takes over `o`'s.
    socket_handle& operator=(socket_handle&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~socket_handle() { close(); }

    /// A new non-blocking, close-on-exec socket. Errors: those of socket(2),
    /// e.g. address_family_not_supported, too_many_files_open.
    static result<socket_handle> open(int family, int type, int protocol = 0);

    /// The descriptor, or -1 when closed.
    int native_handle() const noexcept { return fd_; }
    /// True while it owns a descriptor.
    bool is_open() const noexcept { return fd_ >= 0; }
    /// Gives up ownership without closing; returns the descriptor.
    int release() noexcept { return std::exchange(fd_, -1); }
    /// Cancels and joins in-flight operations, then closes. Idempotent.
    void close() noexcept;
    /// Settles the socket on the running loop and makes that loop forget it,
    /// so that it may move to a task on another loop (spawn_on): operations
    /// other coroutines await on it are cancelled and joined first (the
    /// fd-close rule), then the loop drops what it knew (epoll: the fd leaves
    /// its set); the fd stays open. Without a running loop, nothing to do.
    /// Errors: error::data_pending when the loop has already received bytes
    /// (or, for a listener, connections) for the socket that nobody has taken
    /// (io_uring reads ahead): the socket stays with this loop, which stops
    /// reading ahead; receive what is there (it comes at once), then call
    /// forget_loop() again. Nothing is lost either way.
    result<void> forget_loop() noexcept;

    /// setsockopt(level, name, int value).
    result<void> set_option(int level, int name, int value) noexcept;
    /// The bound address (getsockname); for port 0, the port the kernel chose.
    result<socket_address> local_address() const;
    /// The connected peer (getpeername); not_connected when there is none.
    result<socket_address> peer_address() const;

private:
    int fd_ = -1;
};

} // namespace coronet
