#include "coronet/net/unix_listener.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace coronet {
namespace {

// True if `path` is a socket file that nobody listens on: a non-blocking
// probe connect is refused. Any other outcome (connected, backlog full, not a
// socket, gone) leaves the file alone.
bool is_stale_socket(const unix_address& addr) {
    struct stat st {};
    if (::lstat(addr.name().data(), &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
    auto probe = socket_handle::open(AF_UNIX, SOCK_STREAM);
    if (!probe) return false;
    bool refused =
        ::connect(probe->native_handle(), addr.data(), addr.size()) < 0 && errno == ECONNREFUSED;
    probe->close(); // no operation is in flight on it: a plain close
    return refused;
}

} // namespace

unix_listener::unix_listener(unix_listener&& o) noexcept
    : socket_(std::move(o.socket_)), local_(o.local_), file_(std::exchange(o.file_, {})),
      spare_(std::move(o.spare_)) {}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
    if (this != &o) {
        close();
        socket_ = std::move(o.socket_);
        local_ = o.local_;
        file_ = std::exchange(o.file_, {});
        spare_ = std::move(o.spare_);
    }
    return *this;
}

result<unix_listener> unix_listener::bind(const unix_address& addr, unix_listen_options opts) {
    if (addr.is_unnamed()) return std::make_error_code(std::errc::invalid_argument);
    auto s = socket_handle::open(AF_UNIX, SOCK_STREAM);
    if (!s) return s.error();
    int fd = s->native_handle();
    if (::bind(fd, addr.data(), addr.size()) < 0) {
        int err = errno;
        bool retry = err == EADDRINUSE && opts.replace_stale && !addr.is_abstract() &&
                     is_stale_socket(addr) && ::unlink(addr.name().data()) == 0;
        if (!retry || ::bind(fd, addr.data(), addr.size()) < 0)
            return errno_code(retry ? errno : err);
    }
    unix_listener l;
    if (!addr.is_abstract() && opts.remove_on_close) {
        struct stat st {};
        if (::stat(addr.name().data(), &st) == 0) l.file_ = {true, st.st_dev, st.st_ino};
    }
    l.local_ = addr;
    l.socket_ = std::move(*s);
    if (::listen(fd, opts.backlog) < 0) return errno_code(errno); // l removes the file
    return l;
}

result<unix_listener> unix_listener::bind(std::string_view addr, unix_listen_options opts) {
    auto a = unix_address::parse(addr);
    if (!a) return a.error();
    return bind(*a, opts);
}

void unix_listener::close() noexcept {
    if (std::exchange(file_.owned, false)) {
        const char* path = local_.name().data();
        struct stat st {};
        // Only our own file: another server may have replaced it since.
        if (::stat(path, &st) == 0 && st.st_dev == file_.dev && st.st_ino == file_.ino)
            ::unlink(path);
    }
    socket_.close();
    spare_.release();
}

task<result<unix_stream>> unix_listener::accept_or_refuse() {
    return detail::accept_or_refuse(*this, spare_);
}

unix_listener::accept_awaitable::accept_awaitable(int fd) noexcept {
    op.kind = detail::op_kind::accept;
    op.fd = fd;
}

bool unix_listener::accept_awaitable::await_ready() noexcept {
    op.buffer = &peer_; // set here, where the awaitable has its final address
    op.addr_len = sizeof peer_;
    return false;
}

result<unix_stream> unix_listener::accept_awaitable::await_resume() noexcept {
    int res = take_result();
    if (res < 0) return errno_code(-res);
    socket_handle s(res);
    if (op.addr_len == 0) return unix_stream(std::move(s)); // multishot: the peer comes lazily
    auto peer = unix_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer_), op.addr_len);
    return peer ? unix_stream(std::move(s), *peer) : unix_stream(std::move(s));
}

} // namespace coronet
