#pragma once
/// \class coronet::socket_address
/// coronet::socket_address: an IPv4 or IPv6 address with a port.
///
///     auto a = coronet::socket_address::parse("127.0.0.1:65432");   // result<>
///     auto b = coronet::socket_address::parse("[::1]:8080");
///     auto c = coronet::socket_address::from("::1", 8080);
///     fmt::print("{}\n", *a);                                    // 127.0.0.1:65432
///
/// Only numeric addresses are parsed here (no name lookup, nothing blocks).
/// Errors: std::errc::invalid_argument for text that is not an address, a
/// missing or out-of-range port, or an IPv6 address without brackets.
///
/// `fmt::format("{}", a)` and `fmt::print` write to_string(). A plain value:
/// copy it freely.

#include "coronet/runtime/result.hpp"

#include <cstdint>
#include <fmt/format.h>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace coronet {

class socket_address {
public:
    /// 0.0.0.0:0
    socket_address() noexcept;

    /// Parses "A.B.C.D:PORT" or "[IPV6]:PORT". Errors: invalid_argument.
    static result<socket_address> parse(std::string_view text);
    /// A numeric host ("127.0.0.1", "::1", "[::1]") and a port. Errors:
    /// invalid_argument for a host that is not a numeric address.
    static result<socket_address> from(std::string_view host, std::uint16_t port);
    /// Wraps a kernel address (AF_INET or AF_INET6; anything else is invalid_argument).
    static result<socket_address> from_sockaddr(const sockaddr* sa, socklen_t len);

    /// The IPv4 loopback address with `port`: 127.0.0.1:port.
    static socket_address loopback_v4(std::uint16_t port = 0) noexcept;
    /// The IPv6 loopback address with `port`: `[::1]:port`.
    static socket_address loopback_v6(std::uint16_t port = 0) noexcept;

    /// AF_INET or AF_INET6.
    int family() const noexcept { return storage_.v4.sin_family; }
    /// True for an IPv6 address.
    bool is_v6() const noexcept { return family() == AF_INET6; }
    /// The port, in host byte order.
    std::uint16_t port() const noexcept;
    /// Replaces the port (host byte order).
    void set_port(std::uint16_t port) noexcept;
    /// The host part without brackets: "127.0.0.1", "::1".
    std::string host() const;
    /// "127.0.0.1:80", "[::1]:80".
    std::string to_string() const;

    /// The kernel form, for system calls (bind, connect, sendto).
    const sockaddr* data() const noexcept { return &storage_.sa; }
    /// The kernel form, writable (for accept or recvfrom to fill in).
    sockaddr* data() noexcept { return &storage_.sa; }
    /// The length of data() for this family: sizeof(sockaddr_in) or sizeof(sockaddr_in6).
    socklen_t size() const noexcept;
    /// The room data() has: sizeof(sockaddr_in6).
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_in6); }

    /// Same family, address and port.
    friend bool operator==(const socket_address& a, const socket_address& b) noexcept;

private:
    union {
        sockaddr sa;
        sockaddr_in v4;
        sockaddr_in6 v6;
    } storage_;
};

} // namespace coronet

namespace fmt {
template <>
struct formatter<coronet::socket_address> : formatter<std::string_view> {
    template <class Ctx>
    auto format(const coronet::socket_address& a, Ctx& ctx) const {
        return formatter<std::string_view>::format(a.to_string(), ctx);
    }
};
} // namespace fmt
