/*
 * loadgen: an independent load generator for the greeting protocol, used by
 * bench/serve.sh as a check on `sockdemo client --connections`. It shares no
 * code and no design with sockdemo: one thread, non-blocking sockets, epoll.
 *
 * The load is the same: N connections held open at once; each reads
 * `Welcome!`; once all are greeted, each does M round trips in the raw mode
 * of the protocol (a unique name sent with no line ending, one message in
 * flight, the reply `Hello, <name>!` checked byte for byte); once all are
 * done, each sends `exit` and waits for the server to close. Only the round
 * trips are timed.
 *
 * Usage: loadgen HOST:PORT CONNECTIONS ROUNDS [TIMEOUT_SECONDS]
 * Prints one line of key=value pairs; exits 0 only if every connection
 * succeeded.
 *
 * Build: cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, WELCOMING, GREETED, TALKING, DONE, CLOSING, CLOSED, FAILED };

struct conn {
    int fd;
    enum state state;
    int round;
    uint64_t sent_ns;
    char expect[64];
    size_t expect_len, have;
    char buf[64];
};

static struct conn *conns;
static uint64_t *latencies;
static size_t n_latencies;
static int n_conns, n_rounds, epfd;
static int n_greeted, n_done, n_closed, n_failed;
static const char *first_error;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct conn *c, const char *why) {
    if (c->state == FAILED) return;
    if (!first_error) first_error = why;
    /* Keep the counts disjoint: a connection is in exactly one of them. */
    if (c->state == GREETED) n_greeted--;
    if (c->state == DONE) n_done--;
    c->state = FAILED;
    n_failed++;
    close(c->fd);
}

static void expect(struct conn *c, const char *text, size_t len) {
    memcpy(c->expect, text, len);
    c->expect_len = len;
    c->have = 0;
}

static void send_round(struct conn *c, int index) {
    char name[32];
    int len = snprintf(name, sizeof name, "g%dr%d", index, c->round);
    char reply[64];
    int reply_len = snprintf(reply, sizeof reply, "Hello, %s!", name);
    expect(c, reply, (size_t)reply_len);
    c->state = TALKING;
    c->sent_ns = now_ns();
    if (write(c->fd, name, (size_t)len) != len) fail(c, "short write");
}

static void start_round_trips(void) {
    for (int i = 0; i < n_conns; i++)
        if (conns[i].state == GREETED) {
            n_greeted--;
            send_round(&conns[i], i);
        }
}

static void start_closing(void) {
    for (int i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        if (c->state != DONE) continue;
        c->state = CLOSING;
        if (write(c->fd, "exit", 4) != 4) fail(c, "short write of exit");
    }
}

/* A whole expected message arrived on c. */
static void on_message(struct conn *c, int index) {
    if (c->state == WELCOMING) {
        c->state = GREETED;
        n_greeted++;
        return;
    }
    latencies[n_latencies++] = now_ns() - c->sent_ns;
    if (++c->round < n_rounds) {
        send_round(c, index);
        return;
    }
    c->state = DONE;
    n_done++;
}

static void on_readable(struct conn *c, int index) {
    char chunk[256];
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (c->state == CLOSING) {
        if (n == 0) {
            c->state = CLOSED;
            n_closed++;
            close(c->fd);
        } else {
            fail(c, "data instead of a close after exit");
        }
        return;
    }
    if (n <= 0) {
        fail(c, n == 0 ? "server closed early" : "read error");
        return;
    }
    if (c->state != WELCOMING && c->state != TALKING) {
        fail(c, "data nobody asked for");
        return;
    }
    if (c->have + (size_t)n > c->expect_len ||
        memcmp(c->expect + c->have, chunk, (size_t)n) != 0) {
        fail(c, "unexpected reply");
        return;
    }
    c->have += (size_t)n;
    if (c->have == c->expect_len) on_message(c, index);
}

static void on_connected(struct conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        fail(c, "connect failed");
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = WELCOMING;
    expect(c, "Welcome!", 8);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(double p) {
    if (n_latencies == 0) return 0;
    size_t rank = (size_t)(p * (double)n_latencies + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n_latencies) rank = n_latencies;
    return (double)latencies[rank - 1] / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST:PORT CONNECTIONS ROUNDS [TIMEOUT_SECONDS]\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) return 2;
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return 2;
    n_conns = atoi(argv[2]);
    n_rounds = atoi(argv[3]);
    double timeout_s = argc > 4 ? atof(argv[4]) : 120;
    if (n_conns <= 0 || n_rounds <= 0) return 2;

    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    conns = calloc((size_t)n_conns, sizeof *conns);
    latencies = calloc((size_t)n_conns * (size_t)n_rounds, sizeof *latencies);
    epfd = epoll_create1(0);
    if (!conns || !latencies || epfd < 0) return 1;
    for (int i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0) {
            c->state = CONNECTING;
            fail(c, "socket failed");
            continue;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->state = CONNECTING;
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
            fail(c, "connect failed");
            continue;
        }
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }

    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    uint64_t started = 0, finished = 0;
    struct epoll_event events[1024];
    while (n_closed + n_failed < n_conns) {
        if (!started && n_greeted + n_failed == n_conns) {
            started = now_ns();
            start_round_trips();
            continue;
        }
        if (!finished && started && n_done + n_failed == n_conns) {
            finished = now_ns();
            start_closing();
            continue;
        }
        uint64_t now = now_ns();
        if (now >= deadline) {
            for (int i = 0; i < n_conns; i++)
                if (conns[i].state != CLOSED && conns[i].state != FAILED) fail(&conns[i], "timed out");
            break;
        }
        int wait_ms = (int)((deadline - now) / 1000000) + 1;
        int n = epoll_wait(epfd, events, 1024, wait_ms);
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            struct conn *c = &conns[i];
            if (c->state == FAILED || c->state == CLOSED) continue;
            if (c->state == CONNECTING)
                on_connected(c);
            else
                on_readable(c, i);
        }
    }
    if (!finished) finished = now_ns();
    if (!started) started = finished;

    qsort(latencies, n_latencies, sizeof *latencies, cmp_u64);
    double seconds = (double)(finished - started) / 1e9;
    printf("ok=%d failed=%d round_trips=%zu seconds=%.3f rate=%.0f p50_ms=%.3f p90_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f\n",
           n_conns - n_failed, n_failed, n_latencies, seconds,
           seconds > 0 ? (double)n_latencies / seconds : 0.0, percentile_ms(0.50),
           percentile_ms(0.90), percentile_ms(0.99), percentile_ms(1.0));
    if (first_error) fprintf(stderr, "loadgen: %d connections failed, the first: %s\n", n_failed, first_error);
    return n_failed ? 1 : 0;
}
