#include "coronet/runtime/signal_set.hpp"

#include "coronet/runtime/detail/loop_access.hpp"

#include <cerrno>
#include <pthread.h>
#include <system_error>
#include <unistd.h>

namespace coronet {

signal_set::signal_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals)
        sigaddset(&set, s);
    fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
    pthread_sigmask(SIG_BLOCK, &set, &previous_);
}

signal_set::~signal_set() {
    detail::close_fd(fd_);
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

signal_set::wait_awaitable::wait_awaitable(int fd) noexcept {
    op.kind = detail::op_kind::read;
    op.fd = fd;
}

bool signal_set::wait_awaitable::await_ready() noexcept {
    op.buffer = &info_;
    op.length = sizeof info_;
    return false;
}

result<int> signal_set::wait_awaitable::await_resume() noexcept {
    int res = take_result();
    if (res < 0) return errno_code(-res);
    if (res != sizeof info_) return errno_code(EIO);
    return static_cast<int>(info_.ssi_signo);
}

} // namespace coronet
