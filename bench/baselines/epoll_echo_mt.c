// epoll_echo_mt: the multi-threaded C baseline for coronet's thread-per-core
// benchmark (bench/threads_bench.py). N threads, each a copy of epoll_echo's
// loop: its own epoll set and its own SO_REUSEPORT listener on the same port
// (the kernel spreads connections over the listeners by a hash of the
// client's address), non-blocking, edge-triggered, each fd registered once,
// unsent bytes kept in the connection's 16 KiB buffer until EPOLLOUT, Nagle
// left on. Nothing is shared between the threads but the port and the stop
// eventfd: no lock, no message between threads, the same shape as coronet's
// `echo_server --threads N` (without --handoff).
//
// Usage: epoll_echo_mt [--port N] [--threads N] [--stats]
//   --port N     0 = any free port (default 65432): the first listener binds
//                it, the others bind the port it got
//   --threads N  loops (threads), 1 .. 1024; 0 = one per CPU the process may
//                run on (sched_getaffinity); default 1
//   --stats      at exit, print "thread I: accepted A" for each thread
// Prints "listening on 127.0.0.1:PORT" (flushed) once every listener accepts
// connections, and exits 0 on SIGINT or SIGTERM (the main thread waits for
// them and wakes every loop through one eventfd).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF_SIZE = 16384, MAX_EVENTS = 256, MAX_THREADS = 1024 };

struct conn {
    int fd;
    size_t off; // unsent bytes are buf[off, len)
    size_t len;
    unsigned char buf[BUF_SIZE];
};

struct loop {
    pthread_t thread;
    int listener;
    unsigned long accepted;
};

// Tags for the two fds of a loop that are not connections (epoll_event.data.ptr).
static char listener_tag, stop_tag;
static int stop_fd; // readable once a stop signal arrived: every loop's epoll set has it

static void die(const char* what) {
    perror(what);
    exit(1);
}

static long parse_number(const char* flag, const char* v, long max) {
    char* end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > max) {
        fprintf(stderr, "epoll_echo_mt: %s: '%s' is not 0..%ld\n", flag, v, max);
        exit(2);
    }
    return n;
}

static int listen_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("SO_REUSEPORT");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
    if (listen(fd, SOMAXCONN) < 0) die("listen");
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    if (getsockname(fd, (struct sockaddr*)&a, &alen) < 0) die("getsockname");
    return ntohs(a.sin_port);
}

static void close_conn(struct conn* c) {
    close(c->fd); // also removes it from the epoll set
    free(c);
}

// Sends buf[off, len). Returns false if the connection failed; true with
// off < len means the socket is full and EPOLLOUT will call again.
static bool flush_conn(struct conn* c) {
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n > 0) {
            c->off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
    }
    c->off = c->len = 0;
    return true;
}

// Reads and echoes until the socket has nothing more (EAGAIN), the peer is
// done, or a send is blocked. Returns false when the connection should close.
static bool serve_conn(struct conn* c) {
    if (!flush_conn(c)) return false;
    while (c->len == 0) { // nothing pending: read more
        ssize_t n = recv(c->fd, c->buf, BUF_SIZE, 0);
        if (n > 0) {
            c->len = (size_t)n;
            if (!flush_conn(c)) return false;
        } else if (n == 0) {
            return false; // EOF: everything received was echoed
        } else if (errno == EINTR) {
            continue;
        } else {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
    }
    return true; // blocked on send: EPOLLOUT resumes
}

static void accept_all(int ep, struct loop* l) {
    for (;;) { // ends at EAGAIN (or any other error)
        int fd = accept4(l->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4"); // EMFILE: retried on the next edge
            return;
        }
        struct conn* c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl");
            close_conn(c);
            continue;
        }
        l->accepted++;
    }
}

static void* run_loop(void* arg) {
    struct loop* l = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &listener_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, l->listener, &ev) < 0) die("epoll_ctl listener");
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &stop_tag}; // level: wakes every loop
    if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) < 0) die("epoll_ctl stop eventfd");

    struct epoll_event events[MAX_EVENTS];
    for (bool running = true; running;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            void* p = events[i].data.ptr;
            if (p == &listener_tag) {
                accept_all(ep, l);
            } else if (p == &stop_tag) {
                running = false;
            } else if (!serve_conn(p)) {
                close_conn(p);
            }
        }
    }
    // Open connections are left to exit(): the kernel closes their fds.
    close(ep);
    return NULL;
}

int main(int argc, char** argv) {
    int port = 65432;
    long threads = 1;
    bool stats = false;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = (int)parse_number("--port", argv[++i], 65535);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = parse_number("--threads", argv[++i], MAX_THREADS);
        } else if (strcmp(argv[i], "--stats") == 0) {
            stats = true;
        } else {
            fprintf(stderr, "usage: epoll_echo_mt [--port N] [--threads N] [--stats]\n");
            exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
        }
    }
    if (threads == 0) {
        cpu_set_t set;
        threads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    }
    // Blocked here, so in every loop thread too: only sigwait below sees them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) die("pthread_sigmask");
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0) die("eventfd");

    struct loop* loops = calloc((size_t)threads, sizeof *loops);
    if (!loops) die("calloc");
    loops[0].listener = listen_loopback(port);
    port = bound_port(loops[0].listener); // port 0: the others join the port it got
    for (long i = 1; i < threads; ++i)
        loops[i].listener = listen_loopback(port);
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    for (long i = 0; i < threads; ++i) {
        int err = pthread_create(&loops[i].thread, NULL, run_loop, &loops[i]);
        if (err != 0) {
            errno = err;
            die("pthread_create");
        }
    }

    int sig;
    while (sigwait(&stop, &sig) != 0) {
    }
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one) die("write stop eventfd");
    for (long i = 0; i < threads; ++i) {
        pthread_join(loops[i].thread, NULL);
        close(loops[i].listener);
        if (stats) printf("thread %ld: accepted %lu\n", i, loops[i].accepted);
    }
    close(stop_fd);
    free(loops);
    return 0;
}
