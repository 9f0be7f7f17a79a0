// Part of the backend layer: the eventfd every backend wakes through.
#include "coronet/runtime/detail/wake_fd.hpp"

#include <cerrno>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace coronet::detail {

wake_fd::wake_fd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

wake_fd::~wake_fd() {
    ::close(fd_);
}

void wake_fd::signal() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd_, &one, sizeof one); // EAGAIN: already signalled
}

void wake_fd::clear() noexcept {
    std::uint64_t v;
    while (::read(fd_, &v, sizeof v) > 0) {
    }
}

} // namespace coronet::detail
