/*
 * The epoll kernel floor of the echo rows, beside http_floor.c: a minimal
 * single-threaded server that sends back whatever one read brought. Its CPU
 * time per round trip is what the kernel costs per round trip with epoll
 * (read, write, epoll_wait, loopback delivery); uring_floor.c is the same
 * with io_uring.
 *
 *   echo_floor <port> [lifetime_secs]
 *
 * Listens on 127.0.0.1:<port>, prints "listening <port>", and serves until
 * its stdin is closed (the harness closes it) or the lifetime passes.
 *
 * Level-triggered epoll, ONE read per readiness event (a socket with data
 * left is reported again, so no read ends in EAGAIN and no epoll_ctl is
 * made per message) and ONE write of what it read. The echo clients here
 * send one 64-byte message and wait for it, so a write always fits the
 * socket; one that does not whole closes the connection (counted as a
 * failure by the load generator, never silent).
 *
 * Build: cc -O2 -o echo_floor echo_floor.c   (benches/run.sh does this)
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
/* epoll data: the fd itself; these two stand for the listener and stdin. */
#define LISTENER (-1)
#define STDIN_TAG (-2)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: echo_floor <port> [lifetime_secs]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    if (argc > 2) alarm((unsigned)atoi(argv[2])); /* SIGALRM's default action ends it */
    signal(SIGPIPE, SIG_IGN);
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
        perror("echo_floor: bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = LISTENER};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.fd = STDIN_TAG;
    epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
    printf("listening %d\n", port);
    fflush(stdout);

    static char buf[1024]; /* the echo rows' handler buffer size */
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("echo_floor: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == STDIN_TAG) {
                if (read(STDIN_FILENO, buf, sizeof buf) <= 0) return 0;
                continue;
            }
            if (fd == LISTENER) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) close(c);
                }
                continue; /* EAGAIN, or EMFILE: retried on the next event */
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0 || write(fd, buf, (size_t)r) != r) close(fd); /* close drops it from epoll */
        }
    }
}
