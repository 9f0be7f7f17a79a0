#include <coronet/net/address.hpp>
#include <coronet/net/unix_address.hpp>

#include <cstddef>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <memory>
#include <net/if.h>
#include <string>

using coronet::socket_address;
using coronet::unix_address;

TEST_CASE("address: parses and formats IPv4") {
    auto a = socket_address::parse("127.0.0.1:80");
    REQUIRE(a);
    CHECK(a->family() == AF_INET);
    CHECK(a->port() == 80);
    CHECK(a->host() == "127.0.0.1");
    CHECK(a->to_string() == "127.0.0.1:80");
    CHECK(fmt::format("{}", *a) == "127.0.0.1:80");
    CHECK(a->size() == sizeof(sockaddr_in));
}

TEST_CASE("address: parses and formats IPv6 in brackets") {
    auto a = socket_address::parse("[::1]:65535");
    REQUIRE(a);
    CHECK(a->is_v6());
    CHECK(a->port() == 65535);
    CHECK(a->host() == "::1");
    CHECK(a->to_string() == "[::1]:65535");
    CHECK(fmt::format("{:>14}", *a) == "   [::1]:65535");
    auto full = socket_address::parse("[2001:db8::a:b]:0");
    REQUIRE(full);
    CHECK(full->to_string() == "[2001:db8::a:b]:0");
}

TEST_CASE("address: IPv6 scope ids by interface name or index") {
    const unsigned lo = ::if_nametoindex("lo");
    REQUIRE(lo != 0);
    auto a = socket_address::parse("[fe80::1%lo]:80").value();
    CHECK(a.scope_id() == lo);
    CHECK(a.host() == "fe80::1%lo");
    CHECK(a.to_string() == "[fe80::1%lo]:80");
    auto by_index = socket_address::parse("[fe80::1%" + std::to_string(lo) + "]:80").value();
    CHECK(by_index == a);
    CHECK(by_index.to_string() == "[fe80::1%lo]:80"); // printed by name
    CHECK(socket_address::from("fe80::1%lo", 80).value() == a);
    CHECK(socket_address::from("[fe80::1%lo]", 80).value() == a);
    // An index no interface has is kept and printed as the number.
    auto unknown = socket_address::parse("[fe80::2%4000000000]:1").value();
    CHECK(unknown.scope_id() == 4'000'000'000u);
    CHECK(unknown.to_string() == "[fe80::2%4000000000]:1");
    CHECK(socket_address::parse(unknown.to_string()).value() == unknown);
    // The scope id is part of the address.
    CHECK_FALSE(a == socket_address::parse("[fe80::1]:80").value());
    CHECK(socket_address::parse("[fe80::1%0]:80").value() ==
          socket_address::parse("[fe80::1]:80").value());
    CHECK(socket_address::parse("[::1]:80").value().scope_id() == 0);
    CHECK(socket_address::parse("127.0.0.1:80").value().scope_id() == 0);
    auto kernel = socket_address::from_sockaddr(a.data(), a.size()).value();
    CHECK(kernel == a);
    CHECK(socket_address::parse("[fe80::1%no-such-if9]:80").error() == std::errc::no_such_device);
    for (const char* bad :
         {"[fe80::1%]:80", "[fe80::1%4294967296]:80", "127.0.0.1%1:80", "[127.0.0.1%lo]:80",
          "fe80::1%lo:80", "[fe80::1%lo]", "[fe80::1%0123456789abcdefXYZ]:80", "[%lo]:80"}) {
        CAPTURE(bad);
        CHECK(socket_address::parse(bad).error() == std::errc::invalid_argument);
    }
}

TEST_CASE("address: rejects bad text with invalid_argument") {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                            "127.0.0.1:8o", "256.0.0.1:80", "localhost:80", "::1:80", "[::1]",
                            "[127.0.0.1]:80", "[::1:80", "1.2.3:4", ":80", "[]:80"}) {
        CAPTURE(bad);
        auto a = socket_address::parse(bad);
        REQUIRE_FALSE(a);
        CHECK(a.error() == std::errc::invalid_argument);
        CHECK_THROWS_AS(a.value(), std::system_error);
    }
}

TEST_CASE("address: from host and port, round trip through sockaddr") {
    auto a = socket_address::from("::1", 8080).value();
    CHECK(a == socket_address::loopback_v6(8080));
    auto b = socket_address::from("[::1]", 8080).value();
    CHECK(a == b);
    auto c = socket_address::from_sockaddr(a.data(), a.size()).value();
    CHECK(c == a);
    CHECK(socket_address::loopback_v4(7) == socket_address::parse("127.0.0.1:7").value());
    CHECK_FALSE(socket_address::loopback_v4(7) == socket_address::loopback_v4(8));
    CHECK_FALSE(socket_address::from("", 1));
    sockaddr unix_family{};
    unix_family.sa_family = AF_UNIX;
    CHECK_FALSE(socket_address::from_sockaddr(&unix_family, sizeof unix_family));
}

TEST_CASE("address: set_port keeps the host") {
    auto a = socket_address::parse("[::1]:1").value();
    a.set_port(4242);
    CHECK(a.to_string() == "[::1]:4242");
    socket_address d;
    CHECK(d.to_string() == "0.0.0.0:0");
}

TEST_CASE("address: from_sockaddr reads no byte past len") {
    // Found by fuzz/address_fuzz: both read sa_family before checking that
    // `len` covers it. Under ASan (./dev test --sanitize) an overread of these
    // exactly-sized heap blocks is reported.
    for (socklen_t len : {0u, 1u}) {
        CAPTURE(len);
        auto block = std::make_unique<std::byte[]>(len);
        auto* sa = reinterpret_cast<const sockaddr*>(block.get());
        CHECK(socket_address::from_sockaddr(sa, len).error() == std::errc::invalid_argument);
        CHECK(unix_address::from_sockaddr(sa, len).error() == std::errc::invalid_argument);
    }
    CHECK(socket_address::from_sockaddr(nullptr, 0).error() == std::errc::invalid_argument);
    CHECK(unix_address::from_sockaddr(nullptr, 0).error() == std::errc::invalid_argument);
    // Just the family: an unnamed Unix address; too short for IPv4.
    sa_family_t family = AF_UNIX;
    auto* fam = reinterpret_cast<const sockaddr*>(&family);
    CHECK(unix_address::from_sockaddr(fam, sizeof family).value().is_unnamed());
    family = AF_INET;
    CHECK(socket_address::from_sockaddr(fam, sizeof family).error() == std::errc::invalid_argument);
}
