#pragma once
/// \class coronet::socket_address
/// coronet::socket_address: an IPv4 or IPv6 address with a port.
///
///     auto a = coronet::socket_address::parse("127.0.0.1:65432");   // result<>
///     auto b = coronet::socket_address::parse("[::1]:8080");
///     auto c = coronet::socket_address::from("::1", 8080);
///     auto d = coronet::socket_address::parse("[fe80::1%eth0]:80"); // link-local, scope id
///     fmt::print("{}\n", *a);                                    // 127.0.0.1:65432
///
/// Only numeric addresses are parsed here (no name lookup, nothing blocks). An
/// IPv6 address may carry a scope id (RFC 4007) after '%': an interface index
/// ("%2") or name ("%eth0", looked up with if_nametoindex); it is printed as
/// the interface's name when the interface exists, else as the number.
/// Errors: std::errc::invalid_argument for text that is not an address, a
/// missing or out-of-range port, an IPv6 address without brackets, or a scope
/// id on an IPv4 address; std::errc::no_such_device for a scope id naming no
/// interface.
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

    /// Parses "A.B.C.D:PORT", "[IPV6]:PORT" or "[IPV6%SCOPE]:PORT". Errors:
    /// invalid_argument, no_such_device (a scope id naming no interface).
    static result<socket_address> parse(std::string_view text);
    /// A numeric host ("127.0.0.1", "::1", "[::1]", "fe80::1%eth0") and a
    /// port. Errors: invalid_argument for a host that is not a numeric
    /// address, no_such_device for an unknown scope id.
    static result<socket_address> from(std::string_view host, std::uint16_t port);
    /// Wraps a kernel address of `len` bytes at `sa` (AF_INET or AF_INET6;
    /// anything else, or fewer bytes than the family needs, is invalid_argument).
    /// Reads nothing past `len`.
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
    /// The IPv6 scope id (an interface index); 0 for none and for IPv4.
    std::uint32_t scope_id() const noexcept;
    /// The host part without brackets: "127.0.0.1", "::1", "fe80::1%eth0".
    std::string host() const;
    /// "127.0.0.1:80", "[::1]:80", "[fe80::1%eth0]:80".
    std::string to_string() const;

    /// The kernel form, for system calls (bind, connect, sendto).
    const sockaddr* data() const noexcept { return &storage_.sa; }
    /// The kernel form, writable (for accept or recvfrom to fill in).
    sockaddr* data() noexcept { return &storage_.sa; }
    /// The length of data() for this family: sizeof(sockaddr_in) or sizeof(sockaddr_in6).
    socklen_t size() const noexcept;
    /// The room data() has: sizeof(sockaddr_in6).
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_in6); }

    /// Same family, address, port and (IPv6) scope id.
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
