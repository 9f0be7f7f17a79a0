#pragma once
// The epoll backend (see epoll_backend.hpp): the syscall each kind of
// operation makes, non-blocking, and what a receive tells about read
// readiness. Every function returns the final result, or -EAGAIN when the
// operation must wait for an edge, or -ENOBUFS when a pooled receive finds
// every pool buffer leased (epoll_pooled.cpp). Inline: included only by the
// epoll backend's files, so the straight path of a message has no call
// between an edge and the syscall. The test-only fault seam (fault.hpp) is
// one branch on faults_ in attempt() and attempt_pooled(); the faulty
// variants are the Faults = true instantiations.
#include "coronet/runtime/detail/epoll_backend.hpp"
#include "coronet/runtime/detail/fault.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace coronet::detail {
namespace epoll_syscalls {

inline int retry_eintr(auto call) noexcept {
    for (;;) {
        long r = call();
        if (r >= 0) return static_cast<int>(r);
        if (errno != EINTR) return -errno;
    }
}

// With Faults (a test's fault plan) each send may ask for fewer bytes, and
// after the first one a failure may come mid-stream; an injected EAGAIN
// puts the fd on `redrive` (see epoll_fault.cpp).
template <bool Faults>
inline int send_all(operation& op, fault_injector* faults, std::vector<int>* redrive) noexcept {
    [[maybe_unused]] const std::size_t start = op.sent;
    while (op.sent < op.length) {
        std::size_t len = op.length - op.sent;
        if constexpr (Faults) {
            if (op.sent > start) {
                int f = faults->stream_failure(op.fd, true);
                if (f == -EAGAIN) redrive->push_back(op.fd);
                if (f != 0) return f;
            }
            len = faults->shorten(len);
        }
        int r = retry_eintr([&] {
            return ::send(op.fd, static_cast<const char*>(op.buffer) + op.sent, len,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
        });
        if (r < 0) return r;
        op.sent += static_cast<std::size_t>(r);
    }
    return 0;
}

// A non-blocking connect: started when the operation is (state idle), then
// finished on writability by SO_ERROR (state parked). A Unix listener whose
// backlog is full answers EAGAIN and nothing is in progress: op.sent = 1
// marks the connect to be made again (epoll_backend::retry_backlog).
inline int connect(operation& op) noexcept {
    if (op.state == op_state::idle || op.sent != 0) {
        int r = retry_eintr([&] {
            return ::connect(op.fd, static_cast<const sockaddr*>(op.buffer),
                             static_cast<socklen_t>(op.length));
        });
        if (r == -EAGAIN && static_cast<const sockaddr*>(op.buffer)->sa_family == AF_UNIX)
            op.sent = 1;
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
    if (faults_ != nullptr) [[unlikely]]
        return attempt_with_faults(op, st);
    return perform<false>(op, st);
}

// The syscall of `op`. With Faults (a test installed a fault plan:
// attempt_with_faults has let it through), receives and sends may ask for
// fewer bytes than they could take; what they return is judged against
// what they asked for, so a short read still means "drained" only when the
// kernel gave less than that.
template <bool Faults>
inline int epoll_backend::perform(operation& op, fd_state& st) noexcept {
    using namespace epoll_syscalls;
    auto asked = [&](std::size_t n) {
        if constexpr (Faults)
            return faults_->shorten(n);
        else
            return n;
    };
    switch (op.kind) {
    case op_kind::recv: {
        const std::size_t len = asked(op.length);
        int r = retry_eintr([&] { return ::recv(op.fd, op.buffer, len, MSG_DONTWAIT); });
        if (r == -EAGAIN || (r > 0 && static_cast<std::size_t>(r) < len))
            st.drained = true; // a short stream read emptied the socket
        return r;
    }
    case op_kind::recv_pooled:
        return attempt_pooled<Faults>(op, st);
    case op_kind::send: {
        const std::size_t len = asked(op.length);
        return retry_eintr(
            [&] { return ::send(op.fd, op.buffer, len, MSG_NOSIGNAL | MSG_DONTWAIT); });
    }
    case op_kind::send_all:
        return send_all<Faults>(op, faults_, &redrive_);
    case op_kind::accept:
        return retry_eintr([&] {
            return ::accept4(op.fd, static_cast<sockaddr*>(op.buffer),
                             op.buffer != nullptr ? &op.addr_len : nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        });
    case op_kind::connect:
        return attempt_connect(op);
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
template <bool Faults>
[[gnu::always_inline]] inline int epoll_backend::attempt_pooled(operation& op,
                                                                fd_state& st) noexcept {
    if constexpr (!Faults) {
        if (faults_ != nullptr) [[unlikely]]
            return attempt_with_faults(op, st);
    }
    buffer_pool& p = pool();
    auto id = p.take();
    if (!id) return -ENOBUFS;
    std::byte* data = p.data(*id);
    std::size_t len = p.buffer_size();
    if constexpr (Faults) len = faults_->shorten(len);
    long r;
    do {
        r = ::recv(op.fd, data, len, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) { // EOF, error or EAGAIN: the buffer goes straight back
        if (r < 0) r = -errno;
        p.give(*id);
        if (r == -EAGAIN) st.drained = true;
        return static_cast<int>(r);
    }
    if (static_cast<std::size_t>(r) < len) st.drained = true;
    op.buffer = data;
    op.buffer_id = *id;
    return static_cast<int>(r);
}

} // namespace coronet::detail
