// uring_echo: the plain C io_uring baseline for coronet's benchmarks. A
// single-thread liburing (>= 2.3) TCP echo server on 127.0.0.1:
//
// - one multishot accept (re-armed when the kernel ends it);
// - per connection one operation at a time: recv, then send until all of it
//   has gone (a partial send is resubmitted for the rest), then recv again;
// - one io_uring_submit_and_wait() per loop iteration submits everything the
//   previous batch of completions queued and waits; completions are reaped in
//   one batch (io_uring_for_each_cqe + io_uring_cq_advance);
// - the ring is set up like coronet's: SUBMIT_ALL|SINGLE_ISSUER|DEFER_TASKRUN,
//   else SUBMIT_ALL|COOP_TASKRUN, else no flags; the ring fd is registered.
// Like coronet's echo_server it leaves Nagle on (no TCP_NODELAY).
//
// Usage: uring_echo [--port N]   (0 = any free port; default 65432)
// Prints "listening on 127.0.0.1:PORT" (flushed) once it accepts connections,
// and exits 0 on SIGINT or SIGTERM (a POLL_ADD on a signalfd).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF_SIZE = 16384, RING_ENTRIES = 4096 };

// user_data values that are not connections (a struct conn* is never this small).
enum { TAG_IGNORE = 0, TAG_ACCEPT = 1, TAG_SIGNAL = 2 };

struct conn {
    int fd;
    bool sending;   // the operation in flight is a send (else a recv)
    unsigned off;   // sending buf[off, len)
    unsigned len;
    unsigned char buf[BUF_SIZE];
};

static struct io_uring ring;

static void die(const char* what, int err) {
    fprintf(stderr, "uring_echo: %s: %s\n", what, strerror(err));
    exit(1);
}

static int parse_port(int argc, char** argv) {
    int port = 65432;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char* end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 65535) {
                fprintf(stderr, "uring_echo: --port: '%s' is not 0..65535\n", argv[i]);
                exit(2);
            }
            port = (int)v;
        } else {
            fprintf(stderr, "usage: uring_echo [--port N]\n");
            exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
        }
    }
    return port;
}

static int listen_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) die("bind", errno);
    if (listen(fd, SOMAXCONN) < 0) die("listen", errno);
    socklen_t alen = sizeof a;
    if (getsockname(fd, (struct sockaddr*)&a, &alen) < 0) die("getsockname", errno);
    printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

static void setup_ring(void) {
    const unsigned flags[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0] && r == -EINVAL; ++i) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flags[i];
        r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    }
    if (r < 0) die("io_uring_queue_init_params", -r);
    (void)io_uring_register_ring_fd(&ring); // optional: saves an fd lookup per enter
}

// An SQE; a full submission queue is flushed first (the kernel copies SQEs at submit).
static struct io_uring_sqe* get_sqe(void) {
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe) die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

static void arm_accept(int lfd) {
    struct io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
}

static void submit_recv(struct conn* c) {
    struct io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
    io_uring_sqe_set_data(sqe, c);
    c->sending = false;
}

static void submit_send(struct conn* c) {
    struct io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
    c->sending = true;
}

// No operation of c is in flight: its one operation just completed.
static void close_conn(struct conn* c) {
    struct io_uring_sqe* sqe = get_sqe();
    io_uring_prep_close(sqe, c->fd);
    io_uring_sqe_set_data64(sqe, TAG_IGNORE);
    free(c);
}

static void on_accept(int lfd, const struct io_uring_cqe* cqe) {
    if (cqe->res >= 0) {
        struct conn* c = malloc(sizeof *c);
        if (!c) {
            close(cqe->res);
        } else {
            c->fd = cqe->res;
            c->off = c->len = 0;
            submit_recv(c);
        }
    } else if (cqe->res != -ECONNABORTED && cqe->res != -EINTR) {
        fprintf(stderr, "uring_echo: accept: %s\n", strerror(-cqe->res));
    }
    // The kernel ends a multishot accept on errors (e.g. EMFILE) and says so by
    // leaving IORING_CQE_F_MORE unset: arm a new one.
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(lfd);
}

static void on_conn(struct conn* c, int res) {
    if (res <= 0) { // EOF (everything was echoed), reset, or another error
        close_conn(c);
        return;
    }
    if (!c->sending) {
        c->off = 0;
        c->len = (unsigned)res;
        submit_send(c);
        return;
    }
    c->off += (unsigned)res;
    if (c->off < c->len)
        submit_send(c); // partial send: the rest
    else
        submit_recv(c);
}

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0) die("sigprocmask", errno);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd", errno);

    setup_ring();
    int lfd = listen_loopback(port);
    arm_accept(lfd);
    struct io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, sfd, POLLIN);
    io_uring_sqe_set_data64(sqe, TAG_SIGNAL);

    for (bool running = true; running;) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
            die("io_uring_submit_and_wait", -r);
        struct io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            uint64_t tag = cqe->user_data;
            if (tag == TAG_ACCEPT)
                on_accept(lfd, cqe);
            else if (tag == TAG_SIGNAL)
                running = false;
            else if (tag != TAG_IGNORE)
                on_conn((struct conn*)(uintptr_t)tag, cqe->res);
        }
        io_uring_cq_advance(&ring, seen);
    }
    // Open connections are left to exit(): the kernel closes their fds and
    // cancels their operations with the ring.
    io_uring_queue_exit(&ring);
    close(lfd);
    close(sfd);
    return 0;
}
