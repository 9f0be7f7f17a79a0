#include "coronet/net/fd_reserve.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace coronet {

bool fd_reserve::acquire() noexcept {
    if (fd_ < 0) fd_ = ::open("/", O_RDONLY | O_CLOEXEC);
    return fd_ >= 0;
}

void fd_reserve::release() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1)); // never had an operation: a plain close
}

namespace detail {

void refuse_connection(int fd) noexcept {
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort); // fails harmlessly on AF_UNIX
}

} // namespace detail
} // namespace coronet
