#include "coronet/net/tcp_listener.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace coronet {

result<tcp_listener> tcp_listener::bind(const socket_address& addr, listen_options opts) {
    auto s = socket_handle::open(addr.family(), SOCK_STREAM);
    if (!s) return s.error();
    if (opts.reuse_address) {
        if (auto r = s->set_option(SOL_SOCKET, SO_REUSEADDR, 1); !r) return r.error();
    }
    if (opts.reuse_port) {
        if (auto r = s->set_option(SOL_SOCKET, SO_REUSEPORT, 1); !r) return r.error();
    }
    if (addr.is_v6()) { // "::" means IPv6 only; bind 0.0.0.0 as well for IPv4
        if (auto r = s->set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1); !r) return r.error();
    }
    if (::bind(s->native_handle(), addr.data(), addr.size()) < 0) return errno_code(errno);
    if (::listen(s->native_handle(), opts.backlog) < 0) return errno_code(errno);
    auto local = s->local_address();
    if (!local) return local.error();
    tcp_listener l;
    l.socket_ = std::move(*s);
    l.local_ = *local;
    return l;
}

result<std::vector<tcp_listener>>
tcp_listener::bind_reuse_port(const socket_address& addr, std::size_t count, listen_options opts) {
    opts.reuse_port = true;
    std::vector<tcp_listener> out;
    socket_address at = addr;
    for (std::size_t i = 0; i < count; ++i) {
        auto l = bind(at, opts);
        if (!l) return l.error();
        at = l->local_address(); // the port the first one got
        out.push_back(std::move(*l));
    }
    return out;
}

result<tcp_listener> tcp_listener::bind(std::string_view addr, listen_options opts) {
    auto a = socket_address::parse(addr);
    if (!a) return a.error();
    return bind(*a, opts);
}

task<result<tcp_stream>> tcp_listener::accept_or_refuse() {
    return detail::accept_or_refuse(*this, spare_);
}

tcp_listener::accept_awaitable::accept_awaitable(int fd) noexcept {
    op.kind = detail::op_kind::accept;
    op.fd = fd;
}

bool tcp_listener::accept_awaitable::await_ready() noexcept {
    op.buffer = &peer_; // set here, where the awaitable has its final address
    op.addr_len = sizeof peer_;
    return false;
}

result<tcp_stream> tcp_listener::accept_awaitable::await_resume() noexcept {
    int res = take_result();
    if (res < 0) return errno_code(-res);
    socket_handle s(res);
    if (op.addr_len == 0) return tcp_stream(std::move(s)); // multishot: the peer comes lazily
    auto peer =
        socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer_), op.addr_len);
    return peer ? tcp_stream(std::move(s), *peer) : tcp_stream(std::move(s));
}

} // namespace coronet
