// Fuzz target: socket address text and kernel addresses (net/address.hpp,
// net/unix_address.hpp).
//
// The input, as text, goes to socket_address::parse, socket_address::from
// and unix_address::parse; as raw bytes (exactly as many as given, so reading
// past them is an ASan report) to both from_sockaddr functions. Whatever
// parses must survive the round trips that hold for it:
//   parse(to_string(a)) == a, and to_string is then stable;
//   from(a.host(), a.port()) == a;   from_sockaddr(a.data(), a.size()) == a;
//   unix: parse(to_string(a)) == a except for a path that starts with '@'
//   (which parse reads as an abstract name), and name() is what was given.
// Errors must be the documented ones.
//
// Run: ./dev fuzz 60 address   (build-fuzz/fuzz/address_fuzz)
#include "fuzz/fuzz_util.hpp"

#include <coronet/net/address.hpp>
#include <coronet/net/unix_address.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

using coronet::socket_address;
using coronet::unix_address;
using fuzz::check;

namespace {

void check_socket_address(const socket_address& a) {
    check(a.family() == AF_INET || a.family() == AF_INET6, "family is not IP");
    check(a.size() == (a.is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)), "size");
    const std::string text = a.to_string();
    auto again = socket_address::parse(text);
    check(again.has_value(), "to_string() output does not parse");
    check(*again == a, "parse(to_string(a)) != a");
    check(again->to_string() == text, "to_string is not stable");
    auto from = socket_address::from(a.host(), a.port());
    check(from.has_value() && *from == a, "from(host(), port()) != a");
    auto kernel = socket_address::from_sockaddr(a.data(), a.size());
    check(kernel.has_value() && *kernel == a, "from_sockaddr(data(), size()) != a");
}

bool documented(std::error_code e) {
    return e == std::errc::invalid_argument || e == std::errc::no_such_device;
}

void check_unix_address(const unix_address& a, std::string_view given) {
    check(!a.is_unnamed(), "a parsed address is unnamed");
    check(a.name().size() <= unix_address::max_length, "name too long");
    const std::string text = a.to_string();
    if (a.is_abstract()) {
        check(given.size() >= 1 && given.front() == '@', "abstract without '@'");
        check(a.name() == given.substr(1), "abstract name differs from the text");
        check(text == given, "abstract to_string differs from the text");
    } else {
        check(a.name() == given, "path differs from the text");
        check(a.name().data()[a.name().size()] == '\0', "path is not NUL-terminated");
    }
    if (a.is_abstract() || text.front() != '@') {
        auto again = unix_address::parse(text);
        check(again.has_value() && *again == a, "unix parse(to_string(a)) != a");
    }
    auto kernel = unix_address::from_sockaddr(a.data(), a.size());
    check(kernel.has_value() && *kernel == a, "unix from_sockaddr(data(), size()) != a");
}

void check_unix_error(std::error_code e, std::string_view given) {
    const bool abstract = !given.empty() && given.front() == '@';
    std::string_view name = abstract ? given.substr(1) : given;
    std::errc want{};
    if (name.empty() || (!abstract && name.find('\0') != std::string_view::npos))
        want = std::errc::invalid_argument;
    else if (name.size() > unix_address::max_length)
        want = std::errc::filename_too_long;
    else
        fuzz::fail("unix: a valid name was rejected");
    check(e == want, "unix: wrong error");
}

// A kernel address of exactly `size` bytes: reading past them is a bug.
void from_kernel_bytes(const std::uint8_t* data, std::size_t size) {
    auto copy = std::make_unique<std::byte[]>(size);
    if (size) std::memcpy(copy.get(), data, size);
    auto* sa = reinterpret_cast<const sockaddr*>(copy.get());
    auto len = static_cast<socklen_t>(size);
    if (auto a = socket_address::from_sockaddr(sa, len)) {
        auto again = socket_address::from_sockaddr(a->data(), a->size());
        check(again.has_value() && *again == *a, "from_sockaddr round trip");
        (void)a->to_string();
    }
    if (auto u = unix_address::from_sockaddr(sa, len)) {
        // A path the kernel gave without its NUL gains one (unix(7)); nothing more.
        check(u->size() <= len + 1, "unix from_sockaddr grew the address");
        auto again = unix_address::from_sockaddr(u->data(), u->size());
        check(again.has_value() && *again == *u, "unix from_sockaddr round trip");
        (void)u->to_string();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto a = socket_address::parse(text))
        check_socket_address(*a);
    else
        check(documented(a.error()), "parse: undocumented error");
    std::uint16_t port = size ? static_cast<std::uint16_t>(data[0] * 257u) : 0;
    if (auto a = socket_address::from(text, port)) {
        check(a->port() == port, "from() lost the port");
        check_socket_address(*a);
    } else {
        check(documented(a.error()), "from: undocumented error");
    }

    if (auto u = unix_address::parse(text))
        check_unix_address(*u, text);
    else
        check_unix_error(u.error(), text);

    from_kernel_bytes(data, size);
    return 0;
}
