#pragma once
// Command-line handling shared by the examples: --host, --port, --backend,
// --fast-paths on|off (loop_options::fast_paths), for servers --grace, for
// clients --message and --count, and, for programs that ask for them
// (`extras`), --unix PATH, --connections/--messages, --stats and
// --read-timeout MS.
// --help prints the usage and exits 0; an unknown flag or a bad value prints
// one line and exits 2.
//
// --host takes an address ("127.0.0.1", "::1") or a name ("localhost").
// `address` is the address to use: a name is resolved here, before the loop
// starts (getaddrinfo, blocking; its first address is taken; a name that does
// not resolve is one line, exit 2). A program that resolves names itself
// (extra::names: it connects with tcp_stream::connect(host, port), trying
// every address) gets `host` and `port` untouched and `host_is_name` set.

#include <coronet/net/address.hpp>
#include <coronet/net/resolve.hpp>
#include <coronet/net/unix_address.hpp>
#include <coronet/runtime/event_loop.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <string>
#include <string_view>

namespace example {

/// Optional flags a program accepts (a bit set for parse()).
enum extra : unsigned {
    names = 1,         ///< the program resolves a --host name itself
    unix_socket = 2,   ///< --unix PATH: a Unix socket (a path, or @name) instead of TCP
    connections = 4,   ///< --connections N, --messages M instead of --count (multiconn_client)
    stats = 8,         ///< --stats (no value): print the loop's counters at exit
    read_timeout = 16, ///< --read-timeout MS: how long a server waits for a message
};

struct options {
    coronet::socket_address address = coronet::socket_address::loopback_v4(65432);
    std::string host = "127.0.0.1"; ///< --host as given
    std::uint16_t port = 65432;
    bool host_is_name = false; ///< with extra::names: `host` is a name, `address` is unset
    std::string unix_path;     ///< --unix (empty: TCP)
    coronet::loop_options loop;
    std::string message = "Hello, world";
    unsigned long count = 1;
    unsigned long connections = 10;
    unsigned long messages = 5;
    std::chrono::milliseconds grace{1000};
    std::chrono::milliseconds read_timeout{30000}; ///< --read-timeout
    bool stats = false;                            ///< --stats
};

/// Where the program talks: the Unix path, "127.0.0.1:80", "[::1]:80" or "localhost:80".
inline std::string endpoint(const options& o) {
    if (!o.unix_path.empty()) return o.unix_path;
    if (o.host_is_name) return fmt::format("{}:{}", o.host, o.port);
    return o.address.to_string();
}

[[noreturn]] inline void usage_error(const char* prog, const std::string& what) {
    fmt::print(stderr, "{}: {} (see --help)\n", prog, what);
    std::exit(2);
}

/// A server's first lines: "listening on WHERE (backend: NAME)", then
/// "backend features: ..." (what the kernel gave the backend).
template <class Address>
void print_listening(const Address& where) {
    const coronet::event_loop& loop = coronet::current_loop();
    fmt::print("listening on {} (backend: {})\nbackend features: {}\n", where,
               coronet::to_string(loop.backend()), loop.backend_features());
}

/// When `auto` chose epoll, one more line with why io_uring is not used
/// ("backend fallback: io_uring unavailable: io_uring_setup: operation not
/// permitted (EPERM: ...)", as under Docker's default seccomp profile).
inline void print_backend_fallback(const options& o) {
    const coronet::event_loop& loop = coronet::current_loop();
    auto requested = o.loop.backend.value_or(coronet::configured_backend_kind());
    if (requested != coronet::backend_kind::automatic ||
        loop.backend() != coronet::backend_kind::epoll)
        return;
    std::string why = coronet::backend_unavailable_reason(coronet::backend_kind::io_uring);
    fmt::print("backend fallback: io_uring unavailable: {}\n",
               why.empty() ? "it failed at start-up and works now" : why);
}

/// One line with every loop_stats counter, e.g. for --stats.
inline void print_stats(const coronet::loop_stats& s) {
    fmt::print("stats: turns={} submitted={} completions={} kernel_waits={} in_flight={} "
               "zero_copy_sends={} pool_in_use={} pool_peak={} pool_buffers={} "
               "pool_buffer_size={}\n",
               s.turns, s.operations_submitted, s.completions, s.kernel_waits, s.in_flight,
               s.zero_copy_sends, s.pool_buffers_in_use, s.pool_buffers_peak, s.pool_buffers,
               s.pool_buffer_size);
}

template <class T>
T number(const char* prog, std::string_view flag, std::string_view text, T max) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max)
        usage_error(prog, fmt::format("{}: '{}' is not a number from 0 to {}", flag, text, max));
    return v;
}

/// Parses argv; `client` enables --message and --count (else --grace);
/// `extras` is a set of example::extra flags.
inline options parse(int argc, char** argv, const char* usage, bool client, unsigned extras = 0) {
    const char* prog = argv[0];
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            fmt::print("{}", usage);
            std::exit(0);
        }
        if ((extras & stats) && flag == "--stats") {
            o.stats = true;
            continue;
        }
        bool known = flag == "--host" || flag == "--port" || flag == "--backend" ||
                     flag == "--fast-paths" || (client && flag == "--message") ||
                     (client && !(extras & connections) && flag == "--count") ||
                     (!client && flag == "--grace") ||
                     ((extras & unix_socket) && flag == "--unix") ||
                     ((extras & read_timeout) && flag == "--read-timeout") ||
                     ((extras & connections) && (flag == "--connections" || flag == "--messages"));
        if (!known) usage_error(prog, fmt::format("unknown option '{}'", flag));
        if (i + 1 == argc) usage_error(prog, fmt::format("{} needs a value", flag));
        std::string_view value = argv[++i];
        if (flag == "--host") {
            o.host = value;
        } else if (flag == "--port") {
            o.port = number<std::uint16_t>(prog, flag, value, 65535);
        } else if (flag == "--backend") {
            o.loop.backend = coronet::parse_backend_kind(value);
            if (!o.loop.backend)
                usage_error(prog, fmt::format("--backend: '{}' is not auto|io_uring|epoll", value));
        } else if (flag == "--fast-paths") {
            if (value != "on" && value != "off")
                usage_error(prog, fmt::format("--fast-paths: '{}' is not on|off", value));
            o.loop.fast_paths = value == "on";
        } else if (flag == "--grace") {
            o.grace = std::chrono::milliseconds(number<unsigned>(prog, flag, value, 3'600'000));
        } else if (flag == "--read-timeout") {
            auto ms = number<unsigned>(prog, flag, value, 3'600'000);
            if (ms == 0) usage_error(prog, "--read-timeout: must be at least 1 ms");
            o.read_timeout = std::chrono::milliseconds(ms);
        } else if (flag == "--message") {
            o.message = value;
        } else if (flag == "--count") {
            o.count = number<unsigned long>(prog, flag, value, 1'000'000'000);
        } else if (flag == "--unix") {
            if (auto a = coronet::unix_address::parse(value); !a)
                usage_error(prog, fmt::format("--unix: '{}': {}", value, a.error().message()));
            o.unix_path = value;
        } else if (flag == "--connections") {
            o.connections = number<unsigned long>(prog, flag, value, 100'000);
        } else {
            o.messages = number<unsigned long>(prog, flag, value, 1'000'000'000);
        }
    }
    if (o.host.empty()) usage_error(prog, "--host: empty host");
    if (auto addr = coronet::socket_address::from(o.host, o.port)) {
        o.address = *addr;
    } else if (extras & names) {
        o.host_is_name = true;
        o.address = coronet::socket_address();
        o.address.set_port(o.port);
    } else if (o.unix_path.empty()) {
        auto found = coronet::resolve_blocking(o.host, o.port);
        if (!found) {
            fmt::print(stderr, "{}: --host: cannot resolve '{}': {}\n", prog, o.host,
                       found.error().message());
            std::exit(2);
        }
        o.address = found->front();
    }
    return o;
}

/// Runs the program's main task; a backend that cannot start is one line, exit 1.
/// stdout is line-buffered, so a pipe sees each line when it is printed.
inline int run(coronet::task<int> main, const options& o, const char* prog) {
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
    try {
        return coronet::run(std::move(main), o.loop);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", prog, e.what());
        return 1;
    }
}

} // namespace example
