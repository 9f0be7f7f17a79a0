// epoll_echo: the plain C baseline for coronet's benchmarks. A single-thread,
// non-blocking, edge-triggered epoll TCP echo server on 127.0.0.1, written the
// way one would by hand: each fd is registered once (EPOLLIN|EPOLLOUT|
// EPOLLRDHUP|EPOLLET), reads run until EAGAIN, and bytes a send could not take
// wait in the connection's buffer until EPOLLOUT. Like coronet's echo_server,
// it leaves Nagle on (no TCP_NODELAY): same socket setup, same syscalls.
//
// Usage: epoll_echo [--port N]   (0 = any free port; default 65432)
// Prints "listening on 127.0.0.1:PORT" (flushed) once it accepts connections,
// and exits 0 on SIGINT or SIGTERM.
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
#include <unistd.h>

enum { BUF_SIZE = 16384, MAX_EVENTS = 256 };

struct conn {
    int fd;
    size_t off; // unsent bytes are buf[off, len)
    size_t len;
    unsigned char buf[BUF_SIZE];
};

// Tags for the two fds that are not connections (epoll_event.data.ptr).
static char listener_tag, signal_tag;

static void die(const char* what) {
    perror(what);
    exit(1);
}

static int parse_port(int argc, char** argv) {
    int port = 65432;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char* end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 65535) {
                fprintf(stderr, "epoll_echo: --port: '%s' is not 0..65535\n", argv[i]);
                exit(2);
            }
            port = (int)v;
        } else {
            fprintf(stderr, "usage: epoll_echo [--port N]\n");
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

static void accept_all(int ep, int lfd) {
    for (;;) { // ends at EAGAIN (or any other error)
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4"); // EMFILE: retried on the next edge
            return;
        }
        struct conn* c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->off = c->len = 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl");
            close_conn(c);
        }
    }
}

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
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
