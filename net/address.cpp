#include "coronet/net/address.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <net/if.h>

namespace coronet {
namespace {

result<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535)
        return std::make_error_code(std::errc::invalid_argument);
    return static_cast<std::uint16_t>(value);
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "%2" or "%eth0": an interface index, or a name the kernel knows.
result<std::uint32_t> parse_scope(std::string_view text) {
    if (all_digits(text)) {
        std::uint32_t id = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (ec != std::errc{} || end != text.data() + text.size())
            return std::make_error_code(std::errc::invalid_argument);
        return id;
    }
    char name[IF_NAMESIZE];
    if (text.empty() || text.size() >= sizeof name || text.find('\0') != text.npos)
        return std::make_error_code(std::errc::invalid_argument);
    std::memcpy(name, text.data(), text.size());
    name[text.size()] = '\0';
    std::uint32_t id = ::if_nametoindex(name);
    if (id == 0) return std::make_error_code(std::errc::no_such_device);
    return id;
}

} // namespace

socket_address::socket_address() noexcept {
    std::memset(&storage_, 0, sizeof storage_);
    storage_.v4.sin_family = AF_INET;
}

result<socket_address> socket_address::from(std::string_view host, std::uint16_t port) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::size_t percent = host.find('%');
    std::string_view scope = percent == host.npos ? std::string_view{} : host.substr(percent + 1);
    host = host.substr(0, percent);
    char buf[INET6_ADDRSTRLEN + 1];
    if (host.empty() || host.size() >= sizeof buf)
        return std::make_error_code(std::errc::invalid_argument);
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    socket_address a;
    if (percent == std::string_view::npos &&
        ::inet_pton(AF_INET, buf, &a.storage_.v4.sin_addr) == 1) {
        a.storage_.v4.sin_family = AF_INET;
    } else if (::inet_pton(AF_INET6, buf, &a.storage_.v6.sin6_addr) == 1) {
        a.storage_.v6.sin6_family = AF_INET6;
        if (percent != std::string_view::npos) {
            auto id = parse_scope(scope);
            if (!id) return id.error();
            a.storage_.v6.sin6_scope_id = *id;
        }
    } else {
        return std::make_error_code(std::errc::invalid_argument);
    }
    a.set_port(port);
    return a;
}

result<socket_address> socket_address::parse(std::string_view text) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::make_error_code(std::errc::invalid_argument);
    std::string_view host = text.substr(0, colon);
    // A bare IPv6 address ("::1:80") is ambiguous: brackets are required.
    bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (!bracketed && host.find(':') != std::string_view::npos)
        return std::make_error_code(std::errc::invalid_argument);
    auto port = parse_port(text.substr(colon + 1));
    if (!port) return port.error();
    auto a = from(host, *port);
    if (a && bracketed != a->is_v6()) return std::make_error_code(std::errc::invalid_argument);
    return a;
}

result<socket_address> socket_address::from_sockaddr(const sockaddr* sa, socklen_t len) {
    socket_address a;
    if (sa == nullptr || len < sizeof(sa_family_t)) // too short to hold even the family
        return std::make_error_code(std::errc::invalid_argument);
    if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        std::memcpy(&a.storage_.v4, sa, sizeof(sockaddr_in));
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        std::memcpy(&a.storage_.v6, sa, sizeof(sockaddr_in6));
    } else {
        return std::make_error_code(std::errc::invalid_argument);
    }
    return a;
}

socket_address socket_address::loopback_v4(std::uint16_t port) noexcept {
    socket_address a;
    a.storage_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.set_port(port);
    return a;
}

socket_address socket_address::loopback_v6(std::uint16_t port) noexcept {
    socket_address a;
    a.storage_.v6.sin6_family = AF_INET6;
    a.storage_.v6.sin6_addr = in6addr_loopback;
    a.set_port(port);
    return a;
}

std::uint16_t socket_address::port() const noexcept {
    return ntohs(is_v6() ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

void socket_address::set_port(std::uint16_t port) noexcept {
    (is_v6() ? storage_.v6.sin6_port : storage_.v4.sin_port) = htons(port);
}

socklen_t socket_address::size() const noexcept {
    return is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::uint32_t socket_address::scope_id() const noexcept {
    return is_v6() ? storage_.v6.sin6_scope_id : 0;
}

std::string socket_address::host() const {
    char buf[INET6_ADDRSTRLEN];
    const void* src = is_v6() ? static_cast<const void*>(&storage_.v6.sin6_addr)
                              : static_cast<const void*>(&storage_.v4.sin_addr);
    ::inet_ntop(family(), src, buf, sizeof buf);
    std::string text = buf;
    if (std::uint32_t id = scope_id(); id != 0) {
        // The interface's name when it has one that does not read as a number.
        char name[IF_NAMESIZE];
        bool named = ::if_indextoname(id, name) != nullptr && !all_digits(name);
        text += '%';
        text += named ? std::string(name) : std::to_string(id);
    }
    return text;
}

std::string socket_address::to_string() const {
    return is_v6() ? "[" + host() + "]:" + std::to_string(port())
                   : host() + ":" + std::to_string(port());
}

bool operator==(const socket_address& a, const socket_address& b) noexcept {
    if (a.family() != b.family() || a.port() != b.port()) return false;
    if (a.is_v6())
        return a.storage_.v6.sin6_scope_id == b.storage_.v6.sin6_scope_id &&
               std::memcmp(&a.storage_.v6.sin6_addr, &b.storage_.v6.sin6_addr, sizeof(in6_addr)) ==
                   0;
    return a.storage_.v4.sin_addr.s_addr == b.storage_.v4.sin_addr.s_addr;
}

} // namespace coronet
