#pragma once
/// \class coronet::udp_socket
/// coronet::udp_socket: a UDP socket, unconnected or connected.
///
///     auto server = coronet::udp_socket::bind("127.0.0.1:0").value();
///     std::array<std::byte, 65536> buf;
///     auto d = co_await server.recv_from(buf);                 // result<datagram>
///     if (d) co_await server.send_to(std::span(buf).first(d->size), d->peer);
///
///     auto client = coronet::udp_socket::open(AF_INET).value();
///     client.connect(server_address).value();                  // sets the default peer
///     co_await client.send("ping");
///     auto reply = co_await coronet::with_timeout(1s, client.recv(buf));  // UDP loses packets
///
/// UDP is not TCP: each send is one datagram, delivered whole or not at all,
/// perhaps out of order, perhaps never; nothing tells the sender it was lost.
/// Put a timeout on every wait for a reply (runtime/timeout.hpp).
///
/// Truncation is reported, never silent: a datagram larger than the receive
/// buffer fills the buffer, the rest is discarded by the kernel, and the
/// datagram says so (truncated, with full_size the length that was sent).
///
/// Every operation returns a result; .value() is the throwing form. Sends never
/// raise SIGPIPE. An IPv6 socket is IPv6-only (IPV6_V6ONLY): an address of the
/// other family is address_family_not_supported, checked before any syscall.
///
/// Cancellation (every awaitable here): cancelling the enclosing cancel_scope,
/// a timeout (with_timeout gives coronet::error::timed_out), or closing the
/// socket (close() or destruction) while an operation waits cancels it and
/// waits for the kernel to let go of its buffer; it then completes with
/// operation_canceled. If the kernel finished first, the real result (a
/// datagram received or sent) is returned instead: nothing is lost.
/// A cancelled wait never consumes a datagram, so the socket stays usable.

#include "coronet/net/address.hpp"
#include "coronet/net/socket.hpp"
#include "coronet/runtime/detail/io_awaitable.hpp"
#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <netinet/in.h>
#include <span>
#include <string_view>
#include <sys/socket.h>
#include <sys/uio.h>

namespace coronet {

/// What one receive got: a datagram (possibly cut to fit the buffer) and its sender.
struct datagram {
    std::size_t size = 0;      ///< bytes stored in the buffer (0 for an empty datagram)
    std::size_t full_size = 0; ///< the datagram's length as sent (>= size)
    bool truncated = false;    ///< full_size > size: the bytes past size were discarded
    socket_address peer;       ///< the sender
};

class udp_socket {
public:
    class recv_awaitable;
    class send_awaitable;

    /// A closed socket (every operation fails with bad_file_descriptor).
    udp_socket() noexcept = default;

    /// Creates a socket bound to `addr`; port 0 picks a free port (see
    /// local_address()). Needs no running loop. Errors: address_in_use,
    /// permission_denied, address_not_available, address_family_not_supported,
    /// too_many_files_open.
    static result<udp_socket> bind(const socket_address& addr);
    /// Parses `addr` ("127.0.0.1:5353", "[::1]:0") and binds. Errors: as
    /// bind(), and invalid_argument for text that is not an address.
    static result<udp_socket> bind(std::string_view addr);
    /// Creates an unbound socket of `family` (AF_INET or AF_INET6), for a
    /// client: the kernel picks a local port at the first send or connect.
    /// Errors: address_family_not_supported, too_many_files_open.
    static result<udp_socket> open(int family);

    /// Sets the default peer: send() and recv() then talk to `peer` only, and
    /// datagrams from other addresses are dropped by the kernel. An ICMP "port
    /// unreachable" for an earlier datagram shows up as connection_refused on a
    /// later send() or recv(). Calling it again changes the peer. It does not
    /// wait (UDP has no handshake). Errors: address_family_not_supported,
    /// network_unreachable, invalid_argument.
    result<void> connect(const socket_address& peer) noexcept;

    /// co_await → result<std::size_t>: sends `buf` as one datagram to `peer`;
    /// the value is buf.size() (a datagram is sent whole or not at all; an
    /// empty one is allowed). Errors: address_family_not_supported (peer's
    /// family is not the socket's; no syscall is made), message_size (larger
    /// than a datagram can be), network_unreachable, permission_denied (a
    /// broadcast address without SO_BROADCAST), connection_refused (an earlier
    /// datagram was refused), no_buffer_space, operation_canceled.
    /// The address is copied: it need not outlive the call.
    /// Cancelled (its scope, a timeout, close()): operation_canceled, or
    /// buf.size() if the datagram was sent first.
    send_awaitable send_to(std::span<const std::byte> buf, const socket_address& peer) noexcept;
    /// send_to for text: the bytes of `s` as one datagram.
    send_awaitable send_to(std::string_view s, const socket_address& peer) noexcept;

    /// co_await → result<datagram>: waits for the next datagram from anyone
    /// (from the peer only, once connected) and stores up to buf.size() bytes
    /// of it (see datagram for truncation). Errors: connection_refused (an
    /// earlier datagram of a connected socket was refused), operation_canceled.
    /// Cancelled (its scope, a timeout, close()): operation_canceled, or the
    /// datagram if it had arrived; a cancelled receive consumes no datagram.
    recv_awaitable recv_from(std::span<std::byte> buf) noexcept;
    /// recv_from into a char buffer.
    recv_awaitable recv_from(std::span<char> buf) noexcept;

    /// Connected form of send_to: sends `buf` as one datagram to the peer set
    /// by connect(). Errors: as send_to, and destination_address_required when
    /// the socket is not connected. Cancellation: as send_to.
    send_awaitable send(std::span<const std::byte> buf) noexcept;
    /// send for text: the bytes of `s` as one datagram.
    send_awaitable send(std::string_view s) noexcept;

    /// Connected form of recv_from: co_await → result<datagram> (peer is the
    /// connected peer). Truncation is reported the same way, so a datagram
    /// larger than `buf` is never mistaken for a whole one. Errors: as
    /// recv_from. On an unconnected socket it is recv_from. Cancellation: as
    /// recv_from.
    recv_awaitable recv(std::span<std::byte> buf) noexcept;
    /// recv into a char buffer.
    recv_awaitable recv(std::span<char> buf) noexcept;

    /// Closes the socket (see the cancellation note above). Idempotent.
    void close() noexcept { socket_.close(); }
    /// False once closed (or when default-constructed).
    bool is_open() const noexcept { return socket_.is_open(); }
    /// AF_INET or AF_INET6 (AF_UNSPEC for a default-constructed socket).
    int family() const noexcept { return family_; }

    /// The bound address (getsockname): the real port after binding port 0,
    /// or after the first send/connect of an open()ed socket (port 0 before).
    result<socket_address> local_address() const { return socket_.local_address(); }
    /// The connected peer; not_connected when connect() was not called.
    result<socket_address> peer_address() const { return socket_.peer_address(); }
    /// The descriptor (still owned by the socket).
    int native_handle() const noexcept { return socket_.native_handle(); }
    /// The descriptor's owner, for socket options (SO_BROADCAST, SO_RCVBUF, ...).
    socket_handle& socket() noexcept { return socket_; }

private:
    udp_socket(socket_handle s, int family) noexcept : socket_(std::move(s)), family_(family) {}
    static result<udp_socket> make(int family);

    socket_handle socket_;
    int family_ = AF_UNSPEC;
};

/// The awaitable returned by udp_socket::recv_from and recv: one recvmsg with
/// MSG_TRUNC, whose header, buffer vector and sender address live here.
/// co_await it once for a `result<datagram>`.
class [[nodiscard]] udp_socket::recv_awaitable : public detail::io_awaitable {
public:
    /// A receive on socket `fd` into `buf` (made by recv_from and recv).
    recv_awaitable(int fd, std::span<std::byte> buf) noexcept;
    /// Points the message header into this object (its final address).
    bool await_ready() noexcept;
    result<datagram> await_resume() noexcept;

private:
    msghdr msg_{};
    iovec iov_{};
    sockaddr_in6 peer_{};
};

/// The awaitable returned by udp_socket::send_to and send: one sendmsg
/// (MSG_NOSIGNAL), whose header, buffer vector and destination live here.
/// co_await it once for a `result<std::size_t>`.
class [[nodiscard]] udp_socket::send_awaitable : public detail::io_awaitable {
public:
    /// `peer` null: the connected peer. `family`: the socket's, for the check.
    send_awaitable(int fd, int family, std::span<const std::byte> buf,
                   const socket_address* peer) noexcept;
    /// Points the message header into this object (its final address); an
    /// address of the wrong family completes at once.
    bool await_ready() noexcept;
    result<std::size_t> await_resume() noexcept;

private:
    msghdr msg_{};
    iovec iov_{};
    socket_address peer_;
    int family_ = AF_UNSPEC;
    bool has_peer_ = false;
};

inline udp_socket::recv_awaitable udp_socket::recv_from(std::span<std::byte> buf) noexcept {
    return {socket_.native_handle(), buf};
}

inline udp_socket::send_awaitable udp_socket::send_to(std::span<const std::byte> buf,
                                                      const socket_address& peer) noexcept {
    return {socket_.native_handle(), family_, buf, &peer};
}

inline udp_socket::send_awaitable udp_socket::send(std::span<const std::byte> buf) noexcept {
    return {socket_.native_handle(), family_, buf, nullptr};
}

inline udp_socket::send_awaitable udp_socket::send_to(std::string_view s,
                                                      const socket_address& peer) noexcept {
    return send_to(std::as_bytes(std::span(s.data(), s.size())), peer);
}

inline udp_socket::recv_awaitable udp_socket::recv_from(std::span<char> buf) noexcept {
    return recv_from(std::as_writable_bytes(buf));
}

inline udp_socket::send_awaitable udp_socket::send(std::string_view s) noexcept {
    return send(std::as_bytes(std::span(s.data(), s.size())));
}

inline udp_socket::recv_awaitable udp_socket::recv(std::span<std::byte> buf) noexcept {
    return recv_from(buf);
}

inline udp_socket::recv_awaitable udp_socket::recv(std::span<char> buf) noexcept {
    return recv_from(buf);
}

} // namespace coronet
