/*
 * The kernel floor of issue 5's HTTP rows: a minimal single-threaded epoll
 * server that does no HTTP work beyond counting complete request heads
 * ("\r\n\r\n", partial matches carried across reads) and answers each with a
 * canned response of the same length and shape as grove-http's hello_http
 * (status line, Server, Date, Content-Length, 14-byte body: 110 bytes),
 * so wrk parses the same bytes. Its CPU time per request is what the kernel
 * (accept aside: read, write, epoll_wait, loopback delivery) costs per
 * request on this machine; its req/s is what wrk can drive at best.
 *
 *   http_floor <port> [lifetime_secs]
 *
 * Listens on 127.0.0.1:<port> and serves until its stdin is closed (the
 * harness closes it) or the lifetime passes (exit status 3).
 *
 * Syscalls per event, chosen to be the fewest a correct server can make:
 * level-triggered epoll, ONE read per readiness event (a socket with more
 * data left is simply reported again by the next epoll_wait, so no read
 * ends in EAGAIN and no epoll_ctl is needed per request), and all the
 * answers for one read in ONE write. A write the socket cannot take whole
 * is kept, the connection switches to EPOLLOUT and stops reading until it
 * is flushed (backpressure, as a production server would).
 *
 * Build: cc -O2 -o http_floor http_floor.c   (benches/run.sh does this)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Byte for byte the shape of grove-http's hello_http answer; the Date is
 * fixed (same length as a real IMF-fixdate). */
static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: grove-http\r\n"
    "Date: Tue, 24 Nov 2026 04:17:00 GMT\r\n"
    "Content-Length: 14\r\n"
    "\r\n"
    "Hello world!\r\n";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)

#define READ_BUF 16384
#define MAX_EVENTS 256

struct conn {
    int fd;
    int matched;        /* how much of "\r\n\r\n" the last bytes matched */
    char *pending;      /* answers the socket has not taken yet */
    size_t pending_len; /* bytes of them still to write */
    size_t pending_cap;
    size_t pending_off;
};

static const char HEAD_END[4] = {'\r', '\n', '\r', '\n'};

/* Counts the request heads completed by buf[0..n), carrying c->matched. */
static size_t count_heads(struct conn *c, const char *buf, size_t n) {
    size_t heads = 0;
    int m = c->matched;
    for (size_t i = 0; i < n; i++) {
        char b = buf[i];
        if (b == HEAD_END[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = (b == '\r') ? 1 : 0;
        }
    }
    c->matched = m;
    return heads;
}

static void close_conn(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

/* Writes what is pending; returns -1 if the connection broke, 1 if all was
 * written, 0 if some is left. */
static int flush_pending(struct conn *c) {
    while (c->pending_off < c->pending_len) {
        ssize_t w = write(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->pending_off += (size_t)w;
    }
    c->pending_off = c->pending_len = 0;
    return 1;
}

/* Queues `heads` answers and writes them in one write. Returns -1 if the
 * connection broke, 0 if output is left over. */
static int answer(struct conn *c, size_t heads) {
    size_t need = c->pending_len + heads * RESPONSE_LEN;
    if (need > c->pending_cap) {
        size_t cap = c->pending_cap ? c->pending_cap : 4096;
        while (cap < need) cap *= 2;
        char *p = realloc(c->pending, cap);
        if (!p) return -1;
        c->pending = p;
        c->pending_cap = cap;
    }
    for (size_t i = 0; i < heads; i++) {
        memcpy(c->pending + c->pending_len, RESPONSE, RESPONSE_LEN);
        c->pending_len += RESPONSE_LEN;
    }
    return flush_pending(c) < 0 ? -1 : (c->pending_len ? 0 : 1);
}

static void set_events(int ep, struct conn *c, unsigned events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: http_floor <port> [lifetime_secs]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    unsigned lifetime = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    signal(SIGPIPE, SIG_IGN);
    /* The lifetime watchdog: SIGALRM's default action ends the process. */
    if (lifetime) alarm(lifetime);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
        perror("http_floor: bind/listen");
        return 1;
    }
    printf("listening %d\n", port);
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    /* data.ptr NULL = the listener; &lfd stands for stdin. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &sev);

    static char buf[READ_BUF];
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("http_floor: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == &lfd) {
                /* stdin readable: the harness closed it (EOF) or wrote. */
                ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
                if (r <= 0) return 0;
                continue;
            }
            if (ptr == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED) continue;
                        break; /* EAGAIN, or EMFILE: retried on the next event */
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0) {
                        close(fd);
                        free(c);
                    }
                }
                continue;
            }
            struct conn *c = ptr;
            if (c->pending_len) {
                /* Waiting for room to write: EPOLLOUT (or an error). */
                int f = flush_pending(c);
                if (f < 0) {
                    close_conn(ep, c);
                } else if (f > 0) {
                    set_events(ep, c, EPOLLIN);
                }
                continue;
            }
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            if (r <= 0) {
                close_conn(ep, c);
                continue;
            }
            size_t heads = count_heads(c, buf, (size_t)r);
            if (heads == 0) continue;
            int a = answer(c, heads);
            if (a < 0) {
                close_conn(ep, c);
            } else if (a == 0) {
                set_events(ep, c, EPOLLOUT);
            }
        }
    }
}
