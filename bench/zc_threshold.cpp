// zc_threshold: plain sends vs io_uring zero-copy sends (SEND_ZC) over loopback
// TCP, per send size: what loop_options::zero_copy_min should be.
//
// Run:   build-bench/bench/zc_threshold [--total-mib 512] [--repeat 3] [--min-kib 4]
//                                       [--max-kib 4096] [--sender-cpu 1] [--reader-cpu 0] [--json]
//        (or: python3 bench/run.py --sections zc, which builds it and adds the table to the report)
//
// For each send size S (powers of two from --min-kib to --max-kib) and each mode, one
// coronet loop (io_uring, fast paths on) accepts one loopback connection and send_all()s
// the same S-byte buffer until --total-mib MiB are sent, then shuts its side down. A plain
// thread connects and drains the socket (blocking recv into a 1 MiB buffer) until EOF.
// Modes: plain (zero_copy_min = SIZE_MAX) and zero-copy forced (zero_copy_min = 1,
// zero_copy_local = true). Each (size, mode) runs --repeat times, the modes alternating.
// Reported per size (medians over the repeats):
//   MB/s         bytes / (first send .. the reader's EOF), in 10^6 bytes per second
//   ratio        zero-copy MB/s / plain MB/s of the same repeat: median [min, max]
//   sender CPU   the loop thread's user + sys time (RUSAGE_THREAD), ms per GiB sent; on
//                loopback it includes the receiving side's TCP work done in its softirq
//   process CPU  every thread (RUSAGE_SELF: sender, reader, io_uring workers), ms per GiB
//   SEND_ZC      event_loop::stats().zero_copy_sends per run (0 in plain mode)
// Exit status: 0, 1 if a run failed, 77 if io_uring is unavailable here.
#include <coronet/net/tcp_listener.hpp>
#include <coronet/net/tcp_stream.hpp>
#include <coronet/runtime/backend_kind.hpp>
#include <coronet/runtime/event_loop.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fmt/core.h>
#include <limits>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace coronet;
using clock_type = std::chrono::steady_clock;

namespace {

struct config {
    std::size_t total = 512ull << 20;
    int repeat = 3;
    std::size_t min_size = 4096, max_size = 4ull << 20;
    int sender_cpu = 1, reader_cpu = 0;
    bool json = false;
};

struct sample {
    double mb_per_s = 0, sender_cpu_s = 0, process_cpu_s = 0;
    std::uint64_t zero_copy_sends = 0;
    std::string error;
};

double cpu_seconds(int who) {
    rusage r{};
    ::getrusage(who, &r);
    auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(r.ru_utime) + s(r.ru_stime);
}

void pin(int cpu) {
    if (cpu < 0 || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

// The reader: a plain blocking socket, no coronet, so that the loop under test
// only sends. Records how much it read and when it saw EOF.
struct reader {
    std::uint16_t port = 0;
    int cpu = -1;
    std::size_t bytes = 0;
    clock_type::time_point eof{};
    std::string error;

    void run() {
        pin(cpu);
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            error = "reader: cannot connect";
            if (fd >= 0) ::close(fd);
            return;
        }
        std::vector<char> buf(1 << 20);
        for (;;) {
            ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n <= 0) {
                if (n < 0) error = "reader: recv failed";
                break;
            }
            bytes += static_cast<std::size_t>(n);
        }
        eof = clock_type::now();
        ::close(fd);
    }
};

task<sample> one_run(const config& cfg, std::span<const std::byte> buf) {
    sample out;
    auto listener = tcp_listener::bind(socket_address::loopback_v4(0));
    if (!listener) {
        out.error = "bind: " + listener.error().message();
        co_return out;
    }
    reader rd;
    rd.port = listener->local_address().port();
    rd.cpu = cfg.reader_cpu;
    std::thread reader_thread([&rd] { rd.run(); });
    auto conn = co_await listener->accept();
    listener->close();
    const double self0 = cpu_seconds(RUSAGE_SELF), thread0 = cpu_seconds(RUSAGE_THREAD);
    const auto start = clock_type::now();
    for (std::size_t sent = 0; conn && sent < cfg.total; sent += buf.size()) {
        if (auto r = co_await conn->send_all(buf); !r) {
            out.error = "send_all: " + r.error().message();
            break;
        }
    }
    if (!conn) out.error = "accept: " + conn.error().message();
    const double thread1 = cpu_seconds(RUSAGE_THREAD);
    if (conn) (void)conn->shutdown();
    reader_thread.join(); // the reader needs nothing from this loop
    const double secs = std::chrono::duration<double>(rd.eof - start).count();
    if (out.error.empty() && !rd.error.empty()) out.error = rd.error;
    if (out.error.empty() && rd.bytes != (cfg.total + buf.size() - 1) / buf.size() * buf.size())
        out.error = fmt::format("the reader got {} bytes", rd.bytes);
    out.mb_per_s = static_cast<double>(rd.bytes) / secs / 1e6;
    out.sender_cpu_s = thread1 - thread0;
    out.process_cpu_s = cpu_seconds(RUSAGE_SELF) - self0;
    out.zero_copy_sends = current_loop().stats().zero_copy_sends;
    co_return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void usage_error(std::string_view what) {
    fmt::print(stderr, "zc_threshold: {} (see --help)\n", what);
    std::exit(2);
}

config parse(int argc, char** argv) {
    config c;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            fmt::print("usage: zc_threshold [--total-mib N] [--repeat R] [--min-kib K] "
                       "[--max-kib K]\n                    [--sender-cpu C] [--reader-cpu C] "
                       "[--json]\nPlain vs zero-copy send_all over loopback TCP per send size "
                       "(see the top of bench/zc_threshold.cpp).\n");
            std::exit(0);
        }
        if (flag == "--json") {
            c.json = true;
            continue;
        }
        if (i + 1 == argc) usage_error(fmt::format("{} needs a value", flag));
        std::string_view text = argv[++i];
        long v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < -1 ||
            v > (1l << 20))
            usage_error(fmt::format("{}: '{}' is not a number", flag, text));
        if (flag == "--total-mib" && v > 0)
            c.total = static_cast<std::size_t>(v) << 20;
        else if (flag == "--repeat" && v > 0)
            c.repeat = static_cast<int>(v);
        else if (flag == "--min-kib" && v > 0)
            c.min_size = static_cast<std::size_t>(v) << 10;
        else if (flag == "--max-kib" && v > 0)
            c.max_size = static_cast<std::size_t>(v) << 10;
        else if (flag == "--sender-cpu")
            c.sender_cpu = static_cast<int>(v);
        else if (flag == "--reader-cpu")
            c.reader_cpu = static_cast<int>(v);
        else
            usage_error(fmt::format("bad option '{}' or value '{}'", flag, text));
    }
    if (c.min_size > c.max_size) usage_error("--min-kib is larger than --max-kib");
    return c;
}

} // namespace

int main(int argc, char** argv) {
    const config cfg = parse(argc, argv);
    if (auto why = backend_unavailable_reason(backend_kind::io_uring); !why.empty()) {
        fmt::print(stderr, "zc_threshold: io_uring unavailable: {}\n", why);
        return 77;
    }
    pin(cfg.sender_cpu);
    std::vector<std::byte> buf(cfg.max_size);
    for (std::size_t i = 0; i < buf.size(); ++i)
        buf[i] = std::byte(i * 7 + i / 251);
    const loop_options plain{.backend = backend_kind::io_uring,
                             .fast_paths = true,
                             .zero_copy_min = std::numeric_limits<std::size_t>::max()};
    loop_options zc = plain;
    zc.zero_copy_min = 1;
    zc.zero_copy_local = true;

    int status = 0;
    if (!cfg.json) {
        fmt::print("{} MiB per run, {} repeat(s), sender on CPU {}, reader on CPU {}\n\n",
                   cfg.total >> 20, cfg.repeat, cfg.sender_cpu, cfg.reader_cpu);
        fmt::print("| send size | plain MB/s | zero-copy MB/s | zero-copy / plain | sender CPU "
                   "ms/GiB: plain | zero-copy | process CPU ms/GiB: plain | zero-copy | SEND_ZC "
                   "/ run |\n|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    }
    for (std::size_t size = cfg.min_size; size <= cfg.max_size; size *= 2) {
        std::vector<sample> runs[2]; // [0] plain, [1] zero-copy
        for (int rep = 0; rep < cfg.repeat; ++rep) {
            for (int k = 0; k < 2; ++k) {
                const int mode = (rep + k) % 2; // alternate which mode goes first
                sample s = run(one_run(cfg, std::span(buf).first(size)), mode ? zc : plain);
                if (!s.error.empty()) {
                    fmt::print(stderr, "zc_threshold: {} B, {}: {}\n", size,
                               mode ? "zero-copy" : "plain", s.error);
                    status = 1;
                }
                runs[mode].push_back(s);
            }
        }
        auto med = [&](int mode, auto field) {
            std::vector<double> v;
            for (const sample& s : runs[mode])
                v.push_back(static_cast<double>(s.*field));
            return median(v);
        };
        std::vector<double> ratios;
        for (int rep = 0; rep < cfg.repeat; ++rep)
            ratios.push_back(runs[1][rep].mb_per_s / runs[0][rep].mb_per_s);
        const double gib = static_cast<double>(cfg.total) / (1 << 30);
        const double ms_per_gib = 1e3 / gib;
        if (cfg.json) {
            fmt::print("{{\"size\": {}, \"total\": {}, \"repeat\": {}, \"plain_mb_per_s\": {:.1f}, "
                       "\"zc_mb_per_s\": {:.1f}, \"ratio\": {:.3f}, \"ratio_min\": {:.3f}, "
                       "\"ratio_max\": {:.3f}, \"plain_sender_cpu_ms_per_gib\": {:.1f}, "
                       "\"zc_sender_cpu_ms_per_gib\": {:.1f}, "
                       "\"plain_process_cpu_ms_per_gib\": {:.1f}, "
                       "\"zc_process_cpu_ms_per_gib\": {:.1f}, \"plain_zero_copy_sends\": {}, "
                       "\"zc_zero_copy_sends\": {}, \"errors\": {}}}\n",
                       size, cfg.total, cfg.repeat, med(0, &sample::mb_per_s),
                       med(1, &sample::mb_per_s), median(ratios),
                       *std::min_element(ratios.begin(), ratios.end()),
                       *std::max_element(ratios.begin(), ratios.end()),
                       med(0, &sample::sender_cpu_s) * ms_per_gib,
                       med(1, &sample::sender_cpu_s) * ms_per_gib,
                       med(0, &sample::process_cpu_s) * ms_per_gib,
                       med(1, &sample::process_cpu_s) * ms_per_gib,
                       static_cast<std::uint64_t>(med(0, &sample::zero_copy_sends)),
                       static_cast<std::uint64_t>(med(1, &sample::zero_copy_sends)),
                       std::count_if(runs[0].begin(), runs[0].end(), [](const sample& s) {
                           return !s.error.empty();
                       }) + std::count_if(runs[1].begin(), runs[1].end(), [](const sample& s) {
                           return !s.error.empty();
                       }));
        } else {
            fmt::print("| {} KiB | {:.0f} | {:.0f} | {:.2f} [{:.2f}, {:.2f}] | {:.0f} | {:.0f} | "
                       "{:.0f} | {:.0f} | {:.0f} |\n",
                       size >> 10, med(0, &sample::mb_per_s), med(1, &sample::mb_per_s),
                       median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                       *std::max_element(ratios.begin(), ratios.end()),
                       med(0, &sample::sender_cpu_s) * ms_per_gib,
                       med(1, &sample::sender_cpu_s) * ms_per_gib,
                       med(0, &sample::process_cpu_s) * ms_per_gib,
                       med(1, &sample::process_cpu_s) * ms_per_gib,
                       med(1, &sample::zero_copy_sends));
        }
        std::fflush(stdout);
    }
    return status;
}
