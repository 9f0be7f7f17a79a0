// The out-of-line parts of starting and ending I/O operations
// (io_awaitable.hpp, loop_access.hpp).
#include "coronet/runtime/detail/io_awaitable.hpp"

#include <unistd.h>

namespace coronet::detail {

void cancel_io(void* op) noexcept {
    if (event_loop* loop = running_loop)
        loop_access::io(*loop).cancel(*static_cast<operation*>(op));
}

bool refuse_operation(operation& op, cancel_scope* scope) noexcept {
    op.result = scope != nullptr && scope->cancelled() ? -ECANCELED : -EBADF;
    set_state(op, op_state::done);
    return false;
}

bool forget_fd(int fd) noexcept {
    event_loop* loop = running_loop;
    return loop == nullptr || loop_access::io(*loop).forget(fd);
}

void close_fd(int fd) noexcept {
    if (event_loop* loop = running_loop)
        loop_access::io(*loop).close(fd);
    else
        ::close(fd);
}

} // namespace coronet::detail
