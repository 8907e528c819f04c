/*
 * echo_rtt — the floor orderload's latencies are compared with in the benchmark: the
 * loopback round trip of a trivial TCP echo on this machine, measured the way orderload
 * waits for an answer (one small message, then blocking until the echo is back).
 *
 *   build/echo_rtt -l PORT                        echo every byte back on 127.0.0.1:PORT
 *   build/echo_rtt -c PORT [-r RATE] [-d SECONDS] [-n CONNECTIONS] [-s SPIN_US]
 *                                                  round trips at RATE per second (default
 *                                                  1000, 2 s, 1 connection; several take
 *                                                  turns), then prints
 *                                                  "rtt_us p50 P p99 Q n N"
 *   build/echo_rtt -t [-r RATE] [-d SECONDS] [-s SPIN_US]
 *                                                  the timer floor: no sockets; sleeps until
 *                                                  SPIN_US before each instant, reads the clock
 *                                                  until it, and prints how late it got there,
 *                                                  "late_us p50 P p99 Q n N stalls S": the best
 *                                                  a sender can do on this CPU now, and how often
 *                                                  (S per second) a thread reading the clock was
 *                                                  stopped for 20 us or more
 *
 * The server is one thread per connection, blocking: nothing between the two sockets but
 * the kernel.  The client sleeps until each intended instant (an absolute
 * clock_nanosleep), writes 64 bytes and reads them back, polling for the first SPIN_US
 * (default 0) as orderload polls for an answer through its spin window, then blocking; the
 * round trip counts from the write, so the client's own lateness is not in it.  Built by the Makefile as
 * build/echo_rtt with the C library alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

static int serve(unsigned short port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "echo_rtt: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        pthread_t tid;
        if (pthread_create(&tid, NULL, echo, (void *)(intptr_t)c) != 0)
            close(c);
        else
            pthread_detach(tid);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* the q-quantile (0..1) of n sorted durations in ns, in us (0 when there are none) */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
    return n ? (double)v[(size_t)((double)n * q)] / 1e3 : 0;
}

#define STALL_NS 20000u /* a clock read this long after the last one: the thread was stopped */

static int ping(unsigned short port, double rate, double secs, int nconn, uint64_t spin_ns)
{
    int *fds = calloc((size_t)nconn, sizeof(int));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int on = 1;
    for (int i = 0; i < nconn; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            fprintf(stderr, "echo_rtt: cannot connect to 127.0.0.1:%u: %s\n", port, strerror(errno));
            return 1;
        }
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    size_t n = (size_t)(rate * secs);
    uint64_t *rtt = calloc(n ? n : 1, sizeof(*rtt));
    uint64_t step = (uint64_t)(1e9 / rate), t0 = now_ns() + 10000000u;
    char msg[MSG], back[MSG];
    memset(msg, 'x', sizeof(msg));
    for (size_t k = 0; k < n; k++) {
        uint64_t at = t0 + k * step;
        struct timespec ts = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        int fd = fds[k % (size_t)nconn];
        uint64_t sent = now_ns();
        if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) return 1;
        for (size_t got = 0; got < sizeof(back);) {
            int poll = now_ns() - sent < spin_ns;
            ssize_t r = recv(fd, back + got, sizeof(back) - got, poll ? MSG_DONTWAIT : 0);
            if (r < 0 && (errno == EINTR || (poll && errno == EAGAIN))) continue;
            if (r <= 0) return 1;
            got += (size_t)r;
        }
        rtt[k] = now_ns() - sent;
    }
    qsort(rtt, n, sizeof(*rtt), cmp_u64);
    printf("rtt_us p50 %.1f p99 %.1f n %zu\n", quantile_us(rtt, n, 0.5), quantile_us(rtt, n, 0.99), n);
    free(rtt);
    free(fds);
    return 0;
}

/* the timer floor: how late a thread that sleeps, then reads the clock in a loop, reaches each
 * instant (what orderload's spin does, with nothing else to do) */
static int timer_floor(double rate, double secs, uint64_t spin_ns)
{
    size_t n = (size_t)(rate * secs);
    uint64_t *late = calloc(n ? n : 1, sizeof(*late));
    uint64_t step = (uint64_t)(1e9 / rate), t0 = now_ns() + 10000000u, stalls = 0, spun = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t at = t0 + k * step, wake = at > spin_ns ? at - spin_ns : at;
        struct timespec ts = {.tv_sec = (time_t)(wake / 1000000000u), .tv_nsec = (long)(wake % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        uint64_t t = now_ns(), from = t;
        while (t < at) {
            uint64_t before = t;
            t = now_ns();
            stalls += t - before >= STALL_NS;
        }
        spun += t - from;
        late[k] = t - at;
    }
    qsort(late, n, sizeof(*late), cmp_u64);
    printf("late_us p50 %.1f p99 %.1f n %zu stalls %.0f\n", quantile_us(late, n, 0.5),
           quantile_us(late, n, 0.99), n, spun ? (double)stalls * 1e9 / (double)spun : 0);
    free(late);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: echo_rtt -l PORT | echo_rtt -c PORT [-r RATE] [-d SECONDS] [-n CONNECTIONS] [-s SPIN_US]\n"
           "       | echo_rtt -t [-r RATE] [-d SECONDS] [-s SPIN_US]\n"
           "  a loopback echo and its round-trip time, or the timer floor (the benchmark's calibration)\n");
}

int main(int argc, char **argv)
{
    int listen_port = 0, connect_port = 0, nconn = 1, timer = 0, opt;
    double rate = 1000, secs = 2, spin_us = 0;
    while ((opt = getopt(argc, argv, "l:c:r:d:n:s:th")) != -1) {
        switch (opt) {
        case 'l':
            listen_port = atoi(optarg);
            break;
        case 'c':
            connect_port = atoi(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        case 'n':
            nconn = atoi(optarg);
            break;
        case 's':
            spin_us = atof(optarg);
            break;
        case 't':
            timer = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (timer && !listen_port && !connect_port && rate > 0 && rate <= 1e6 && secs > 0 && secs <= 3600 &&
        spin_us >= 0 && spin_us <= 1e6)
        return timer_floor(rate, secs, (uint64_t)(spin_us * 1e3));
    if (timer) {
        usage(stderr);
        return 2;
    }
    if (listen_port > 0 && listen_port < 65536 && !connect_port) return serve((unsigned short)listen_port);
    if (connect_port > 0 && connect_port < 65536 && !listen_port && rate > 0 && rate <= 1e6 && secs > 0 &&
        secs <= 3600 && nconn >= 1 && nconn <= 1024 && spin_us >= 0 && spin_us <= 1e6)
        return ping((unsigned short)connect_port, rate, secs, nconn, (uint64_t)(spin_us * 1e3));
    usage(stderr);
    return 2;
}
