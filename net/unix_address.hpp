#pragma once
// coronet::unix_address: the address of a Unix domain socket — a filesystem
// path, or a Linux abstract name.
//
//   auto a = coronet::unix_address::parse("/run/app.sock");   // result<>: a path
//   auto b = coronet::unix_address::parse("@app");            // abstract name "app"
//   fmt::print("{} {}\n", *a, *b);                             // /run/app.sock @app
//
// Text starting with '@' names an abstract socket (Linux only, no file; it
// disappears with the last socket bound to it), written the way ss(8) prints
// it; anything else is a path, relative ones resolved against the current
// directory when used. An accepted connection's peer is usually unnamed.
// Nothing here touches the filesystem.
//
// Errors: std::errc::filename_too_long when the path or name does not fit
// sockaddr_un (at most 107 bytes); std::errc::invalid_argument for an empty
// path or name, or a path containing a NUL byte.

#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <fmt/format.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>

namespace coronet {

class unix_address {
public:
    /// The longest path or abstract name, in bytes.
    static constexpr std::size_t max_length = sizeof(sockaddr_un::sun_path) - 1;

    /// An unnamed address (what an unbound socket has).
    unix_address() noexcept;

    /// "@name" is an abstract name, anything else a path.
    static result<unix_address> parse(std::string_view text);
    /// A filesystem path.
    static result<unix_address> from_path(std::string_view path);
    /// An abstract name (without the leading NUL byte or '@'; may hold any bytes).
    static result<unix_address> from_abstract(std::string_view name);
    /// Wraps a kernel address of `len` bytes at `sa` (AF_UNIX; anything else,
    /// or `len` outside 2..sizeof(sockaddr_un), is invalid_argument). Reads
    /// nothing past `len`.
    static result<unix_address> from_sockaddr(const sockaddr* sa, socklen_t len);

    bool is_abstract() const noexcept;
    bool is_unnamed() const noexcept { return len_ <= offsetof(sockaddr_un, sun_path); }
    /// The path, or the abstract name without '@'; empty when unnamed. For a
    /// path, name().data() is NUL-terminated (a C string for stat, unlink).
    std::string_view name() const noexcept;
    /// "/run/app.sock", "@app", or "(unnamed)".
    std::string to_string() const;

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&sun_); }
    socklen_t size() const noexcept { return len_; }
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_un); }

    friend bool operator==(const unix_address& a, const unix_address& b) noexcept;

private:
    sockaddr_un sun_;
    socklen_t len_;
};

} // namespace coronet

template <>
struct fmt::formatter<coronet::unix_address> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const coronet::unix_address& a, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(a.to_string(), ctx);
    }
};
