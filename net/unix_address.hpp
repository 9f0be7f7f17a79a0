#pragma once
/// \class coronet::unix_address
/// coronet::unix_address: the address of a Unix domain socket — a filesystem
/// path, or a Linux abstract name.
///
///     auto a = coronet::unix_address::parse("/run/app.sock");   // result<>: a path
///     auto b = coronet::unix_address::parse("@app");            // abstract name "app"
///     fmt::print("{} {}\n", *a, *b);                             // /run/app.sock @app
///
/// Text starting with '@' names an abstract socket (Linux only, no file; it
/// disappears with the last socket bound to it), written the way ss(8) prints
/// it; anything else is a path, relative ones resolved against the current
/// directory when used. An accepted connection's peer is usually unnamed.
/// Nothing here touches the filesystem.
///
/// Errors: std::errc::filename_too_long when the path or name does not fit
/// sockaddr_un (at most 107 bytes); std::errc::invalid_argument for an empty
/// path or name, or a path containing a NUL byte.
///
/// `fmt::format("{}", a)` and `fmt::print` write to_string(). A plain value:
/// copy it freely.

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

    /// "@name" is an abstract name, anything else a path. Errors: above.
    static result<unix_address> parse(std::string_view text);
    /// A filesystem path. Errors: filename_too_long, invalid_argument (empty,
    /// or a NUL byte).
    static result<unix_address> from_path(std::string_view path);
    /// An abstract name (without the leading NUL byte or '@'; may hold any
    /// bytes). Errors: filename_too_long, invalid_argument (empty).
    static result<unix_address> from_abstract(std::string_view name);
    /// Wraps a kernel address of `len` bytes at `sa` (AF_UNIX; anything else,
    /// or `len` outside 2..sizeof(sockaddr_un), is invalid_argument). Reads
    /// nothing past `len`.
    static result<unix_address> from_sockaddr(const sockaddr* sa, socklen_t len);

    /// True for an abstract name ("@name").
    bool is_abstract() const noexcept;
    /// True for no name at all (an unbound socket, most accepted peers).
    bool is_unnamed() const noexcept { return len_ <= offsetof(sockaddr_un, sun_path); }
    /// The path, or the abstract name without '@'; empty when unnamed. For a
    /// path, name().data() is NUL-terminated (a C string for stat, unlink).
    std::string_view name() const noexcept;
    /// "/run/app.sock", "@app", or "(unnamed)".
    std::string to_string() const;

    /// The kernel form, for system calls (bind, connect).
    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&sun_); }
    /// The length of data() that is used (family, then path or name).
    socklen_t size() const noexcept { return len_; }
    /// The room data() has: sizeof(sockaddr_un).
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_un); }

    /// The same kind (path, abstract or unnamed) and the same bytes.
    friend bool operator==(const unix_address& a, const unix_address& b) noexcept;

private:
    sockaddr_un sun_;
    socklen_t len_;
};

} // namespace coronet

namespace fmt {
template <>
struct formatter<coronet::unix_address> : formatter<std::string_view> {
    template <class Ctx>
    auto format(const coronet::unix_address& a, Ctx& ctx) const {
        return formatter<std::string_view>::format(a.to_string(), ctx);
    }
};
} // namespace fmt
