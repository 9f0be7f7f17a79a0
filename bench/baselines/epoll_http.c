// epoll_http: the plain C baseline for coronet's HTTP benchmark (bench/http_bench.py).
// A single-thread, non-blocking, edge-triggered epoll HTTP/1.1 responder on
// 127.0.0.1, written the way one would by hand for a benchmark: every request
// head (up to the blank line) gets the same keep-alive response as
// http_server's GET /hello, byte for byte (status line, Date, Content-Length,
// Content-Type, "Hello, world!\n"), answers to pipelined requests leave in one
// send, and bytes a send could not take wait for EPOLLOUT. It parses nothing
// else (no method, target, header or body): an upper bound for what an HTTP
// server on one thread can do here. Like http_server it leaves Nagle on.
//
// Usage: epoll_http [--port N]   (0 = any free port; default 65432)
// Prints "listening on 127.0.0.1:PORT" (flushed) once it accepts connections,
// and exits 0 on SIGINT or SIGTERM. A head larger than 16 KiB closes the connection.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { IN_SIZE = 16384, OUT_SIZE = 16384, MAX_EVENTS = 256 };

struct conn {
    int fd;
    size_t in_len;           // received bytes not yet answered: in[0, in_len)
    size_t out_off, out_len; // unsent bytes: out[out_off, out_len)
    char in[IN_SIZE];
    char out[OUT_SIZE];
};

static char listener_tag, signal_tag;
static char response[256];
static size_t response_len;
static time_t response_time = -1;

static void die(const char* what) {
    perror(what);
    exit(1);
}

// The response, its Date refreshed once per second (as coronet's http_date does).
static void update_response(void) {
    time_t now = time(NULL);
    if (now == response_time) return;
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 200 OK\r\nDate: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n"
                     "Content-Length: 14\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                     "Hello, world!\n",
                     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
    response_len = (size_t)n;
    response_time = now;
}

static int parse_port(int argc, char** argv) {
    int port = 65432;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char* end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 65535) {
                fprintf(stderr, "epoll_http: --port: '%s' is not 0..65535\n", argv[i]);
                exit(2);
            }
            port = (int)v;
        } else {
            fprintf(stderr, "usage: epoll_http [--port N]\n");
            exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
        }
    }
    return port;
}

static int listen_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
    if (listen(fd, SOMAXCONN) < 0) die("listen");
    socklen_t alen = sizeof a;
    if (getsockname(fd, (struct sockaddr*)&a, &alen) < 0) die("getsockname");
    printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

static void close_conn(struct conn* c) {
    close(c->fd); // also removes it from the epoll set
    free(c);
}

// Sends out[out_off, out_len). False if the connection failed; true with
// bytes left means the socket is full and EPOLLOUT will call again.
static bool flush_conn(struct conn* c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
    }
    c->out_off = c->out_len = 0;
    return true;
}

// Queues one response per complete head in `in`, while `out` has room.
static void answer_heads(struct conn* c) {
    size_t used = 0;
    for (;;) {
        char* end = memmem(c->in + used, c->in_len - used, "\r\n\r\n", 4);
        if (!end || c->out_len + response_len > OUT_SIZE) break;
        update_response();
        memcpy(c->out + c->out_len, response, response_len);
        c->out_len += response_len;
        used = (size_t)(end + 4 - c->in);
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
}

// Reads and answers until the socket has nothing more (EAGAIN), the peer is
// done, or a send is blocked. Returns false when the connection should close.
static bool serve_conn(struct conn* c) {
    for (;;) {
        if (!flush_conn(c)) return false;
        if (c->out_len > 0) return true; // blocked on send: EPOLLOUT resumes
        answer_heads(c);                 // heads left from before the send blocked
        if (c->out_len > 0) continue;
        if (c->in_len == IN_SIZE) return false; // a head larger than the buffer
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_SIZE - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            answer_heads(c);
        } else if (n == 0) {
            return false; // EOF
        } else if (errno != EINTR) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
    }
}

static void accept_all(int ep, int lfd) {
    for (;;) { // ends at EAGAIN (or any other error)
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return;
        }
        struct conn* c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in_len = c->out_off = c->out_len = 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl");
            close_conn(c);
        }
    }
}

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    update_response();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0) die("sigprocmask");
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    int lfd = listen_loopback(port);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &listener_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listener");
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &signal_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) die("epoll_ctl signalfd");

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
                accept_all(ep, lfd);
            } else if (p == &signal_tag) {
                running = false;
            } else if (!serve_conn(p)) {
                close_conn(p);
            }
        }
    }
    // Open connections are left to exit(): the kernel closes their fds.
    close(lfd);
    close(ep);
    close(sfd);
    return 0;
}
