#pragma once
// Command-line handling shared by the examples: --host, --port, --backend,
// for servers --grace, and for clients --message and --count. --help prints the usage and exits
// 0; an unknown flag or a bad value prints one line and exits 2.

#include "net/address.hpp"
#include "runtime/event_loop.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <string>
#include <string_view>

namespace example {

struct options {
    coronet::socket_address address = coronet::socket_address::loopback_v4(65432);
    coronet::loop_options loop;
    std::string message = "Hello, world";
    unsigned long count = 1;
    std::chrono::milliseconds grace{5000};
};

[[noreturn]] inline void usage_error(const char* prog, const std::string& what) {
    fmt::print(stderr, "{}: {} (see --help)\n", prog, what);
    std::exit(2);
}

template <class T>
T number(const char* prog, std::string_view flag, std::string_view text, T max) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max)
        usage_error(prog, fmt::format("{}: '{}' is not a number from 0 to {}", flag, text, max));
    return v;
}

/// Parses argv; `client` enables --message and --count.
inline options parse(int argc, char** argv, const char* usage, bool client) {
    const char* prog = argv[0];
    options o;
    std::string host = "127.0.0.1";
    std::uint16_t port = 65432;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            fmt::print("{}", usage);
            std::exit(0);
        }
        bool known = flag == "--host" || flag == "--port" || flag == "--backend" ||
                     (client && (flag == "--message" || flag == "--count")) ||
                     (!client && flag == "--grace");
        if (!known) usage_error(prog, fmt::format("unknown option '{}'", flag));
        if (i + 1 == argc) usage_error(prog, fmt::format("{} needs a value", flag));
        std::string_view value = argv[++i];
        if (flag == "--host") {
            host = value;
        } else if (flag == "--port") {
            port = number<std::uint16_t>(prog, flag, value, 65535);
        } else if (flag == "--backend") {
            o.loop.backend = coronet::parse_backend_kind(value);
            if (!o.loop.backend)
                usage_error(prog, fmt::format("--backend: '{}' is not auto|io_uring|epoll", value));
        } else if (flag == "--grace") {
            o.grace = std::chrono::milliseconds(number<unsigned>(prog, flag, value, 3'600'000));
        } else if (flag == "--message") {
            o.message = value;
        } else {
            o.count = number<unsigned long>(prog, flag, value, 1'000'000'000);
        }
    }
    auto addr = coronet::socket_address::from(host, port);
    if (!addr) usage_error(prog, fmt::format("--host: '{}' is not an IPv4 or IPv6 address", host));
    o.address = *addr;
    return o;
}

/// Runs the program's main task; a backend that cannot start is one line, exit 1.
inline int run(coronet::task<int> main, const options& o, const char* prog) {
    try {
        return coronet::run(std::move(main), o.loop);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", prog, e.what());
        return 1;
    }
}

} // namespace example
