#include "coronet/net/socket.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace coronet {
namespace {

result<socket_address> name_of(int fd, int (*get)(int, sockaddr*, socklen_t*)) {
    sockaddr_in6 storage{};
    socklen_t len = sizeof storage;
    if (get(fd, reinterpret_cast<sockaddr*>(&storage), &len) < 0) return errno_code(errno);
    return socket_address::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

} // namespace

result<socket_handle> socket_handle::open(int family, int type, int protocol) {
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return errno_code(errno);
    return socket_handle(fd);
}

void socket_handle::close() noexcept {
    if (fd_ < 0) return;
    int fd = std::exchange(fd_, -1);
    detail::close_fd(fd);
}

result<void> socket_handle::forget_loop() noexcept {
    if (fd_ >= 0 && !detail::forget_fd(fd_)) return make_error_code(error::data_pending);
    return {};
}

result<void> socket_handle::set_option(int level, int name, int value) noexcept {
    if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) return errno_code(errno);
    return {};
}

result<socket_address> socket_handle::local_address() const {
    return name_of(fd_, ::getsockname);
}

result<socket_address> socket_handle::peer_address() const {
    return name_of(fd_, ::getpeername);
}

} // namespace coronet
