#include "coronet/net/udp_socket.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>

namespace coronet {

result<udp_socket> udp_socket::make(int family) {
    if (family != AF_INET && family != AF_INET6)
        return std::make_error_code(std::errc::address_family_not_supported);
    auto s = socket_handle::open(family, SOCK_DGRAM);
    if (!s) return s.error();
    if (family == AF_INET6) { // like tcp_listener: "::" means IPv6 only
        if (auto r = s->set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1); !r) return r.error();
    }
    return udp_socket(std::move(*s), family);
}

result<udp_socket> udp_socket::open(int family) {
    return make(family);
}

result<udp_socket> udp_socket::bind(const socket_address& addr) {
    auto s = make(addr.family());
    if (!s) return s.error();
    if (::bind(s->native_handle(), addr.data(), addr.size()) < 0) return errno_code(errno);
    return s;
}

result<udp_socket> udp_socket::bind(std::string_view addr) {
    auto a = socket_address::parse(addr);
    if (!a) return a.error();
    return bind(*a);
}

result<void> udp_socket::connect(const socket_address& peer) noexcept {
    if (family_ != AF_UNSPEC && peer.family() != family_)
        return std::make_error_code(std::errc::address_family_not_supported);
    // A UDP connect only records the peer: it never waits.
    if (::connect(socket_.native_handle(), peer.data(), peer.size()) < 0) return errno_code(errno);
    return {};
}

udp_socket::recv_awaitable::recv_awaitable(int fd, std::span<std::byte> buf) noexcept {
    op.kind = detail::op_kind::recvmsg;
    op.fd = fd;
    op.length = buf.size();
    iov_.iov_base = buf.data();
    iov_.iov_len = buf.size();
}

bool udp_socket::recv_awaitable::await_ready() noexcept {
    if (op.fd < 0) { // a closed socket: never hand fd -1 to a backend
        op.result = -EBADF;
        return true;
    }
    // Set here, where the awaitable has its final address (it may have been
    // moved into a timeout or scope wrapper after construction).
    msg_ = msghdr{};
    msg_.msg_name = &peer_;
    msg_.msg_namelen = sizeof peer_;
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    op.buffer = &msg_;
    return false;
}

result<datagram> udp_socket::recv_awaitable::await_resume() noexcept {
    int res = take_result();
    if (res < 0) return errno_code(-res);
    // recvmsg ran with MSG_TRUNC: res is the datagram's full length.
    datagram d;
    d.full_size = static_cast<std::size_t>(res);
    d.size = d.full_size < iov_.iov_len ? d.full_size : iov_.iov_len;
    d.truncated = d.full_size > iov_.iov_len || (msg_.msg_flags & MSG_TRUNC) != 0;
    if (auto p = socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer_),
                                               msg_.msg_namelen))
        d.peer = *p;
    return d;
}

udp_socket::send_awaitable::send_awaitable(int fd, int family, std::span<const std::byte> buf,
                                           const socket_address* peer) noexcept
    : family_(family), has_peer_(peer != nullptr) {
    op.kind = detail::op_kind::sendmsg;
    op.fd = fd;
    op.length = buf.size();
    iov_.iov_base = const_cast<std::byte*>(buf.data());
    iov_.iov_len = buf.size();
    if (peer != nullptr) peer_ = *peer;
}

bool udp_socket::send_awaitable::await_ready() noexcept {
    if (op.fd < 0) { // a closed socket: never hand fd -1 to a backend
        op.result = -EBADF;
        return true;
    }
    if (has_peer_ && family_ != AF_UNSPEC && peer_.family() != family_) {
        op.result = -EAFNOSUPPORT; // the kernel's answer for IPv4, made clear for both
        return true;
    }
    msg_ = msghdr{};
    if (has_peer_) {
        msg_.msg_name = peer_.data();
        msg_.msg_namelen = peer_.size();
    }
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    op.buffer = &msg_;
    return false;
}

result<std::size_t> udp_socket::send_awaitable::await_resume() noexcept {
    return detail::from_syscall<std::size_t>(take_result());
}

} // namespace coronet
