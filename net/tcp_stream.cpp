#include "net/tcp_stream.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>

namespace coronet {

bool tcp_stream::connect_awaitable::await_ready() noexcept {
    auto s = socket_handle::open(peer_.family(), SOCK_STREAM);
    if (!s) {
        open_error_ = s.error();
        return true;
    }
    socket_ = std::move(*s);
    op = detail::make_op(detail::op_code::connect, socket_.native_handle(), peer_.data(),
                         peer_.size());
    return false;
}

result<tcp_stream> tcp_stream::connect_awaitable::await_resume() noexcept {
    if (open_error_) return open_error_;
    if (int res = take_result(); res < 0) return errno_code(-res);
    return tcp_stream(std::move(socket_), peer_);
}

result<void> tcp_stream::shutdown(int how) noexcept {
    if (::shutdown(socket_.native_handle(), how) < 0) return errno_code(errno);
    return {};
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
    return socket_.set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

} // namespace coronet
