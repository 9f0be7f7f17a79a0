#include "coronet/net/stream_socket.hpp"

#include <cerrno>

namespace coronet {

result<void> stream_socket::shutdown(int how) noexcept {
    if (::shutdown(socket_.native_handle(), how) < 0) return errno_code(errno);
    return {};
}

} // namespace coronet
