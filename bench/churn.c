/*
 * Connection churn against a greeting server, for bench/serve_churn.sh.
 *
 *   churn HOST:PORT MODE THREADS SECONDS [RATE]
 *
 * THREADS threads each open one connection after another for SECONDS, in
 * one of two ways (MODE), all together at most RATE a second if given (a
 * client that does not wait for the server would otherwise fill its listen
 * queue, and every connect the kernel then drops waits a second for its
 * retry: the rate measured would be the queue's length a second):
 *
 *   probe   connect, then close at once without reading: what `nc -z`, a
 *           load balancer's or Kubernetes' TCP check does.
 *   polite  connect, read the greeting ("Welcome!", or the busy line),
 *           send "exit", read until the server closes, close.
 *
 * Prints one line: mode=M connections=N seconds=S rate=R welcomed=W busy=B
 * (welcomed and busy are counted in polite mode only: a probe reads
 * nothing). Whether the server admitted a probe is in the server's own
 * summary. Shares no code with sockdemo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in server;
static int polite;
static double deadline;
static atomic_long connections, welcomed, busy, failures;
static atomic_uint next_source;
static double interval; /* between two connections of one thread; 0: none */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads until the server closes; 0 on a clean close. */
static int drain(int fd) {
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0 && errno != EINTR) return -1;
    }
}

/* One polite conversation on a connected socket. */
static void converse(int fd) {
    char greeting[8];
    size_t have = 0;
    while (have < sizeof greeting) {
        ssize_t n = read(fd, greeting + have, sizeof greeting - have);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            atomic_fetch_add(&failures, 1);
            return;
        }
        have += (size_t)n;
    }
    if (memcmp(greeting, "Welcome!", 8) == 0) {
        if (write(fd, "exit", 4) != 4 || drain(fd) != 0) {
            atomic_fetch_add(&failures, 1);
            return;
        }
        atomic_fetch_add(&welcomed, 1);
    } else if (memcmp(greeting, "Busy, tr", 8) == 0) {
        drain(fd);
        atomic_fetch_add(&busy, 1);
    } else {
        atomic_fetch_add(&failures, 1);
    }
}

static void *worker(void *unused) {
    (void)unused;
    double next = now();
    while (now() < deadline) {
        if (interval > 0) {
            double wait = next - now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
            next += interval;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* Each connection from the next of 250 loopback addresses: the side
         * that closes first keeps its end in TIME_WAIT, and with tens of
         * thousands of them on one address, finding a free port for the
         * next connect costs the client more than the server spends on the
         * whole connection. */
        struct sockaddr_in source = {.sin_family = AF_INET};
        source.sin_addr.s_addr = htonl(0x7f000002 + (unsigned)(atomic_fetch_add(&next_source, 1) % 250));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&source, sizeof source) != 0) {
            atomic_fetch_add(&failures, 1);
            close(fd);
            continue;
        }
        if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) {
            atomic_fetch_add(&failures, 1);
            close(fd);
            continue;
        }
        if (polite) converse(fd);
        close(fd);
        atomic_fetch_add(&connections, 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s HOST:PORT probe|polite THREADS SECONDS [RATE]\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) {
        fprintf(stderr, "churn: bad address %s\n", argv[1]);
        return 2;
    }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "churn: bad address %s\n", argv[1]);
        return 2;
    }
    if (strcmp(argv[2], "polite") == 0) {
        polite = 1;
    } else if (strcmp(argv[2], "probe") != 0) {
        fprintf(stderr, "churn: mode is probe or polite, not %s\n", argv[2]);
        return 2;
    }
    int threads = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (threads < 1 || threads > 4096 || seconds <= 0) {
        fprintf(stderr, "churn: THREADS 1..4096, SECONDS > 0\n");
        return 2;
    }
    double rate = argc == 6 ? atof(argv[5]) : 0;
    if (rate > 0) interval = threads / rate;
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double took = now() - start;
    long n = atomic_load(&connections);
    printf("mode=%s connections=%ld seconds=%.3f rate=%.0f welcomed=%ld busy=%ld failed=%ld\n",
           argv[2], n, took, n / took, atomic_load(&welcomed), atomic_load(&busy),
           atomic_load(&failures));
    free(ids);
    return 0;
}
