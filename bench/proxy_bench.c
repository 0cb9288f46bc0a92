/*
 * proxy_bench PROXYRUN [MIB] [CONNECTS]: the egress proxy's cost, measured
 * next to a direct loopback connection in the same run (issue 14, item 8).
 *
 * A sink on 127.0.0.1 reads each connection to EOF and answers with the
 * byte count, so a transfer is timed until the last byte has arrived.  The
 * proxy (tests/proxyrun, allowing the sink's address) is started here.
 *   - throughput: MIB MiB (default 100) direct, then through a CONNECT
 *     tunnel, alternating, three rounds, best of each;
 *   - setup latency: CONNECTS (default 200) connect + CONNECT + "200"
 *     exchanges, median, next to the median of plain connects to the sink.
 * Prints a markdown list; exits non-zero if anything failed (not on speed).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "proxy_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *sink_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[CHUNK];
    uint64_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (uint64_t)n;
    if (write(fd, &total, sizeof total) < 0) {
        /* the client went away; nothing to report */
    }
    close(fd);
    return NULL;
}

static void *sink_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, sink_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&a);
    }
    return NULL;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* CONNECT through the proxy; returns once "200" came back. */
static int tunnel(uint16_t proxy, uint16_t sink)
{
    int fd = connect_to(proxy);
    char req[128], resp[512];
    int n = snprintf(req, sizeof req, "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                     sink, sink);
    if (write(fd, req, (size_t)n) != n)
        die("write CONNECT");
    size_t got = 0;
    while (got < sizeof resp - 1) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0)
            die("read CONNECT reply");
        got += (size_t)r;
        resp[got] = '\0';
        if (strstr(resp, "\r\n\r\n"))
            break;
    }
    if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0) {
        fprintf(stderr, "proxy_bench: CONNECT refused: %s\n", resp);
        exit(1);
    }
    return fd;
}

/* Send mib MiB on fd, wait for the sink's count; seconds. */
static double transfer(int fd, size_t mib)
{
    static char buf[CHUNK];
    double t0 = now();
    for (size_t i = 0; i < mib; i++) {
        size_t off = 0;
        while (off < sizeof buf) {
            ssize_t w = write(fd, buf + off, sizeof buf - off);
            if (w < 0)
                die("write");
            off += (size_t)w;
        }
    }
    shutdown(fd, SHUT_WR);
    uint64_t total = 0;
    if (read(fd, &total, sizeof total) != sizeof total || total != (uint64_t)mib * CHUNK) {
        fprintf(stderr, "proxy_bench: the sink got %llu bytes, not %zu MiB\n",
                (unsigned long long)total, mib);
        exit(1);
    }
    double t = now() - t0;
    close(fd);
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fprintf(stderr, "usage: proxy_bench PROXYRUN [MIB] [CONNECTS]\n"), 2;
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 100;
    int nconn = argc > 3 ? atoi(argv[3]) : 200;
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 256) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        die("sink");
    uint16_t sink = ntohs(sin.sin_port);
    pthread_t st;
    pthread_create(&st, NULL, sink_main, (void *)(intptr_t)lfd);

    int out[2];
    if (pipe(out) < 0)
        die("pipe");
    char rule[64];
    snprintf(rule, sizeof rule, "127.0.0.1@%u", sink);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(argv[1], argv[1], rule, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char pbuf[16] = {0};
    if (read(out[0], pbuf, sizeof pbuf - 1) <= 0) {
        fprintf(stderr, "proxy_bench: %s printed no port\n", argv[1]);
        return 1;
    }
    uint16_t proxy = (uint16_t)atoi(pbuf);

    double best_direct = 1e9, best_proxy = 1e9;
    for (int round = 0; round < 3; round++) {
        double d = transfer(connect_to(sink), mib);
        double p = transfer(tunnel(proxy, sink), mib);
        if (d < best_direct)
            best_direct = d;
        if (p < best_proxy)
            best_proxy = p;
    }

    double *lat = calloc((size_t)nconn, sizeof *lat), *dlat = calloc((size_t)nconn, sizeof *dlat);
    for (int i = 0; i < nconn; i++) {
        double t0 = now();
        close(connect_to(sink));
        dlat[i] = now() - t0;
        t0 = now();
        close(tunnel(proxy, sink));
        lat[i] = now() - t0;
    }
    qsort(lat, (size_t)nconn, sizeof *lat, cmp);
    qsort(dlat, (size_t)nconn, sizeof *dlat, cmp);

    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);

    double rd = (double)mib / best_direct, rp = (double)mib / best_proxy;
    printf("- %zu MiB direct over loopback: %.0f MiB/s; through the proxy (CONNECT, splice): "
           "%.0f MiB/s; ratio %.2f (target >= 0.80: %s)\n",
           mib, rd, rp, rp / rd, rp / rd >= 0.8 ? "met" : "NOT met");
    printf("- connection setup, median of %d: through the proxy (connect + CONNECT + 200) "
           "%.3f ms; a direct connect %.3f ms\n",
           nconn, lat[nconn / 2] * 1e3, dlat[nconn / 2] * 1e3);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("- the proxy's CPU time for all of it (3 × %zu MiB, %d setups): "
           "%.3f s user, %.3f s system; it stopped on SIGTERM with status %d\n",
           mib, nconn, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    free(lat);
    free(dlat);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
