#pragma once
// Command-line handling shared by the examples: --host, --port, --backend,
// --fast-paths on|off (loop_options::fast_paths), for servers --grace, for
// clients --message and --count, and, for programs that ask for them
// (`extras`), --unix PATH, --connections/--messages, --stats,
// --connect-timeout MS, --queue N, --read-timeout MS and --threads N [--handoff].
//
// parse_args() only parses: it never prints, exits or looks up a name, so a
// test or a fuzzer can drive it (fuzz/cli_fuzz.cpp). parse() is what main()
// calls: --help prints the usage and the exit codes and exits 0; an unknown
// flag or a bad value prints one line and exits 2.
//
// Exit codes, the same in every example (exit_codes_help below):
//   0  success (a server: stopped by SIGINT/SIGTERM)
//   1  runtime failure: one line on stderr names the address and the reason
//   2  usage error: one line on stderr names the option and the reason
//
// --host takes an address ("127.0.0.1", "::1") or a name ("localhost").
// `address` is the address to use: parse() resolves a name before the loop
// starts (getaddrinfo, blocking; its first address is taken; a name that does
// not resolve is one line, exit 2). A program that resolves names itself
// (extra::names: it connects with tcp_stream::connect(host, port), trying
// every address) gets `host` and `port` untouched and `host_is_name` set.

#include <coronet/net/address.hpp>
#include <coronet/net/resolve.hpp>
#include <coronet/net/unix_address.hpp>
#include <coronet/runtime/error.hpp>
#include <coronet/runtime/event_loop.hpp>
#include <coronet/runtime/loop_group.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace example {

/// Optional flags a program accepts (a bit set for parse()).
enum extra : unsigned {
    names = 1,            ///< the program resolves a --host name itself
    unix_socket = 2,      ///< --unix PATH: a Unix socket (a path, or @name) instead of TCP
    connections = 4,      ///< --connections N, --messages M instead of --count (multiconn_client)
    stats = 8,            ///< --stats (no value): print the loop's counters at exit
    connect_timeout = 16, ///< --connect-timeout MS: give up connecting after MS ms
    queue = 32,           ///< --queue N: each client's outgoing queue holds N lines
    once = 64,            ///< a client that sends once: no --count
    read_timeout = 128,   ///< --read-timeout MS: how long a server waits for a message
    threads = 256,        ///< --threads N (0: one per CPU) and, for servers, --handoff
};

struct options {
    coronet::socket_address address = coronet::socket_address::loopback_v4(65432);
    std::string host = "127.0.0.1"; ///< --host as given
    std::uint16_t port = 65432;
    bool host_is_name = false; ///< `host` is a name: `address` is unset (parse() resolves it
                               ///< unless the program has extra::names)
    std::string unix_path;     ///< --unix (empty: TCP)
    coronet::loop_options loop;
    std::string message = "Hello, world";
    unsigned long count = 1;
    unsigned long connections = 10;
    unsigned long messages = 5;
    std::chrono::milliseconds grace{1000};
    std::chrono::milliseconds read_timeout{30000};    ///< --read-timeout
    std::chrono::milliseconds connect_timeout{10000}; ///< --connect-timeout
    std::size_t queue = 64;                           ///< --queue
    unsigned threads = 1;                             ///< --threads (0: one per CPU)
    bool handoff = false; ///< --handoff: one loop accepts and hands connections on
    bool stats = false;   ///< --stats
};

/// What parse_args() decided: run with `opts`, print the usage (`text`,
/// stdout, exit 0), or report a usage error (`text` is the one line for
/// stderr, exit 2).
struct parsed {
    enum kind { run, help, usage_error };
    kind what = run;
    options opts;
    std::string text;
    int exit_code() const { return what == usage_error ? 2 : 0; }
};

/// The exit-code paragraph every --help ends with.
inline std::string exit_codes_help(bool client) {
    return client ? "Exit status: 0 success; 1 runtime failure (cannot connect, timed out, bad\n"
                    "reply: one line on stderr names the address and the reason); 2 usage error.\n"
                  : "Exit status: 0 stopped by SIGINT/SIGTERM; 1 runtime failure (cannot listen:\n"
                    "one line on stderr names the address and the reason); 2 usage error.\n";
}

/// The program's name for messages: argv[0] without its directory.
inline std::string_view program_name(const char* argv0) {
    std::string_view p = argv0 != nullptr && *argv0 != '\0' ? argv0 : "example";
    auto slash = p.find_last_of('/');
    return slash == std::string_view::npos || slash + 1 == p.size() ? p : p.substr(slash + 1);
}

/// Where the program talks: the Unix path, "127.0.0.1:80", "[::1]:80" or "localhost:80".
inline std::string endpoint(const options& o) {
    if (!o.unix_path.empty()) return o.unix_path;
    if (o.host_is_name) return fmt::format("{}:{}", o.host, o.port);
    return o.address.to_string();
}

/// Why connecting or listening failed, in words a person can act on: the
/// error's message plus a hint for the usual causes.
inline std::string reason(std::error_code e, const options& o) {
    std::string why = e.message();
    if (e == coronet::error::timed_out)
        return fmt::format("no connection within {} ms (--connect-timeout)",
                           o.connect_timeout.count());
    if (e == std::errc::permission_denied && o.unix_path.empty() && o.port != 0 && o.port < 1024)
        return why + " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    if (e == std::errc::permission_denied && !o.unix_path.empty())
        return why + " (no write permission in the socket's directory?)";
    if (e == std::errc::address_in_use) return why + " (another program is listening there)";
    if (e == std::errc::address_not_available) return why + " (not an address of this machine)";
    if (e == std::errc::connection_refused) return why + " (no server is listening there)";
    return why;
}

namespace detail {

// `text` in single quotes with control characters, quotes and backslashes
// escaped ("\n", "\x01"), so that a message showing user input stays one line.
inline std::string quoted(std::string_view text) {
    std::string out = "'";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '\n')
            out += "\\n";
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else if (c == '\'' || c == '\\')
            out += {'\\', ch};
        else
            out += ch;
    }
    return out + "'";
}

template <class T>
std::optional<T> number(std::string_view text, T max) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max)
        return std::nullopt;
    return v;
}

// Stores one flag's value into `o`; returns the reason it is bad, or "".
inline std::string set(options& o, std::string_view flag, std::string_view value) {
    auto num = [&](auto& field, auto max) -> std::string {
        auto v = number<std::remove_reference_t<decltype(field)>>(value, max);
        if (!v) return fmt::format("{}: {} is not a number from 0 to {}", flag, quoted(value), max);
        field = *v;
        return "";
    };
    auto ms = [&](std::chrono::milliseconds& field, unsigned min) -> std::string {
        auto v = number<unsigned>(value, 3'600'000);
        if (!v || *v < min)
            return fmt::format("{}: {} is not a number of ms from {} to 3600000", flag,
                               quoted(value), min);
        field = std::chrono::milliseconds(*v);
        return "";
    };
    if (flag == "--host") {
        if (value.empty()) return "--host: empty host";
        o.host = value;
    } else if (flag == "--port") {
        return num(o.port, std::uint16_t{65535});
    } else if (flag == "--backend") {
        o.loop.backend = coronet::parse_backend_kind(value);
        if (!o.loop.backend)
            return fmt::format("--backend: {} is not auto|io_uring|epoll", quoted(value));
    } else if (flag == "--fast-paths") {
        if (value != "on" && value != "off")
            return fmt::format("--fast-paths: {} is not on|off", quoted(value));
        o.loop.fast_paths = value == "on";
    } else if (flag == "--grace") {
        return ms(o.grace, 0);
    } else if (flag == "--connect-timeout") {
        return ms(o.connect_timeout, 1);
    } else if (flag == "--threads") {
        return num(o.threads, 1024U);
    } else if (flag == "--read-timeout") {
        return ms(o.read_timeout, 1);
    } else if (flag == "--message") {
        o.message = value;
    } else if (flag == "--count") {
        return num(o.count, 1'000'000'000UL);
    } else if (flag == "--unix") {
        if (auto a = coronet::unix_address::parse(value); !a)
            return fmt::format("--unix: {}: {}", quoted(value), a.error().message());
        o.unix_path = value;
    } else if (flag == "--connections") {
        return num(o.connections, 100'000UL);
    } else if (flag == "--messages") {
        return num(o.messages, 1'000'000'000UL);
    } else { // --queue: each client's queue is allocated whole when it connects
        if (auto e = num(o.queue, std::size_t{10'000}); !e.empty()) return e;
        if (o.queue == 0) return "--queue: must be at least 1";
    }
    return "";
}

} // namespace detail

/// Parses argv (argv[0] is the program) without printing, exiting or
/// resolving: `client` enables --message and --count (else --grace);
/// `extras` is a set of example::extra flags; `usage` is the text --help
/// returns (exit_codes_help() is appended unless it has an "Exit status:").
inline parsed parse_args(int argc, const char* const* argv, std::string_view usage, bool client,
                         unsigned extras = 0) {
    const std::string_view prog = program_name(argc > 0 ? argv[0] : nullptr);
    parsed p;
    options& o = p.opts;
    auto fail = [&](std::string what) {
        p.what = parsed::usage_error;
        p.text = fmt::format("{}: {} (see --help)", prog, what);
        return p;
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            p.what = parsed::help;
            p.text = usage; // with the exit codes, unless the program wrote its own
            if (usage.find("Exit status:") == std::string_view::npos)
                p.text += exit_codes_help(client);
            return p;
        }
        if ((extras & threads) && !client && flag == "--handoff") {
            o.handoff = true;
            continue;
        }
        if ((extras & stats) && flag == "--stats") {
            o.stats = true;
            continue;
        }
        bool known =
            flag == "--host" || flag == "--port" || flag == "--backend" || flag == "--fast-paths" ||
            (client && flag == "--message") ||
            (client && !(extras & (connections | once)) && flag == "--count") ||
            (!client && flag == "--grace") || ((extras & unix_socket) && flag == "--unix") ||
            ((extras & connections) && (flag == "--connections" || flag == "--messages")) ||
            ((extras & connect_timeout) && flag == "--connect-timeout") ||
            ((extras & read_timeout) && flag == "--read-timeout") ||
            ((extras & threads) && flag == "--threads") || ((extras & queue) && flag == "--queue");
        if (!known) return fail(fmt::format("unknown option {}", detail::quoted(flag)));
        if (i + 1 == argc) return fail(fmt::format("{} needs a value", flag));
        if (auto why = detail::set(o, flag, argv[++i]); !why.empty()) return fail(why);
    }
    if (auto addr = coronet::socket_address::from(o.host, o.port)) {
        o.address = *addr;
    } else {
        o.host_is_name = true;
        o.address = coronet::socket_address();
        o.address.set_port(o.port);
    }
    return p;
}

/// For main(): parse_args(), then --help is printed (exit 0) and a usage
/// error is one line on stderr (exit 2); a --host name is resolved here
/// unless the program has extra::names or --unix (exit 2 if it does not).
inline options parse(int argc, char** argv, const char* usage, bool client, unsigned extras = 0) {
    parsed p = parse_args(argc, argv, usage, client, extras);
    if (p.what == parsed::help) {
        fmt::print("{}", p.text);
        std::exit(0);
    }
    if (p.what == parsed::usage_error) {
        fmt::print(stderr, "{}\n", p.text);
        std::exit(p.exit_code());
    }
    options& o = p.opts;
    if (o.host_is_name && !(extras & names) && o.unix_path.empty()) {
        auto found = coronet::resolve_blocking(o.host, o.port);
        if (!found) {
            fmt::print(stderr, "{}: --host: cannot resolve {}: {}\n", program_name(argv[0]),
                       detail::quoted(o.host), found.error().message());
            std::exit(2);
        }
        o.address = found->front();
        o.host_is_name = false;
    }
    return o;
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

/// Every loop_stats counter, as `name=value` pairs on the rest of a line.
inline void print_stats_fields(const coronet::loop_stats& s) {
    fmt::print("turns={} submitted={} completions={} kernel_waits={} in_flight={} "
               "zero_copy_sends={} pool_in_use={} pool_peak={} pool_buffers={} "
               "pool_buffer_size={}\n",
               s.turns, s.operations_submitted, s.completions, s.kernel_waits, s.in_flight,
               s.zero_copy_sends, s.pool_buffers_in_use, s.pool_buffers_peak, s.pool_buffers,
               s.pool_buffer_size);
}

/// One line with every loop_stats counter, e.g. for --stats.
inline void print_stats(const coronet::loop_stats& s) {
    fmt::print("stats: ");
    print_stats_fields(s);
}

/// The --stats lines of a program of several loops: one per loop
/// ("stats[i]: ..."), then the total ("stats: ..."); one loop: the total only.
inline void print_stats(const std::vector<coronet::loop_stats>& loops) {
    coronet::loop_stats total;
    for (std::size_t i = 0; i < loops.size(); ++i) {
        const coronet::loop_stats& s = loops[i];
        if (loops.size() > 1) fmt::print("stats[{}]: ", i), print_stats_fields(s);
        total.turns += s.turns;
        total.operations_submitted += s.operations_submitted;
        total.completions += s.completions;
        total.kernel_waits += s.kernel_waits;
        total.zero_copy_sends += s.zero_copy_sends;
        total.in_flight += s.in_flight;
        total.pool_buffers_in_use += s.pool_buffers_in_use;
        total.pool_buffers_peak += s.pool_buffers_peak;
        total.pool_buffers += s.pool_buffers;
        total.pool_buffer_size = s.pool_buffer_size;
    }
    fmt::print("stats: ");
    print_stats_fields(total);
}

/// Runs `factory` on --threads loops (coronet::run_loops; for a server,
/// SIGINT/SIGTERM raise the group's stop level); a backend that cannot start
/// is one line, exit 1. Returns the exit code and fills `stats` with each
/// loop's counters.
template <class F>
int run_loops(F factory, const options& o, const char* prog, bool server,
              std::vector<coronet::loop_stats>* stats = nullptr) {
    std::setvbuf(stdout, nullptr, _IOLBF, BUFSIZ);
    coronet::loop_group_options g;
    g.threads = o.threads;
    g.loop = o.loop;
    if (server) g.stop_signals = {SIGINT, SIGTERM};
    try {
        auto r = coronet::run_loops(std::move(factory), g);
        if (stats != nullptr) *stats = std::move(r.stats);
        return r.exit_code;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", prog, e.what());
        return 1;
    }
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
