#include "coronet/net/http_files.hpp"
#include "coronet/net/http_request.hpp" // iequals

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace coronet::http {
namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const noexcept { return fd_; }
    void reset(int fd) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

constexpr int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK; // a FIFO must not block

// Without openat2: one component at a time, refusing every symlink.
int open_without_symlinks(int dir_fd, const std::string& path) noexcept {
    fd_guard dir(-1);
    int at = dir_fd;
    std::size_t from = 0;
    for (std::size_t slash; (slash = path.find('/', from)) != std::string::npos; from = slash + 1) {
        std::string part = path.substr(from, slash - from);
        int next = ::openat(at, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) return -1;
        dir.reset(next);
        at = next;
    }
    return ::openat(at, path.c_str() + from, open_flags | O_NOFOLLOW);
}

} // namespace

result<std::string> target_path(std::string_view target) {
    for (std::string_view scheme : {"http://", "https://"}) {
        if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
            target.remove_prefix(scheme.size());
            std::size_t end = target.find_first_of("/?#"); // the authority ends there
            target = end == std::string_view::npos || target[end] != '/' ? std::string_view("/")
                                                                         : target.substr(end);
            break;
        }
    }
    if (target.empty() || target.front() != '/')
        return std::make_error_code(std::errc::invalid_argument);
    target = target.substr(0, target.find_first_of("?#"));
    std::string decoded;
    decoded.reserve(target.size());
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '%') {
            int hi = i + 2 < target.size() ? hex_value(target[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(target[i + 2]) : -1;
            if (lo < 0) return std::make_error_code(std::errc::invalid_argument);
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return std::make_error_code(std::errc::invalid_argument);
        decoded += c;
    }
    std::string path;
    std::string_view rest = decoded;
    bool directory = true; // the last segment was empty or "."
    while (!rest.empty()) {
        std::size_t slash = std::min(rest.find('/'), rest.size());
        std::string_view seg = rest.substr(0, slash);
        rest.remove_prefix(std::min(slash + 1, rest.size()));
        if (seg == "..") return std::make_error_code(std::errc::permission_denied);
        directory = seg.empty() || seg == ".";
        if (directory) continue;
        if (!path.empty()) path += '/';
        path += seg;
    }
    directory = directory || decoded.back() == '/'; // "/docs/": the loop saw no last segment
    if (directory) path += path.empty() ? "index.html" : "/index.html";
    return path;
}

std::string_view content_type_for(std::string_view path) noexcept {
    static constexpr std::pair<std::string_view, std::string_view> types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".wasm", "application/wasm"},
        {".pdf", "application/pdf"},
    };
    std::size_t slash = path.rfind('/');
    std::size_t dot = path.rfind('.');
    if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
        for (auto [ext, type] : types)
            if (iequals(path.substr(dot), ext)) return type;
    }
    return "application/octet-stream";
}

result<std::string> read_file_beneath(int dir_fd, const std::string& path, std::size_t max_size) {
    open_how how{};
    how.flags = open_flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) fd = open_without_symlinks(dir_fd, path);
    if (fd < 0) return std::error_code(errno, std::system_category());
    fd_guard file(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::error_code(errno, std::system_category());
    if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::is_a_directory);
    if (static_cast<std::uint64_t>(st.st_size) > max_size)
        return std::make_error_code(std::errc::file_too_large);
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) { // each turn reads >= 1 byte, or ends the loop
        ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::error_code(errno, std::system_category());
        if (n == 0) break; // the file shrank meanwhile
        got += static_cast<std::size_t>(n);
    }
    data.resize(got);
    return data;
}

int file_status(std::error_code e) noexcept {
    if (e == std::errc::invalid_argument) return 400;
    if (e == std::errc::permission_denied || e == std::errc::cross_device_link ||
        e == std::errc::operation_not_permitted)
        return 403;
    if (e == std::errc::no_such_file_or_directory || e == std::errc::not_a_directory ||
        e == std::errc::is_a_directory || e == std::errc::too_many_symbolic_link_levels ||
        e == std::errc::filename_too_long)
        return 404;
    return 500;
}

} // namespace coronet::http
