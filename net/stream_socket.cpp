#include "coronet/net/stream_socket.hpp"

#include "coronet/runtime/event_loop.hpp"

#include <cerrno>

namespace coronet {

result<void> stream_socket::shutdown(int how) noexcept {
    if (::shutdown(socket_.native_handle(), how) < 0) return errno_code(errno);
    return {};
}

namespace detail {

result<buffer_lease> recv_pooled_awaitable::await_resume() noexcept {
    int res = take_result();
    if (res < 0) return errno_code(-res);
    if (res == 0) return buffer_lease{}; // EOF: the backend kept no buffer
    return buffer_lease(event_loop::current()->io(), op.buffer_id,
                        static_cast<std::byte*>(op.buffer), static_cast<std::size_t>(res));
}

} // namespace detail
} // namespace coronet
