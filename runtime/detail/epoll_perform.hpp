#pragma once
// The epoll backend (see epoll_backend.hpp): the syscall each kind of
// operation makes, non-blocking, and what a receive tells about read
// readiness. Every function returns the final result, or -EAGAIN when the
// operation must wait for an edge, or -ENOBUFS when a pooled receive finds
// every pool buffer leased (epoll_pooled.cpp). Inline: included only by the
// epoll backend's files, so the straight path of a message has no call
// between an edge and the syscall.
#include "coronet/runtime/detail/epoll_backend.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace coronet::detail {
namespace epoll_syscalls {

inline int retry_eintr(auto call) noexcept {
    for (;;) {
        long r = call();
        if (r >= 0) return static_cast<int>(r);
        if (errno != EINTR) return -errno;
    }
}

inline int send_all(operation& op) noexcept {
    while (op.sent < op.length) {
        int r = retry_eintr([&] {
            return ::send(op.fd, static_cast<const char*>(op.buffer) + op.sent, op.length - op.sent,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
        });
        if (r < 0) return r;
        op.sent += static_cast<std::size_t>(r);
    }
    return 0;
}

// A non-blocking connect: started when the operation is (state idle), then
// finished on writability by SO_ERROR (state parked).
inline int connect(operation& op) noexcept {
    if (op.state == op_state::idle) {
        int r = retry_eintr([&] {
            return ::connect(op.fd, static_cast<const sockaddr*>(op.buffer),
                             static_cast<socklen_t>(op.length));
        });
        return r == -EINPROGRESS ? -EAGAIN : r;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    if (err != 0) return -err;
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (::getpeername(op.fd, reinterpret_cast<sockaddr*>(&peer), &plen) < 0)
        return errno == ENOTCONN ? -EAGAIN : -errno; // woken before the handshake ended
    return 0;
}

} // namespace epoll_syscalls

inline int epoll_backend::attempt(operation& op, fd_state& st) noexcept {
    using namespace epoll_syscalls;
    switch (op.kind) {
    case op_kind::recv: {
        int r = retry_eintr([&] { return ::recv(op.fd, op.buffer, op.length, MSG_DONTWAIT); });
        if (r == -EAGAIN || (r > 0 && static_cast<std::size_t>(r) < op.length))
            st.drained = true; // a short stream read emptied the socket
        return r;
    }
    case op_kind::recv_pooled:
        return attempt_pooled(op, st);
    case op_kind::send:
        return retry_eintr(
            [&] { return ::send(op.fd, op.buffer, op.length, MSG_NOSIGNAL | MSG_DONTWAIT); });
    case op_kind::send_all:
        return send_all(op);
    case op_kind::accept:
        return retry_eintr([&] {
            return ::accept4(op.fd, static_cast<sockaddr*>(op.buffer),
                             op.buffer != nullptr ? &op.addr_len : nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        });
    case op_kind::connect:
        return connect(op);
    case op_kind::read:
        return retry_eintr([&] { return ::read(op.fd, op.buffer, op.length); });
    case op_kind::recvmsg:
        return retry_eintr([&] {
            return ::recvmsg(op.fd, static_cast<msghdr*>(op.buffer), MSG_DONTWAIT | MSG_TRUNC);
        });
    case op_kind::sendmsg:
        return retry_eintr([&] {
            return ::sendmsg(op.fd, static_cast<const msghdr*>(op.buffer),
                             MSG_DONTWAIT | MSG_NOSIGNAL);
        });
    }
    return -EINVAL;
}

// A pooled receive's attempt: a buffer only for the recv, kept only if data came.
[[gnu::always_inline]] inline int epoll_backend::attempt_pooled(operation& op,
                                                                fd_state& st) noexcept {
    buffer_pool& p = pool();
    auto id = p.take();
    if (!id) return -ENOBUFS;
    std::byte* data = p.data(*id);
    long r;
    do {
        r = ::recv(op.fd, data, p.buffer_size(), MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) { // EOF, error or EAGAIN: the buffer goes straight back
        if (r < 0) r = -errno;
        p.give(*id);
        if (r == -EAGAIN) st.drained = true;
        return static_cast<int>(r);
    }
    if (static_cast<std::size_t>(r) < p.buffer_size()) st.drained = true;
    op.buffer = data;
    op.buffer_id = *id;
    return static_cast<int>(r);
}

} // namespace coronet::detail
