#pragma once
// coronet::socket_address: an IPv4 or IPv6 address with a port.
//
//   auto a = coronet::socket_address::parse("127.0.0.1:65432");   // result<>
//   auto b = coronet::socket_address::parse("[::1]:8080");
//   auto c = coronet::socket_address::from("::1", 8080);
//   fmt::print("{}\n", *a);                                    // 127.0.0.1:65432
//
// Only numeric addresses are parsed here (no name lookup, nothing blocks).
// Errors: std::errc::invalid_argument for text that is not an address, a
// missing or out-of-range port, or an IPv6 address without brackets.

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

    /// Parses "A.B.C.D:PORT" or "[IPV6]:PORT".
    static result<socket_address> parse(std::string_view text);
    /// A numeric host ("127.0.0.1", "::1", "[::1]") and a port.
    static result<socket_address> from(std::string_view host, std::uint16_t port);
    /// Wraps a kernel address of `len` bytes at `sa` (AF_INET or AF_INET6;
    /// anything else, or fewer bytes than the family needs, is invalid_argument).
    /// Reads nothing past `len`.
    static result<socket_address> from_sockaddr(const sockaddr* sa, socklen_t len);

    /// 127.0.0.1:port and [::1]:port.
    static socket_address loopback_v4(std::uint16_t port = 0) noexcept;
    static socket_address loopback_v6(std::uint16_t port = 0) noexcept;

    int family() const noexcept { return storage_.v4.sin_family; }
    bool is_v6() const noexcept { return family() == AF_INET6; }
    std::uint16_t port() const noexcept;
    void set_port(std::uint16_t port) noexcept;
    /// The host part without brackets: "127.0.0.1", "::1".
    std::string host() const;
    /// "127.0.0.1:80", "[::1]:80".
    std::string to_string() const;

    const sockaddr* data() const noexcept { return &storage_.sa; }
    sockaddr* data() noexcept { return &storage_.sa; }
    socklen_t size() const noexcept;
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_in6); }

    friend bool operator==(const socket_address& a, const socket_address& b) noexcept;

private:
    union {
        sockaddr sa;
        sockaddr_in v4;
        sockaddr_in6 v6;
    } storage_;
};

} // namespace coronet

template <>
struct fmt::formatter<coronet::socket_address> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const coronet::socket_address& a, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(a.to_string(), ctx);
    }
};
