#include "coronet/net/unix_stream.hpp"

#include <cerrno>

namespace coronet {

unix_stream::connect_awaitable unix_stream::connect(std::string_view address) {
    auto a = unix_address::parse(address);
    if (!a) return connect_awaitable(a.error());
    return connect_awaitable(*a);
}

bool unix_stream::connect_awaitable::await_ready() noexcept {
    if (error_) return true;
    auto s = socket_handle::open(AF_UNIX, SOCK_STREAM);
    if (!s) {
        error_ = s.error();
        return true;
    }
    socket_ = std::move(*s);
    // Set here, where the awaitable has its final address.
    op.kind = detail::op_kind::connect;
    op.fd = socket_.native_handle();
    op.buffer = const_cast<sockaddr*>(peer_.data());
    op.length = peer_.size();
    return false;
}

result<unix_stream> unix_stream::connect_awaitable::await_resume() noexcept {
    if (error_) return error_;
    if (int res = take_result(); res < 0) return errno_code(-res);
    return unix_stream(std::move(socket_), peer_);
}

const unix_address& unix_stream::peer_address() const noexcept {
    if (!peer_known_) {
        peer_known_ = true;
        sockaddr_un storage{};
        socklen_t len = sizeof storage;
        if (::getpeername(socket_.native_handle(), reinterpret_cast<sockaddr*>(&storage), &len) ==
            0) {
            if (auto a =
                    unix_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), len))
                peer_ = *a;
        }
    }
    return peer_;
}

result<unix_address> unix_stream::local_address() const {
    sockaddr_un storage{};
    socklen_t len = sizeof storage;
    if (::getsockname(socket_.native_handle(), reinterpret_cast<sockaddr*>(&storage), &len) < 0)
        return errno_code(errno);
    return unix_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), len);
}

result<ucred> unix_stream::peer_credentials() const noexcept {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return errno_code(errno);
    return cred;
}

} // namespace coronet
