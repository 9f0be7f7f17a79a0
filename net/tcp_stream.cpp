#include "coronet/net/tcp_stream.hpp"

#include "coronet/net/resolve.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>

namespace coronet {

bool tcp_stream::connect_awaitable::await_ready() noexcept {
    auto s = socket_handle::open(peer_.family(), SOCK_STREAM);
    if (!s) {
        open_error_ = s.error();
        return true;
    }
    socket_ = std::move(*s);
    op.kind = detail::op_kind::connect;
    op.fd = socket_.native_handle();
    op.buffer = const_cast<sockaddr*>(peer_.data());
    op.length = peer_.size();
    return false;
}

result<tcp_stream> tcp_stream::connect_awaitable::await_resume() noexcept {
    if (open_error_) return open_error_;
    if (int res = take_result(); res < 0) return errno_code(-res);
    return tcp_stream(std::move(socket_), peer_);
}

namespace {
// A coroutine of its own so that it owns a copy of the host name.
task<result<tcp_stream>> connect_by_name(std::string host, std::uint16_t port) {
    auto addrs = co_await resolve(std::move(host), port);
    if (!addrs) co_return addrs.error();
    std::error_code last;
    for (const socket_address& a : *addrs) {
        auto conn = co_await tcp_stream::connect(a);
        if (conn) co_return std::move(*conn);
        last = conn.error();
        if (last == std::errc::operation_canceled) break;
    }
    co_return last;
}
} // namespace

task<result<tcp_stream>> tcp_stream::connect(std::string_view host, std::uint16_t port) {
    return connect_by_name(std::string(host), port);
}

const socket_address& tcp_stream::peer_address() const noexcept {
    if (!peer_known_) {
        peer_known_ = true;
        if (auto p = socket_.peer_address()) peer_ = *p;
    }
    return peer_;
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
    return socket_.set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

} // namespace coronet
