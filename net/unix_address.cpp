#include "coronet/net/unix_address.hpp"

#include <cstring>

namespace coronet {
namespace {

constexpr socklen_t path_offset = offsetof(sockaddr_un, sun_path);

} // namespace

unix_address::unix_address() noexcept : len_(path_offset) {
    std::memset(&sun_, 0, sizeof sun_);
    sun_.sun_family = AF_UNIX;
}

result<unix_address> unix_address::parse(std::string_view text) {
    if (!text.empty() && text.front() == '@') return from_abstract(text.substr(1));
    return from_path(text);
}

result<unix_address> unix_address::from_path(std::string_view path) {
    if (path.empty() || path.find('\0') != std::string_view::npos)
        return std::make_error_code(std::errc::invalid_argument);
    if (path.size() > max_length) return std::make_error_code(std::errc::filename_too_long);
    unix_address a;
    std::memcpy(a.sun_.sun_path, path.data(), path.size()); // NUL-terminated by the memset
    a.len_ = static_cast<socklen_t>(path_offset + path.size() + 1);
    return a;
}

result<unix_address> unix_address::from_abstract(std::string_view name) {
    if (name.empty()) return std::make_error_code(std::errc::invalid_argument);
    if (name.size() > max_length) return std::make_error_code(std::errc::filename_too_long);
    unix_address a;
    std::memcpy(a.sun_.sun_path + 1, name.data(), name.size()); // sun_path[0] stays NUL
    a.len_ = static_cast<socklen_t>(path_offset + 1 + name.size());
    return a;
}

result<unix_address> unix_address::from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr || len < sizeof(sa_family_t) || len > sizeof(sockaddr_un) ||
        sa->sa_family != AF_UNIX) // the family is read only once len says it is there
        return std::make_error_code(std::errc::invalid_argument);
    unix_address a;
    std::memcpy(&a.sun_, sa, len);
    a.len_ = len;
    if (!a.is_unnamed() && !a.is_abstract()) { // a path: count up to its NUL
        std::size_t n = strnlen(a.sun_.sun_path, len - path_offset);
        if (n == 0) return unix_address{};
        if (n > max_length) return std::make_error_code(std::errc::filename_too_long);
        a.len_ = static_cast<socklen_t>(path_offset + n + 1);
        a.sun_.sun_path[n] = '\0';
    }
    return a;
}

bool unix_address::is_abstract() const noexcept {
    return !is_unnamed() && sun_.sun_path[0] == '\0';
}

std::string_view unix_address::name() const noexcept {
    if (is_unnamed()) return {};
    if (is_abstract()) return {sun_.sun_path + 1, len_ - path_offset - 1};
    return {sun_.sun_path, len_ - path_offset - 1};
}

std::string unix_address::to_string() const {
    if (is_unnamed()) return "(unnamed)";
    if (is_abstract()) return "@" + std::string(name());
    return std::string(name());
}

bool operator==(const unix_address& a, const unix_address& b) noexcept {
    return a.len_ == b.len_ &&
           std::memcmp(a.sun_.sun_path, b.sun_.sun_path, a.len_ - path_offset) == 0;
}

} // namespace coronet
