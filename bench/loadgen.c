// loadgen: the load generator of coronet's benchmarks. An epoll TCP client
// (one thread, or --threads T of them) that keeps N connections busy echoing
// fixed-size messages, checks every byte that comes back, and prints one JSON
// line of results.
//
//   loadgen --port P [--host 127.0.0.1] [--connections N] [--size BYTES]
//           [--depth K] [--duration S] [--warmup S] [--cpu C] [--threads T]
//           [--churn | --idle] [--messages M] [--pause]
//
// Modes:
//   default   every connection keeps K messages of BYTES in flight (K = 1 is
//             ping-pong) for --warmup seconds, then the measurement window of
//             --duration seconds: messages completed in it are counted, their
//             latencies (start of the send to the last byte echoed) go into
//             a log-linear histogram (no allocation per message).
//   --messages M  after the warm-up, drain what is in flight, then run exactly
//             M messages and stop: the window holds a known amount of work
//             (for instruction and syscall counts). --duration is then only a
//             time limit; hitting it is an error ("timeout": true).
//   --churn   each connection slot repeats: connect, one echo of BYTES, close.
//             A "message" is one such cycle; its latency includes the connect.
//             To a 127.x.y.z server the connections come from 127.0.0.2 ..
//             127.0.0.254 in turn: the client closes first, so each cycle
//             leaves a TIME_WAIT behind, and from one address the 28,000-odd
//             ephemeral ports run out within a second; then connect() spends
//             its time searching for a free one and the client, not the
//             server, sets the rate.
//   --idle    opens N connections, echoes one message of BYTES on each (so the
//             server has accepted every one and waits in a read), prints the
//             result line, then holds them open for --duration seconds (or,
//             with --pause, until a line arrives on stdin).
//   --pause   with --messages or --idle: after the warm-up has drained print
//             {"phase":"warm"} and wait for a line on stdin before the window;
//             after the window print the result and wait for another line
//             (or EOF) before closing the connections. A driver uses this to
//             zero and dump counters exactly around the window.
//
// --threads T  T threads, each with its own epoll loop and its own share of
//             the connections (N / T, the first ones one more) and of
//             --messages; all share the warm-up deadline, a --messages window
//             starts in all of them at once (after every thread has drained),
//             and the result line sums them: msgs and bytes added, latency
//             histograms merged, msgs_per_s = msgs / (last window end - first
//             window start), client_cpu = the threads' CPU time added (up to
//             T). T is at most N. Default 1: one thread, as before.
//
// Every byte sent follows a pattern (a 65,521-byte pseudo-random sequence, the
// offset depending on the connection), and every byte received is compared with
// what was sent at that offset of the stream. A wrong, missing or extra byte, a
// refused or reset connection or an early EOF counts in "errors" (the first
// few are described on stderr); the exit status is 1 when errors > 0.
//
// Output (one line on stdout): {"mode", "connections", "size", "depth", "msgs",
// "msgs_per_s", "p50_us", "p99_us", "p999_us", "max_us", "mean_us", "errors",
// "bytes", "window_s", "timeout", "client_cpu"}; "bytes" counts verified echoed
// bytes in the window; "client_cpu" is the load generator's own CPU time in
// the window divided by its length (near 1.0 per thread: the client, not the
// server, may be the bottleneck); "threads" is T. The client sets TCP_NODELAY
// on its sockets; the host must be an IPv4 address (the benchmarks use
// loopback only).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------- options

enum mode { MODE_STREAM, MODE_CHURN, MODE_IDLE };

static struct {
    struct sockaddr_in addr;
    unsigned connections;
    size_t size;
    unsigned depth;
    double duration_s;
    double warmup_s;
    int cpu;
    enum mode mode;
    uint64_t messages; // 0: time-based window
    bool pause;
    unsigned threads;
} opt = {.connections = 1,
         .size = 64,
         .depth = 1,
         .duration_s = 5,
         .warmup_s = 1,
         .cpu = -1,
         .threads = 1};

static const char usage[] =
    "usage: loadgen --port P [--host 127.0.0.1] [--connections N] [--size BYTES]\n"
    "               [--depth K] [--duration S] [--warmup S] [--cpu C] [--threads T]\n"
    "               [--churn | --idle] [--messages M] [--pause]\n";

static void usage_error(const char* what, const char* value) {
    fprintf(stderr, "loadgen: %s%s%s\n%s", what, value ? ": " : "", value ? value : "", usage);
    exit(2);
}

static double parse_number(const char* flag, const char* text, double min, double max) {
    char* end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || v < min || v > max) usage_error(flag, text);
    return v;
}

static void parse_options(int argc, char** argv) {
    const char* host = "127.0.0.1";
    long port = -1;
    for (int i = 1; i < argc; ++i) {
        const char* f = argv[i];
        if (strcmp(f, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(f, "--churn") == 0) {
            opt.mode = MODE_CHURN;
            continue;
        } else if (strcmp(f, "--idle") == 0) {
            opt.mode = MODE_IDLE;
            continue;
        } else if (strcmp(f, "--pause") == 0) {
            opt.pause = true;
            continue;
        }
        if (i + 1 == argc) usage_error("missing value for", f);
        const char* v = argv[++i];
        if (strcmp(f, "--host") == 0)
            host = v;
        else if (strcmp(f, "--port") == 0)
            port = (long)parse_number(f, v, 1, 65535);
        else if (strcmp(f, "--connections") == 0)
            opt.connections = (unsigned)parse_number(f, v, 1, 1000000);
        else if (strcmp(f, "--size") == 0)
            opt.size = (size_t)parse_number(f, v, 1, 1 << 24);
        else if (strcmp(f, "--depth") == 0)
            opt.depth = (unsigned)parse_number(f, v, 1, 4096);
        else if (strcmp(f, "--duration") == 0)
            opt.duration_s = parse_number(f, v, 0.001, 86400);
        else if (strcmp(f, "--warmup") == 0)
            opt.warmup_s = parse_number(f, v, 0, 86400);
        else if (strcmp(f, "--cpu") == 0)
            opt.cpu = (int)parse_number(f, v, 0, CPU_SETSIZE - 1);
        else if (strcmp(f, "--messages") == 0)
            opt.messages = (uint64_t)parse_number(f, v, 1, 1e15);
        else if (strcmp(f, "--threads") == 0)
            opt.threads = (unsigned)parse_number(f, v, 1, 256);
        else
            usage_error("unknown option", f);
    }
    if (port < 0) usage_error("--port is required", NULL);
    opt.addr.sin_family = AF_INET;
    opt.addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &opt.addr.sin_addr) != 1) usage_error("--host is not an IPv4 address", host);
    if (opt.mode != MODE_STREAM) opt.depth = 1; // one message per connection
    if (opt.mode == MODE_IDLE) opt.messages = 0;
    if (opt.threads > opt.connections) usage_error("--threads is more than --connections", NULL);
}

// ---------------------------------------------------------------- time, histogram

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Log-linear buckets over nanoseconds: values below 64 are exact; above, each
// power of two is split into 32 equal buckets (relative error < 3.2%).
enum { SUB_BITS = 5, SUB = 1 << SUB_BITS, MAX_EXP = 47, BUCKETS = (MAX_EXP - SUB_BITS + 1) * SUB + SUB };

struct histogram {
    uint64_t count[BUCKETS];
    uint64_t total, sum_ns, max_ns;
};
// Each thread's own (and in the main thread, the merged one: see main).
static __thread struct histogram hist;

static unsigned bucket_of(uint64_t v) {
    if (v < 2 * SUB) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); // >= SUB_BITS + 1
    if (e > MAX_EXP) return BUCKETS - 1;
    unsigned shift = e - SUB_BITS;
    return shift * SUB + (unsigned)(v >> shift); // v >> shift is in [SUB, 2 SUB)
}

static double bucket_mid_ns(unsigned b) {
    if (b < 2 * SUB) return b;
    unsigned shift = b / SUB - 1;
    uint64_t low = (uint64_t)(b % SUB + SUB) << shift;
    return (double)low + (double)((uint64_t)1 << shift) / 2;
}

static void hist_record(uint64_t ns) {
    hist.count[bucket_of(ns)]++;
    hist.total++;
    hist.sum_ns += ns;
    if (ns > hist.max_ns) hist.max_ns = ns;
}

static double hist_quantile_us(double q) {
    if (hist.total == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)hist.total);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BUCKETS; ++b) {
        seen += hist.count[b];
        if (seen >= rank) {
            double v = bucket_mid_ns(b);
            return (v > (double)hist.max_ns ? (double)hist.max_ns : v) / 1000.0;
        }
    }
    return (double)hist.max_ns / 1000.0;
}

// ---------------------------------------------------------------- pattern

enum { PLEN = 65521, CHUNK = 65536 };     // pattern period (prime); largest send/recv
static unsigned char pattern[PLEN + CHUNK]; // pattern[i] == pattern[i % PLEN]
static __thread unsigned char rbuf[CHUNK];

static void make_pattern(void) {
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < PLEN; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 32);
    }
    for (size_t i = PLEN; i < PLEN + CHUNK; ++i) pattern[i] = pattern[i - PLEN]; // the 15-byte overlap is fine
}

// ---------------------------------------------------------------- connections

enum cstate { C_CLOSED, C_CONNECTING, C_OPEN, C_DEAD };

struct conn {
    int fd;
    enum cstate state;
    unsigned index, generation; // index: in this thread's conns
    unsigned id;                // over all threads: the pattern offset and error messages use it
    uint64_t base;            // pattern offset of stream byte 0
    uint64_t sent, want;      // bytes written; bytes of the messages started
    uint64_t recvd;           // bytes received and verified
    uint64_t started, done;   // messages
    uint64_t t_connect;       // churn: when this connection's connect began
    uint64_t* t_start;        // [depth]: start time of message m at m % depth
};

enum phase { P_WARMUP, P_DRAIN, P_MEASURE, P_FINISHED };

// A thread's state: each thread drives its own share of the connections
// (the main thread's copies of the counters receive the sums, see main).
static __thread struct conn* conns;
static __thread unsigned nconns;   // this thread's connections
static __thread uint64_t messages; // this thread's share of --messages
static __thread unsigned* pending; // stack of slots waiting for a connect
static __thread unsigned npending, nconnecting, nopen, ndead;
static __thread int ep;
static __thread enum phase phase = P_WARMUP;
static __thread uint64_t t_measure_start, t_end;
static __thread uint64_t inflight; // messages started and not completed, all connections
static __thread uint64_t budget;   // --messages: messages the window may still start
static __thread uint64_t win_msgs, win_bytes;
static __thread uint64_t errors;
static __thread bool timed_out;
static __thread double cpu_at_window_start; // this thread's user+sys seconds
static uint64_t t0, t_warm_end;             // shared: every thread warms up until t_warm_end

enum { MAX_CONNECTING = 256, MAX_REPORTED_ERRORS = 5 };

static void report_error(const struct conn* c, const char* what, int err) {
    ++errors;
    if (errors <= MAX_REPORTED_ERRORS)
        fprintf(stderr, "loadgen: connection %u: %s%s%s\n", c ? c->id : 0, what, err ? ": " : "",
                err ? strerror(err) : "");
    if (errors == MAX_REPORTED_ERRORS) fprintf(stderr, "loadgen: (further errors only counted)\n");
}

static bool may_connect(void) {
    if (opt.mode == MODE_IDLE) return phase != P_FINISHED;
    if (phase == P_WARMUP) return true;
    if (phase != P_MEASURE) return false;
    // In churn a cycle takes its share of --messages when it connects.
    return opt.mode != MODE_CHURN || opt.messages == 0 || budget > 0;
}

static void close_conn(struct conn* c, bool failed) {
    if (c->state == C_CONNECTING) --nconnecting;
    if (c->state == C_OPEN) --nopen;
    close(c->fd);
    c->fd = -1;
    inflight -= c->started - c->done;
    if (failed && opt.mode != MODE_CHURN) {
        c->state = C_DEAD; // a broken stream is not reopened
        ++ndead;
    } else {
        c->state = C_CLOSED;
        pending[npending++] = c->index;
    }
}

static void fail(struct conn* c, const char* what, int err) {
    report_error(c, what, err);
    close_conn(c, true);
}

static void start_connect(struct conn* c) {
    c->generation++;
    c->base = ((uint64_t)c->id * 7919u + (uint64_t)c->generation * 104729u) % PLEN;
    c->sent = c->want = c->recvd = c->started = c->done = 0;
    c->t_connect = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        report_error(c, "socket", errno);
        c->state = C_DEAD;
        ++ndead;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.mode == MODE_CHURN && (ntohl(opt.addr.sin_addr.s_addr) >> 24) == 127) {
        static __thread unsigned next_source;
        struct sockaddr_in src = {.sin_family = AF_INET}; // port 0: chosen at connect
        src.sin_addr.s_addr = htonl(0x7f000002u + next_source++ % 253u);
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (const struct sockaddr*)&src, sizeof src) < 0) {
            fail(c, "bind to a source address", errno);
            return;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        report_error(c, "epoll_ctl", errno);
        close(c->fd);
        c->state = C_DEAD;
        ++ndead;
        return;
    }
    c->state = C_CONNECTING;
    ++nconnecting;
    if (opt.mode == MODE_CHURN && phase == P_MEASURE && opt.messages) budget--;
    if (connect(c->fd, (const struct sockaddr*)&opt.addr, sizeof opt.addr) < 0 && errno != EINPROGRESS)
        fail(c, "connect", errno);
    // Success (immediate or later) is seen as EPOLLOUT.
}

// Each waiting slot is tried at most once per call: a connect that fails at
// once puts its slot back (in churn), and must not spin here.
static void start_connects(void) {
    for (unsigned tries = npending; tries > 0 && npending > 0 && nconnecting < MAX_CONNECTING && may_connect();
         --tries)
        start_connect(&conns[pending[--npending]]);
}

static bool may_start(const struct conn* c) {
    switch (opt.mode) {
    case MODE_IDLE: return c->started == 0;
    case MODE_CHURN: return c->started == 0 && (phase == P_WARMUP || phase == P_MEASURE);
    case MODE_STREAM: break;
    }
    if (phase == P_WARMUP) return true;
    if (phase != P_MEASURE) return false;
    return opt.messages == 0 || budget > 0;
}

static void message_done(struct conn* c, uint64_t now) {
    uint64_t t0 = opt.mode == MODE_CHURN ? c->t_connect : c->t_start[c->done % opt.depth];
    c->done++;
    inflight--;
    if (phase == P_MEASURE || opt.mode == MODE_IDLE) {
        hist_record(now - t0);
        win_msgs++;
    }
}

// Starts what the pipeline has room for and writes until EAGAIN. False: c failed.
static bool conn_write(struct conn* c) {
    while (c->started - c->done < opt.depth && may_start(c)) {
        c->t_start[c->started % opt.depth] = now_ns();
        c->started++;
        c->want += opt.size;
        inflight++;
        if (phase == P_MEASURE && opt.messages && opt.mode == MODE_STREAM) budget--;
    }
    while (c->sent < c->want) { // ends when all is written or the socket is full
        uint64_t left = c->want - c->sent;
        size_t len = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t n = send(c->fd, pattern + (c->base + c->sent) % PLEN, len, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true; // EPOLLOUT resumes
        } else {
            fail(c, "send", n < 0 ? errno : 0);
            return false;
        }
    }
    return true;
}

// Reads and verifies until EAGAIN. False: c failed (or, in churn, finished its cycle).
static bool conn_read(struct conn* c) {
    for (;;) { // ends at EAGAIN, EOF or an error
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n > 0) {
            uint64_t now = now_ns();
            if (c->recvd + (uint64_t)n > c->sent) {
                fail(c, "received more bytes than were sent", 0);
                return false;
            }
            if (memcmp(rbuf, pattern + (c->base + c->recvd) % PLEN, (size_t)n) != 0) {
                fail(c, "echoed bytes differ from the bytes sent", 0);
                return false;
            }
            c->recvd += (uint64_t)n;
            if (phase == P_MEASURE || opt.mode == MODE_IDLE) win_bytes += (uint64_t)n;
            while (c->done < c->started && c->recvd >= (c->done + 1) * opt.size) message_done(c, now);
            if (opt.mode == MODE_CHURN && c->done == 1) {
                close_conn(c, false); // cycle complete: the slot reconnects
                return false;
            }
        } else if (n == 0) {
            fail(c, "server closed the connection", 0);
            return false;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true;
        } else {
            fail(c, "recv", errno);
            return false;
        }
    }
}

static void on_event(struct conn* c, uint32_t events) {
    if (c->state == C_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err != 0) {
            fail(c, "connect", err);
            return;
        }
        c->state = C_OPEN;
        --nconnecting;
        ++nopen;
        if (opt.mode == MODE_CHURN && !may_start(c)) { // draining: do not start a cycle
            close_conn(c, false);
            return;
        }
    }
    if (c->state != C_OPEN) return;
    if (conn_read(c)) conn_write(c);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Resets the window's statistics (the warm-up's do not count).
static void begin_window(uint64_t now) {
    cpu_at_window_start = cpu_seconds();
    memset(&hist, 0, sizeof hist);
    win_msgs = win_bytes = 0;
    phase = P_MEASURE;
    budget = messages;
    t_measure_start = now;
    t_end = now + (uint64_t)(opt.duration_s * 1e9);
}

static void wait_for_line(void) {
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return; // EOF also releases the pause
}

// Restarts every connection's pipeline (after a pause everything is idle).
static void kick_all(void) {
    for (unsigned i = 0; i < nconns; ++i)
        if (conns[i].state == C_OPEN) conn_write(&conns[i]);
}

// The result line, from the main thread's counters (the sums of every thread's).
static void print_result(double window, double cpu) {
    const char* mode = opt.mode == MODE_CHURN ? "churn" : opt.mode == MODE_IDLE ? "idle" : "stream";
    printf("{\"mode\": \"%s\", \"connections\": %u, \"size\": %zu, \"depth\": %u, \"msgs\": %llu, "
           "\"msgs_per_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
           "\"max_us\": %.2f, \"mean_us\": %.2f, \"errors\": %llu, \"bytes\": %llu, "
           "\"window_s\": %.4f, \"timeout\": %s, \"client_cpu\": %.3f, \"threads\": %u}\n",
           mode, opt.connections, opt.size, opt.depth, (unsigned long long)win_msgs,
           window > 0 ? (double)win_msgs / window : 0.0, hist_quantile_us(0.50),
           hist_quantile_us(0.99), hist_quantile_us(0.999), (double)hist.max_ns / 1000.0,
           hist.total ? (double)hist.sum_ns / (double)hist.total / 1000.0 : 0.0,
           (unsigned long long)errors, (unsigned long long)win_bytes, window,
           timed_out ? "true" : "false", window > 0 ? cpu / window : 0.0, opt.threads);
    fflush(stdout);
}

// The threads meet twice around a --messages window (every one drained; the
// main thread has released the pause) and twice at the end (every result is
// in; the main thread has printed them and held the connections open).
static pthread_barrier_t window_barrier, done_barrier;
static __thread bool window_synced;

static void sync_window(void) {
    window_synced = true;
    pthread_barrier_wait(&window_barrier);
    pthread_barrier_wait(&window_barrier);
}

// Advances the phase on time and on drained pipelines.
static void step_phase(uint64_t now) {
    if (opt.mode == MODE_IDLE) {
        if (npending == 0 && nconnecting == 0 && inflight == 0 && ndead + nopen == nconns) {
            bool all_echoed = true;
            for (unsigned i = 0; i < nconns && all_echoed; ++i)
                all_echoed = conns[i].state != C_OPEN || conns[i].done == 1;
            if (all_echoed) phase = P_FINISHED;
        } else if (now >= t_end) {
            timed_out = true;
            report_error(NULL, "timed out opening the idle connections", 0);
            phase = P_FINISHED;
        }
        return;
    }
    // The warm-up lasts --warmup seconds and, except in churn, until every
    // connection is open (so connects stay out of the window), but at most
    // 30 s longer.
    bool all_open = opt.mode == MODE_CHURN || (npending == 0 && nconnecting == 0);
    if (phase == P_WARMUP && now >= t_warm_end && (all_open || now >= t_warm_end + 30000000000u)) {
        if (opt.messages == 0)
            begin_window(now);
        else
            phase = P_DRAIN;
    }
    if (phase == P_DRAIN && inflight == 0 && nconnecting == 0) {
        sync_window(); // every thread has drained (and, with --pause, the driver said go)
        begin_window(now_ns());
        start_connects();
        kick_all();
    }
    if (phase == P_MEASURE) {
        if (opt.messages && budget == 0 && inflight == 0 && nconnecting == 0) {
            phase = P_FINISHED;
        } else if (now >= t_end) {
            if (opt.messages) timed_out = true;
            phase = P_FINISHED;
        }
    }
    if (ndead == nconns) phase = P_FINISHED; // nothing left to drive
}

// One thread's share of the connections and, once it is done, its results.
struct worker {
    pthread_t thread;
    unsigned first, count; // connections first .. first + count - 1
    uint64_t messages;     // its share of --messages
    struct histogram hist;
    uint64_t msgs, bytes, errors, t_start, t_done;
    bool timed_out;
    double cpu;
};

// Drives this thread's connections through the phases; bounded: every phase
// ends by t_end at the latest.
static void run_connections(void) {
    enum { MAX_EVENTS = 512 };
    struct epoll_event events[MAX_EVENTS];
    while (phase != P_FINISHED) {
        uint64_t now = now_ns();
        step_phase(now);
        if (phase == P_FINISHED) break;
        start_connects();
        uint64_t deadline = phase == P_WARMUP    ? t_warm_end
                            : phase == P_MEASURE ? t_end
                                                 : now + 100000000u;
        if (opt.mode == MODE_IDLE) deadline = t_end;
        uint64_t wait_ns = deadline > now ? deadline - now : 0;
        int timeout_ms = wait_ns >= 100000000u ? 100 : (int)((wait_ns + 999999u) / 1000000u);
        int n = epoll_wait(ep, events, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) {
            report_error(NULL, "epoll_wait", errno);
            return;
        }
        for (int i = 0; i < n; ++i)
            on_event(events[i].data.ptr, events[i].events);
    }
}

static void* worker_main(void* arg) {
    struct worker* w = arg;
    nconns = w->count;
    messages = w->messages;
    conns = calloc(nconns, sizeof *conns);
    pending = calloc(nconns, sizeof *pending);
    uint64_t* starts = calloc((size_t)nconns * opt.depth, sizeof *starts);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !pending || !starts || ep < 0) {
        report_error(NULL, ep < 0 ? "epoll_create1" : "out of memory", ep < 0 ? errno : 0);
    } else {
        for (unsigned i = nconns; i-- > 0;) { // slot 0 connects first
            conns[i] = (struct conn){.fd = -1,
                                     .index = i,
                                     .id = w->first + i,
                                     .t_start = starts + (size_t)i * opt.depth};
            pending[npending++] = i;
        }
        if (opt.mode == MODE_IDLE) { // the window is the opening, bounded by 120 s
            t_measure_start = t0;
            t_end = t0 + 120000000000u;
        }
        run_connections();
    }
    if (opt.messages && !window_synced) sync_window(); // ended early: the others must not wait
    w->t_done = now_ns();
    w->hist = hist;
    w->msgs = win_msgs;
    w->bytes = win_bytes;
    w->errors = errors;
    w->timed_out = timed_out;
    w->t_start = t_measure_start; // 0 if the window never began (e.g. every connect failed)
    w->cpu = t_measure_start ? cpu_seconds() - cpu_at_window_start : 0.0;
    pthread_barrier_wait(&done_barrier);
    pthread_barrier_wait(&done_barrier); // connections stay open until the main thread is done
    for (unsigned i = 0; conns && i < nconns; ++i)
        if (conns[i].fd >= 0) close(conns[i].fd);
    free(starts);
    free(pending);
    free(conns);
    if (ep >= 0) close(ep);
    return NULL;
}

// Adds a thread's results to the main thread's counters, and widens the
// window [*start, *end] to cover the thread's.
static void merge(const struct worker* w, uint64_t* start, uint64_t* end, double* cpu) {
    for (unsigned b = 0; b < BUCKETS; ++b)
        hist.count[b] += w->hist.count[b];
    hist.total += w->hist.total;
    hist.sum_ns += w->hist.sum_ns;
    if (w->hist.max_ns > hist.max_ns) hist.max_ns = w->hist.max_ns;
    win_msgs += w->msgs;
    win_bytes += w->bytes;
    errors += w->errors;
    timed_out = timed_out || w->timed_out;
    *cpu += w->cpu;
    if (w->t_start == 0) return;
    if (*start == 0 || w->t_start < *start) *start = w->t_start;
    if (w->t_done > *end) *end = w->t_done;
}

int main(int argc, char** argv) {
    parse_options(argc, argv);
    if (opt.cpu >= 0) { // the threads inherit it
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)opt.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) perror("loadgen: sched_setaffinity");
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    make_pattern();
    const unsigned nt = opt.threads;
    struct worker* workers = calloc(nt, sizeof *workers);
    if (!workers) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
    }
    for (unsigned t = 0, first = 0; t < nt; ++t) { // the first ones get the remainders
        workers[t].first = first;
        workers[t].count = opt.connections / nt + (t < opt.connections % nt ? 1 : 0);
        workers[t].messages = opt.messages / nt + (t < opt.messages % nt ? 1 : 0);
        first += workers[t].count;
    }
    pthread_barrier_init(&window_barrier, NULL, nt + 1);
    pthread_barrier_init(&done_barrier, NULL, nt + 1);
    t0 = now_ns();
    t_warm_end = t0 + (uint64_t)(opt.warmup_s * 1e9);
    for (unsigned t = 0; t < nt; ++t) {
        int err = pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]);
        if (err != 0) {
            fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    if (opt.messages) { // every thread has drained: the window starts everywhere at once
        pthread_barrier_wait(&window_barrier);
        if (opt.pause) {
            printf("{\"phase\": \"warm\"}\n");
            fflush(stdout);
            wait_for_line();
        }
        pthread_barrier_wait(&window_barrier);
    }
    pthread_barrier_wait(&done_barrier);
    uint64_t start = 0, end = 0;
    double cpu = 0;
    for (unsigned t = 0; t < nt; ++t)
        merge(&workers[t], &start, &end, &cpu);
    print_result(start ? (double)(end - start) / 1e9 : 0.0, cpu);
    if (opt.mode == MODE_IDLE && !opt.pause) {
        struct timespec hold = {.tv_sec = (time_t)opt.duration_s,
                                .tv_nsec = (long)((opt.duration_s - (double)(time_t)opt.duration_s) * 1e9)};
        while (nanosleep(&hold, &hold) < 0 && errno == EINTR) {
        }
    } else if (opt.pause) {
        wait_for_line();
    }
    pthread_barrier_wait(&done_barrier);
    for (unsigned t = 0; t < nt; ++t)
        pthread_join(workers[t].thread, NULL);
    free(workers);
    return errors > 0 ? 1 : 0;
}
