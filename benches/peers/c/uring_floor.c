/*
 * The io_uring kernel floor: the least a single-threaded C server can make
 * the kernel do per echo round trip or per HTTP request, beside the epoll
 * floors (echo_floor.c, http_floor.c). It parses nothing:
 *
 *   echo: sends back whatever each receive brought;
 *   http: counts complete request heads ("\r\n\r\n", partial matches carried
 *         across receives) and answers each with the same canned 110-byte
 *         response as http_floor.c.
 *
 *   uring_floor <echo|http> <port> [lifetime_secs]
 *
 * Listens on 127.0.0.1:<port>, prints "listening <port>", and serves until
 * its stdin is closed (the harness closes it) or the lifetime passes.
 *
 * What makes it the floor (one io_uring_enter per loop turn, nothing else):
 * - IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN: completions are run only
 *   when this thread enters the kernel to wait, never by interrupting it;
 * - one multishot accept for the listener;
 * - one multishot receive per connection into a provided buffer ring, so no
 *   buffer sits idle in a connection that waits;
 * - sends straight from the provided buffer (echo: no copy; the buffer goes
 *   back to the ring when the send completes) or from one static block of
 *   canned answers (http: the buffer goes back as soon as it is counted).
 *
 * One send per connection is in flight at a time with this harness's
 * clients (echo ping-pong, wrk with or without pipelining), so a short
 * send is simply finished by sending the rest.
 *
 * Build: cc -O2 -o uring_floor uring_floor.c -luring   (benches/run.sh does this)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: grove-http\r\n"
    "Date: Tue, 24 Nov 2026 04:17:00 GMT\r\n"
    "Content-Length: 14\r\n"
    "\r\n"
    "Hello world!\r\n";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)
#define CANNED 64 /* answers in the static block; more are sent in turns */
static char canned[CANNED * RESPONSE_LEN];

#define BUF_SIZE 2048
#define BUF_COUNT 16384 /* a power of two; one per connection at 10k echo */
#define BGID 0

/* user_data: a conn pointer (8-aligned) | the operation in the low bits |
 * the provided buffer's id in the top 16 bits (echo sends). */
enum op { OP_RECV = 0, OP_SEND = 1, OP_ACCEPT = 2, OP_STDIN = 3 };

struct conn {
    int fd;
    int matched;     /* http: how much of "\r\n\r\n" the last bytes matched */
    int recv_armed;  /* a multishot receive is still live */
    int sends;       /* sends in flight: the struct lives until both are 0 */
    int closing;
    const char *out; /* the send in flight: what is left of it */
    unsigned out_len;
    unsigned heads;  /* http: answers still to send after this one */
};

static struct io_uring ring;
static struct io_uring_buf_ring *bufs;
static char *buf_mem;
static int echo_mode, lfd;

static uint64_t ud(struct conn *c, enum op op, unsigned bid) {
    return (uint64_t)(uintptr_t)c | op | ((uint64_t)bid << 48);
}

/* An SQE, submitting what is queued first if the ring is full. */
static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    while (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void give_back(unsigned bid) {
    io_uring_buf_ring_add(bufs, buf_mem + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
                          io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(bufs, 1);
}

static void arm_recv(struct conn *c) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, ud(c, OP_RECV, 0));
    c->recv_armed = 1;
}

static void arm_accept(void) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, ud(NULL, OP_ACCEPT, 0));
}

static void send_out(struct conn *c, unsigned bid) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_send(s, c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, ud(c, OP_SEND, bid));
    c->sends++;
}

/* http: queues the next block of canned answers. */
static void send_answers(struct conn *c) {
    unsigned n = c->heads < CANNED ? c->heads : CANNED;
    c->heads -= n;
    c->out = canned;
    c->out_len = n * RESPONSE_LEN;
    send_out(c, 0);
}

static unsigned count_heads(struct conn *c, const char *p, size_t n) {
    unsigned heads = 0;
    int m = c->matched;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == "\r\n\r\n"[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = p[i] == '\r';
        }
    }
    c->matched = m;
    return heads;
}

/* Closes the socket once; frees the struct when no operation refers to it. */
static void release(struct conn *c) {
    if (!c->closing) {
        c->closing = 1;
        shutdown(c->fd, SHUT_RDWR); /* ends a live multishot receive */
    }
    if (!c->recv_armed && c->sends == 0) {
        close(c->fd);
        free(c);
    }
}

static void on_recv(struct conn *c, struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) c->recv_armed = 0;
    if (cqe->res == -ENOBUFS && !c->closing) {
        /* The ring ran dry: back-pressure, receive again once buffers return. */
        if (!c->recv_armed) arm_recv(c);
        return;
    }
    if (cqe->res <= 0 || c->closing) {
        if (cqe->res > 0) give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        release(c);
        return;
    }
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    char *data = buf_mem + (size_t)bid * BUF_SIZE;
    if (echo_mode) {
        c->out = data;
        c->out_len = (unsigned)cqe->res;
        send_out(c, bid); /* the buffer goes back when the send completes */
    } else {
        unsigned heads = count_heads(c, data, (size_t)cqe->res);
        give_back(bid);
        if (heads) {
            c->heads += heads;
            if (c->sends == 0) send_answers(c);
        }
    }
    if (!c->recv_armed) arm_recv(c);
}

static void on_send(struct conn *c, struct io_uring_cqe *cqe, unsigned bid) {
    c->sends--;
    if (cqe->res < 0 || c->closing) {
        if (echo_mode) give_back(bid);
        release(c);
        return;
    }
    if ((unsigned)cqe->res < c->out_len) {
        c->out += cqe->res;
        c->out_len -= (unsigned)cqe->res;
        send_out(c, bid);
        return;
    }
    if (echo_mode) {
        give_back(bid);
    } else if (c->heads) {
        send_answers(c);
    }
}

static void on_accept(struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
    if (cqe->res < 0) return; /* EMFILE and the like: the next one may work */
    int one = 1;
    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(cqe->res);
        return;
    }
    c->fd = cqe->res;
    arm_recv(c);
}

static void watch_stdin(void) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_poll_add(s, STDIN_FILENO, POLLIN);
    io_uring_sqe_set_data64(s, ud(NULL, OP_STDIN, 0));
}

/* The provided buffer ring: BUF_COUNT buffers of BUF_SIZE, all given. */
static int setup_buffers(void) {
    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    bufs = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buf_mem = malloc((size_t)BUF_COUNT * BUF_SIZE);
    if (bufs == MAP_FAILED || !buf_mem) return -ENOMEM;
    io_uring_buf_ring_init(bufs);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)bufs, .ring_entries = BUF_COUNT, .bgid = BGID};
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) return r;
    for (unsigned bid = 0; bid < BUF_COUNT; bid++) give_back(bid);
    return 0;
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4096) < 0) return -1;
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: uring_floor <echo|http> <port> [lifetime_secs]\n");
        return 2;
    }
    echo_mode = !strcmp(argv[1], "echo");
    int port = atoi(argv[2]);
    if (argc > 3) alarm((unsigned)atoi(argv[3])); /* SIGALRM's default action ends it */
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int i = 0; i < CANNED; i++) memcpy(canned + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    /* A completion queue that holds one completion of every connection of
     * the 10k echo row at once, so none waits in the kernel's overflow list. */
    struct io_uring_params p = {
        .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
        .cq_entries = 32768,
    };
    int r = io_uring_queue_init_params(4096, &ring, &p);
    if (r < 0) {
        fprintf(stderr, "uring_floor: io_uring_queue_init: %s\n", strerror(-r));
        printf("error io_uring_queue_init: %s\n", strerror(-r));
        return 1;
    }
    if ((r = setup_buffers()) < 0) {
        fprintf(stderr, "uring_floor: provided buffer ring: %s\n", strerror(-r));
        printf("error provided buffer ring: %s\n", strerror(-r));
        return 1;
    }
    if ((lfd = listen_on(port)) < 0) {
        perror("uring_floor: bind/listen");
        printf("error bind/listen: %s\n", strerror(errno));
        return 1;
    }
    arm_accept();
    watch_stdin();
    printf("listening %d\n", port);
    fflush(stdout);

    for (;;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "uring_floor: io_uring_enter: %s\n", strerror(-r));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t d = cqe->user_data;
            struct conn *c = (struct conn *)(uintptr_t)(d & 0x0000fffffffffff8ull);
            switch (d & 7) {
            case OP_RECV: on_recv(c, cqe); break;
            case OP_SEND: on_send(c, cqe, (unsigned)(d >> 48)); break;
            case OP_ACCEPT: on_accept(cqe); break;
            case OP_STDIN: {
                /* The harness closed stdin (EOF) or wrote to it. */
                char b[64];
                if (read(STDIN_FILENO, b, sizeof b) <= 0) return 0;
                watch_stdin();
                break;
            }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
