/*
 * proxy.c: the egress proxy (issue 14; see egress.h and DESIGN.md "Network
 * egress").  One process, one listening socket, one epoll loop:
 *
 *   - the first byte a client sends picks the protocol: 0x05 is SOCKS5
 *     (no authentication, CONNECT only, names resolved here), 0x04 is SOCKS4
 *     (refused), anything else HTTP: "CONNECT host:port" opens a tunnel,
 *     an absolute-URI request ("GET http://host/path") is forwarded in
 *     origin form with "Connection: close", one request per connection;
 *   - the host is matched against the rules before anything is resolved
 *     (egress_match_name); names are resolved by a small pool of threads so
 *     a slow lookup never holds up the loop; every resolved address is
 *     checked again (egress_address_allowed) before it is connected to, and
 *     the addresses are tried in order with non-blocking connects;
 *   - once connected, bytes are moved with splice() through one pipe per
 *     direction (no copy through user space, at most a pipe's worth in
 *     flight each way), half-closes are passed on with shutdown(SHUT_WR);
 *   - each attempt that named a host ends with one JSON line on the audit
 *     descriptor; refusals are also printed on the log descriptor at once.
 *
 * Connections live in a fixed array of max_conns slots (fewer if the
 * descriptor limit, raised to its hard value, cannot hold six per
 * connection); over the cap the listening socket is left alone, so further
 * clients wait in its backlog.  Deadlines, checked once a second: a request
 * head or a relay idle for idle_timeout is closed; resolve + connect taking
 * longer than connect_timeout gets 504 / SOCKS 6; a refused client gets
 * LINGER_MS to read the answer.  The process never exits because of what a
 * client sends: a malformed request gets 400, an oversized head 431, and
 * the connection is closed.  proxy_serve ignores SIGPIPE for the process
 * and takes SIGTERM through a signalfd (its mask is restored on return).
 */
#include "egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "status.h"
#include "util.h"

#define HEAD_MAX (16 * 1024)     /* a request head larger than this gets 431 */
#define LINGER_MS 2000           /* how long a refused client may take to read our answer */
#define RESOLVER_THREADS_MAX 16  /* lookups in flight at once; more wait their turn */
#define RESOLVER_STACK (512 * 1024)


/* Pipe capacity asked for: fewer wake-ups per MiB than the default 64 KiB.
 * Pages are only taken while bytes are in flight; over the user's pipe
 * quota the kernel refuses and the default stays. */
#define PIPE_WANT (256 * 1024)
#define PUMP_ROUNDS 8            /* splice rounds per wake-up, for fairness */

enum state {
    ST_FREE,     /* slot unused */
    ST_DEAD,     /* closed during this round of events; reusable after it */
    ST_HEAD,     /* reading the request */
    ST_RESOLVE,  /* a resolver thread has the name */
    ST_CONNECT,  /* a non-blocking connect is under way */
    ST_RELAY,    /* both ends connected, bytes flowing */
    ST_LINGER,   /* answer sent, waiting for the client to close (or LINGER_MS) */
};

enum proto { P_HTTP, P_CONNECT, P_SOCKS5 };
static const char *const proto_names[] = {"http", "connect", "socks5"};

/* A buffer we must write before anything else in one direction. */
struct outbuf {
    char *p;
    size_t len, off;
};

/* One direction of a relay: src -> pipe -> dst. */
struct dir {
    int pr, pw;          /* the pipe, -1 before the relay */
    size_t inpipe, cap;  /* bytes in the pipe, its capacity */
    struct outbuf pre;   /* written to dst before the pipe's bytes */
    bool count_pre;      /* whether pre is the client's data (counted) or our reply */
    bool eof, shut;      /* src gave EOF; dst was shut down for writing */
    unsigned long long bytes;
};

struct conn {
    enum state st;
    unsigned gen;                 /* bumped on reuse, so a late lookup finds its own */
    int cfd, ufd;
    bool cfd_dead, ufd_dead;      /* deregistered after a hang-up */
    uint32_t cev, uev;            /* the epoll events registered */
    enum proto proto;
    char *head;                   /* ST_HEAD: the request so far */
    size_t hlen;
    int socks_step;               /* 0: greeting, 1: request */
    char host[256];               /* "" until a request named one */
    uint16_t port;
    bool literal;
    const struct egress_rule *rule;
    struct addrinfo *ai, *cur;
    char refusal[512];            /* why the first refused address was refused */
    int last_err;                 /* errno of the last failed connect */
    long long deadline;           /* ms, CLOCK_MONOTONIC; 0 none */
    bool allowed, audited;
    char reason[512];             /* for the audit line, when refused or failed */
    struct dir c2u, u2c;
};

/* The resolver: jobs in, results out, an eventfd to wake the loop. */
struct job {
    unsigned slot, gen;
    char host[256];
    char port[8];
    struct addrinfo *res;
    int err, sys_errno; /* getaddrinfo's result; errno for EAI_SYSTEM */
    struct job *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *todo, *todo_tail, *done;
    unsigned threads, idle;
    int efd;
    bool stop;
} rs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .efd = -1};

struct proxy {
    const struct proxy_config *cfg;
    int ep, sfd;
    struct conn *slots;
    unsigned nslots, live;
    bool listening;          /* EPOLLIN registered on the listening socket */
    bool accept_paused;      /* EMFILE: try again on the next tick */
    unsigned idle_timeout, connect_timeout;
};

/* epoll data: slot << 2 | which.  Which 0: client, 1: upstream; the
 * listening socket, the signalfd and the eventfd are tags of their own. */
#define TAG_LISTEN ((uint64_t)-1)
#define TAG_SIGNAL ((uint64_t)-2)
#define TAG_RESOLVER ((uint64_t)-3)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the resolver pool ---- */

static void *resolver_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rs.mu);
    for (;;) {
        while (!rs.todo && !rs.stop)
            pthread_cond_wait(&rs.cv, &rs.mu);
        if (rs.stop)
            break;
        struct job *j = rs.todo;
        rs.todo = j->next;
        if (!rs.todo)
            rs.todo_tail = NULL;
        rs.idle--;
        pthread_mutex_unlock(&rs.mu);

        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_protocol = IPPROTO_TCP, .ai_flags = AI_NUMERICSERV};
        j->err = getaddrinfo(j->host, j->port, &hints, &j->res);
        j->sys_errno = j->err == EAI_SYSTEM ? errno : 0;

        pthread_mutex_lock(&rs.mu);
        rs.idle++;
        if (rs.stop) {
            /* the loop is gone and so may be the eventfd's number */
            if (j->res)
                freeaddrinfo(j->res);
            free(j);
            break;
        }
        j->next = rs.done;
        rs.done = j;
        uint64_t one = 1;
        if (write(rs.efd, &one, sizeof one) < 0) {
            /* the counter cannot overflow in practice; the next job wakes the loop */
        }
    }
    rs.threads--;
    pthread_mutex_unlock(&rs.mu);
    return NULL;
}

/* Queue a lookup; start a thread when none is idle and the cap allows. */
static bool resolver_submit(struct job *j)
{
    pthread_mutex_lock(&rs.mu);
    j->next = NULL;
    if (rs.todo_tail)
        rs.todo_tail->next = j;
    else
        rs.todo = j;
    rs.todo_tail = j;
    bool ok = true;
    if (rs.idle == 0 && rs.threads < RESOLVER_THREADS_MAX) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, RESOLVER_STACK);
        if (pthread_create(&t, &attr, resolver_main, NULL) == 0) {
            rs.threads++;
            rs.idle++;
        } else if (rs.threads == 0) {
            ok = false; /* nobody will ever take the job */
            rs.todo = rs.todo_tail = NULL;
        }
        pthread_attr_destroy(&attr);
    }
    pthread_cond_signal(&rs.cv);
    pthread_mutex_unlock(&rs.mu);
    return ok;
}

/* ---- epoll bookkeeping ---- */

static void watch(struct proxy *px, struct conn *c, int which, uint32_t ev)
{
    int fd = which ? c->ufd : c->cfd;
    uint32_t *cur = which ? &c->uev : &c->cev;
    bool dead = which ? c->ufd_dead : c->cfd_dead;
    if (fd < 0 || dead || *cur == ev)
        return;
    struct epoll_event e = {.events = ev, .data.u64 = (uint64_t)(c - px->slots) << 2 | (unsigned)which};
    epoll_ctl(px->ep, EPOLL_CTL_MOD, fd, &e);
    *cur = ev;
}

static bool add_fd(struct proxy *px, struct conn *c, int which)
{
    int fd = which ? c->ufd : c->cfd;
    struct epoll_event e = {.events = 0, .data.u64 = (uint64_t)(c - px->slots) << 2 | (unsigned)which};
    if (epoll_ctl(px->ep, EPOLL_CTL_ADD, fd, &e) < 0)
        return false;
    *(which ? &c->uev : &c->cev) = 0;
    return true;
}

static void set_listening(struct proxy *px, bool on)
{
    if (px->listening == on)
        return;
    struct epoll_event e = {.events = on ? EPOLLIN : 0, .data.u64 = TAG_LISTEN};
    epoll_ctl(px->ep, EPOLL_CTL_MOD, px->cfg->listen_fd, &e);
    px->listening = on;
}

/* ---- output: audit lines, log lines, replies ---- */


/* The attempt's JSON line, once, when it ends; nothing for a connection
 * that never named a host. */
static void audit(struct proxy *px, struct conn *c)
{
    if (c->audited || !c->host[0] || px->cfg->audit_fd < 0)
        return;
    c->audited = true;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    fputs("{\"host\":", f);
    json_write_str(f, c->host);
    fprintf(f, ",\"port\":%u,\"allowed\":%s,\"rule\":", c->port, c->allowed ? "true" : "false");
    if (c->rule) {
        char *r = NULL;
        if (asprintf(&r, "%s (%s)", c->rule->pattern, c->rule->origin) >= 0) {
            json_write_str(f, r);
            free(r);
        }
    } else {
        fputs("null", f);
    }
    if (c->reason[0]) {
        fputs(",\"reason\":", f);
        json_write_str(f, c->reason);
    }
    fprintf(f, ",\"bytes_out\":%llu,\"bytes_in\":%llu,\"protocol\":\"%s\"}\n", c->c2u.bytes,
            c->u2c.bytes, proto_names[c->proto]);
    if (fclose(f) == 0)
        write_all(px->cfg->audit_fd, buf, len);
    free(buf);
}

static void outbuf_add(struct outbuf *b, const void *p, size_t n)
{
    char *np = realloc(b->p, b->len + n);
    if (!np)
        return; /* the reply is lost; the connection still ends */
    memcpy(np + b->len, p, n);
    b->p = np;
    b->len += n;
}

static void outbuf_free(struct outbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->off = 0;
}

/* Write what the client is owed; false on an error. */
static bool flush_client(struct conn *c)
{
    struct outbuf *b = &c->u2c.pre;
    while (b->off < b->len) {
        ssize_t w = send(c->cfd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN;
        b->off += (size_t)w;
    }
    return true;
}

/* ---- ending a connection ---- */

static void close_fd(struct proxy *px, int *fd)
{
    if (*fd >= 0) {
        epoll_ctl(px->ep, EPOLL_CTL_DEL, *fd, NULL);
        close(*fd);
        *fd = -1;
    }
}

static void dir_free(struct proxy *px, struct dir *d)
{
    close_fd(px, &d->pr);
    close_fd(px, &d->pw);
    outbuf_free(&d->pre);
}

static void conn_end(struct proxy *px, struct conn *c)
{
    audit(px, c);
    close_fd(px, &c->cfd);
    close_fd(px, &c->ufd);
    dir_free(px, &c->c2u);
    dir_free(px, &c->u2c);
    free(c->head);
    c->head = NULL;
    if (c->ai)
        freeaddrinfo(c->ai);
    c->ai = c->cur = NULL;
    c->st = ST_DEAD;
    px->live--;
}

/*
 * Send the client a final answer (our own bytes: not counted), then wait
 * for it to close so unread request bytes do not turn our answer into a
 * reset.
 */
static void answer_and_linger(struct proxy *px, struct conn *c, const void *p, size_t n)
{
    close_fd(px, &c->ufd);
    outbuf_add(&c->u2c.pre, p, n);
    if (!flush_client(c)) {
        conn_end(px, c);
        return;
    }
    c->st = ST_LINGER;
    c->deadline = now_ms() + LINGER_MS;
    if (c->u2c.pre.off == c->u2c.pre.len)
        shutdown(c->cfd, SHUT_WR);
    watch(px, c, 0, c->u2c.pre.off < c->u2c.pre.len ? EPOLLOUT : EPOLLIN);
}

static void http_answer(struct proxy *px, struct conn *c, int code, const char *status,
                        const char *body)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                     code, status, strlen(body) + 1, body);
    answer_and_linger(px, c, buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : 0);
}

/* A SOCKS5 reply that ends the attempt (bound address 0.0.0.0:0). */
static void socks_answer(struct proxy *px, struct conn *c, unsigned char rep)
{
    unsigned char r[10] = {5, rep, 0, 1, 0, 0, 0, 0, 0, 0};
    answer_and_linger(px, c, r, sizeof r);
}

/* A request that named a host was refused by the rules: 403 / SOCKS 2. */
static void refuse(struct proxy *px, struct conn *c, const char *why)
{
    c->allowed = false;
    snprintf(c->reason, sizeof c->reason, "%s", why);
    if (px->cfg->log_fd >= 0) {
        char line[900];
        int n = snprintf(line, sizeof line, "sandlot: egress refused: %s:%u (%s)\n", c->host,
                         c->port, why);
        if (n > 0)
            write_all(px->cfg->log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (c->proto == P_SOCKS5) {
        socks_answer(px, c, 2);
    } else {
        char body[900];
        snprintf(body, sizeof body, "sandlot: egress to %s:%u refused: %s", c->host, c->port, why);
        http_answer(px, c, 403, "Forbidden", body);
    }
}

/* The rules allowed it but it could not be reached: 502/504, SOCKS 1/3/4/5/6. */
static void fail_upstream(struct proxy *px, struct conn *c, int http_code, unsigned char socks_rep,
                          const char *why)
{
    snprintf(c->reason, sizeof c->reason, "%s", why);
    if (c->proto == P_SOCKS5) {
        socks_answer(px, c, socks_rep);
    } else {
        char body[900];
        snprintf(body, sizeof body, "sandlot: egress to %s:%u failed: %s", c->host, c->port, why);
        http_answer(px, c, http_code, http_code == 504 ? "Gateway Timeout" : "Bad Gateway", body);
    }
}

/* Malformed: 400 (or 431) without an audit line: no host was named. */
static void bad_request(struct proxy *px, struct conn *c, int code, const char *why)
{
    char body[600];
    snprintf(body, sizeof body, "sandlot: egress proxy: %s", why);
    http_answer(px, c, code, code == 431 ? "Request Header Fields Too Large" : "Bad Request", body);
}

/* ---- connecting ---- */

static unsigned char socks_code(int err)
{
    switch (err) {
    case ECONNREFUSED: return 5;
    case ENETUNREACH: return 3;
    case EHOSTUNREACH: return 4;
    case ETIMEDOUT: return 6;
    default: return 1;
    }
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                             : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)n))
        snprintf(out, n, "?");
}

static void start_relay(struct proxy *px, struct conn *c);

/*
 * Try the next resolved address: each must pass the address check; the
 * first refusal's reason is kept for the answer when none is left.
 */
static void connect_next(struct proxy *px, struct conn *c)
{
    close_fd(px, &c->ufd);
    for (; c->cur; c->cur = c->cur->ai_next) {
        const struct sockaddr *sa = c->cur->ai_addr;
        if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
            continue;
        if (!egress_address_allowed(px->cfg->rules, c->rule, sa, c->port)) {
            if (!c->refusal[0]) {
                char t[INET6_ADDRSTRLEN];
                const char *cls = egress_address_class(sa);
                addr_text(sa, t, sizeof t);
                if (c->literal || !cls)
                    snprintf(c->refusal, sizeof c->refusal,
                             "no allow_host rule matches %s:%u", c->host, c->port);
                else
                    snprintf(c->refusal, sizeof c->refusal,
                             "%s resolves to %s, %s; allow it explicitly with allow_host(\"%s\", "
                             "{%u})", c->host, t, cls, t, c->port);
            }
            continue;
        }
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            c->last_err = errno;
            continue;
        }
        c->allowed = true;
        if (connect(fd, sa, c->cur->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->ufd = fd;
            c->ufd_dead = false;
            if (!add_fd(px, c, 1)) {
                c->last_err = errno;
                close(fd);
                c->ufd = -1;
                continue;
            }
            c->cur = c->cur->ai_next;
            c->st = ST_CONNECT;
            watch(px, c, 1, EPOLLOUT);
            return;
        }
        c->last_err = errno;
        close(fd);
    }
    if (!c->allowed) {
        refuse(px, c, c->refusal[0] ? c->refusal : "no address to connect to");
        return;
    }
    char why[300];
    snprintf(why, sizeof why, "cannot connect: %s", strerror(c->last_err ? c->last_err : EHOSTUNREACH));
    fail_upstream(px, c, 502, socks_code(c->last_err), why);
}

static void on_connect_ready(struct proxy *px, struct conn *c)
{
    int err = 0;
    socklen_t l = sizeof err;
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err == 0 && getpeername(c->ufd, (struct sockaddr *)&peer, &pl) < 0) {
        if (errno == ENOTCONN)
            return; /* not yet (a stale event) */
        err = errno;
    }
    if (err) {
        c->last_err = err;
        connect_next(px, c);
        return;
    }
    start_relay(px, c);
}

/* The host is named: match it, then resolve (a thread) or connect (a literal). */
static void begin_attempt(struct proxy *px, struct conn *c)
{
    free(c->head);
    c->head = NULL;
    c->rule = egress_match_name(px->cfg->rules, c->host, c->port);
    if (!c->rule) {
        char why[400];
        snprintf(why, sizeof why, "no allow_host rule matches %s:%u", c->host, c->port);
        refuse(px, c, why);
        return;
    }
    c->deadline = now_ms() + (long long)px->connect_timeout * 1000;
    watch(px, c, 0, 0);
    char port[8];
    snprintf(port, sizeof port, "%u", c->port);
    if (c->literal) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_protocol = IPPROTO_TCP,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
        if (getaddrinfo(c->host, port, &hints, &c->ai) != 0) {
            fail_upstream(px, c, 502, 4, "not an address");
            return;
        }
        c->cur = c->ai;
        connect_next(px, c);
        return;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        fail_upstream(px, c, 502, 1, "out of memory");
        return;
    }
    j->slot = (unsigned)(c - px->slots);
    j->gen = c->gen;
    snprintf(j->host, sizeof j->host, "%s", c->host);
    snprintf(j->port, sizeof j->port, "%s", port);
    c->st = ST_RESOLVE;
    if (!resolver_submit(j)) {
        free(j);
        fail_upstream(px, c, 502, 1, "cannot start a resolver thread");
    }
}

static void on_resolved(struct proxy *px)
{
    uint64_t n;
    if (read(rs.efd, &n, sizeof n) < 0) {
        /* EAGAIN: another wake-up already took the count */
    }
    pthread_mutex_lock(&rs.mu);
    struct job *j = rs.done;
    rs.done = NULL;
    pthread_mutex_unlock(&rs.mu);
    while (j) {
        struct job *next = j->next;
        struct conn *c = j->slot < px->nslots ? &px->slots[j->slot] : NULL;
        if (!c || c->gen != j->gen || c->st != ST_RESOLVE) {
            if (j->res)
                freeaddrinfo(j->res);
        } else if (j->err) {
            char why[400];
            snprintf(why, sizeof why, "cannot resolve %s: %s", c->host,
                     j->sys_errno ? strerror(j->sys_errno) : gai_strerror(j->err));
            fail_upstream(px, c, 502, 4, why);
        } else {
            c->ai = c->cur = j->res;
            connect_next(px, c);
        }
        free(j);
        j = next;
    }
}

/* ---- parsing requests ---- */

/* A host as a client may name it: printable ASCII, no space, 1..255 bytes.
 * Brackets around an IPv6 literal are dropped. */
static bool set_host(struct conn *c, const char *h, size_t n)
{
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
        struct in6_addr a;
        char t[64];
        if (n >= sizeof t)
            return false;
        memcpy(t, h, n);
        t[n] = '\0';
        if (inet_pton(AF_INET6, t, &a) != 1)
            return false;
    }
    if (n == 0 || n >= sizeof c->host)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
            return false;
    memcpy(c->host, h, n);
    c->host[n] = '\0';
    unsigned char a[16];
    c->literal = inet_pton(AF_INET, c->host, a) == 1 || inet_pton(AF_INET6, c->host, a) == 1;
    return true;
}

static bool parse_port(const char *p, size_t n, uint16_t *out)
{
    unsigned v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* "host:port", "[v6]:port"; without a port, def (0: a port is required). */
static bool parse_authority(struct conn *c, const char *a, size_t n, uint16_t def)
{
    size_t hostlen = n;
    const char *colon = NULL;
    if (n > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return false;
        hostlen = (size_t)(rb - a) + 1;
        if (hostlen < n) {
            if (a[hostlen] != ':')
                return false;
            colon = a + hostlen;
        }
    } else {
        colon = memchr(a, ':', n);
        if (colon)
            hostlen = (size_t)(colon - a);
        if (colon && memchr(colon + 1, ':', n - hostlen - 1))
            return false; /* an IPv6 literal must be in brackets */
    }
    if (colon) {
        if (!parse_port(colon + 1, n - hostlen - 1, &c->port))
            return false;
    } else if (def) {
        c->port = def;
    } else {
        return false;
    }
    return set_host(c, a, hostlen);
}

static bool token_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", ch);
}

/* Whether the header line [p, p+n) is named name (case-insensitive). */
static bool header_is(const char *p, size_t n, const char *name)
{
    size_t l = strlen(name);
    return n > l && p[l] == ':' && strncasecmp(p, name, l) == 0;
}

/*
 * An HTTP request head is complete in c->head[0..end): CONNECT opens a
 * tunnel; an absolute-URI request is rewritten to origin form (Host from
 * the URI, hop-by-hop headers dropped, "Connection: close") and queued for
 * the origin with whatever body bytes followed the head.
 */
static void http_request(struct proxy *px, struct conn *c, size_t end)
{
    char *h = c->head;
    char *eol = memchr(h, '\n', end);
    size_t linelen = (size_t)(eol - h);
    if (linelen > 0 && h[linelen - 1] == '\r')
        linelen--;
    char *sp1 = memchr(h, ' ', linelen);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', linelen - (size_t)(sp1 + 1 - h)) : NULL;
    if (!sp1 || !sp2 || sp1 == h || sp2 == sp1 + 1) {
        bad_request(px, c, 400, "malformed request line");
        return;
    }
    for (char *m = h; m < sp1; m++)
        if (!token_char((unsigned char)*m)) {
            bad_request(px, c, 400, "malformed request method");
            return;
        }
    const char *ver = sp2 + 1;
    size_t verlen = linelen - (size_t)(ver - h);
    if (verlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1')) {
        bad_request(px, c, 400, "not an HTTP/1.x request");
        return;
    }
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    size_t mlen = (size_t)(sp1 - h);

    if (mlen == 7 && memcmp(h, "CONNECT", 7) == 0) {
        c->proto = P_CONNECT;
        if (!parse_authority(c, target, tlen, 0)) {
            c->host[0] = '\0';
            bad_request(px, c, 400, "CONNECT needs host:port");
            return;
        }
        /* bytes the client sent after the head go to the origin first */
        outbuf_add(&c->c2u.pre, h + end, c->hlen - end);
        c->c2u.count_pre = true;
        begin_attempt(px, c);
        return;
    }

    c->proto = P_HTTP;
    if (tlen < 7 || strncasecmp(target, "http://", 7) != 0) {
        bad_request(px, c, 400,
                    tlen >= 8 && strncasecmp(target, "https://", 8) == 0
                        ? "https:// URLs go through CONNECT (set HTTPS_PROXY)"
                        : "this is the egress proxy: send CONNECT host:port or an absolute "
                          "http:// URL");
        return;
    }
    const char *auth = target + 7;
    size_t rest = tlen - 7, alen = 0;
    while (alen < rest && !strchr("/?#", auth[alen]))
        alen++;
    if (memchr(auth, '@', alen) || !parse_authority(c, auth, alen, 80)) {
        c->host[0] = '\0';
        bad_request(px, c, 400, "malformed URL authority");
        return;
    }
    const char *path = auth + alen;
    size_t plen = rest - alen;

    struct outbuf *o = &c->c2u.pre;
    outbuf_add(o, h, mlen + 1);
    if (plen == 0 || path[0] != '/')
        outbuf_add(o, "/", 1);
    outbuf_add(o, path, plen);
    outbuf_add(o, " ", 1);
    outbuf_add(o, ver, verlen);
    outbuf_add(o, "\r\nHost: ", 8);
    outbuf_add(o, auth, alen);
    outbuf_add(o, "\r\n", 2);
    /* the header lines, one by one, up to the empty line */
    const char *p = eol + 1, *stop = h + end;
    while (p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        size_t n = (size_t)(nl - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        if (p[0] == ' ' || p[0] == '\t' || !memchr(p, ':', n)) {
            outbuf_free(o);
            c->host[0] = '\0';
            bad_request(px, c, 400, "malformed header line");
            return;
        }
        if (!header_is(p, n, "host") && !header_is(p, n, "connection") &&
            !header_is(p, n, "proxy-connection") && !header_is(p, n, "keep-alive") &&
            !header_is(p, n, "proxy-authorization") && !header_is(p, n, "te") &&
            !header_is(p, n, "upgrade")) {
            outbuf_add(o, p, n);
            outbuf_add(o, "\r\n", 2);
        }
        p = nl + 1;
    }
    outbuf_add(o, "Connection: close\r\n\r\n", 21);
    outbuf_add(o, h + end, c->hlen - end);
    c->c2u.count_pre = true;
    begin_attempt(px, c);
}

/* The end of an HTTP head (after "\r\n\r\n" or "\n\n"), or 0. */
static size_t head_end(const char *h, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (h[i] != '\n')
            continue;
        if (h[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && h[i + 1] == '\r' && h[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->head, c->head + n, c->hlen - n);
    c->hlen -= n;
}

/* SOCKS5: greeting, then the CONNECT request.  Returns when more bytes are needed. */
static void socks_step(struct proxy *px, struct conn *c)
{
    unsigned char *h = (unsigned char *)c->head;
    if (c->socks_step == 0) {
        if (c->hlen < 2 || c->hlen < 2u + h[1])
            return;
        bool noauth = memchr(h + 2, 0, h[1]) != NULL;
        if (!noauth) {
            unsigned char r[2] = {5, 0xff};
            answer_and_linger(px, c, r, 2);
            return;
        }
        unsigned char r[2] = {5, 0};
        outbuf_add(&c->u2c.pre, r, 2);
        if (!flush_client(c)) {
            conn_end(px, c);
            return;
        }
        consume(c, 2u + h[1]);
        c->socks_step = 1;
    }
    if (c->hlen < 5)
        return;
    if (h[0] != 5) {
        conn_end(px, c);
        return;
    }
    size_t need;
    switch (h[3]) {
    case 1: need = 4 + 4 + 2; break;
    case 3: need = 4 + 1 + (size_t)h[4] + 2; break;
    case 4: need = 4 + 16 + 2; break;
    default:
        socks_answer(px, c, 8);
        return;
    }
    if (h[1] != 1) {
        socks_answer(px, c, 7);
        return;
    }
    if (c->hlen < need)
        return;
    uint16_t port = (uint16_t)(h[need - 2] << 8 | h[need - 1]);
    bool ok;
    if (h[3] == 3) {
        ok = set_host(c, (const char *)h + 5, h[4]);
    } else {
        char t[INET6_ADDRSTRLEN];
        inet_ntop(h[3] == 1 ? AF_INET : AF_INET6, h + 4, t, sizeof t);
        ok = set_host(c, t, strlen(t));
    }
    if (!ok || port == 0) {
        c->host[0] = '\0';
        socks_answer(px, c, 2);
        return;
    }
    c->port = port;
    /* the success reply is sent when the upstream connects, after whatever
     * of the greeting's reply is still unsent; early bytes go upstream */
    outbuf_add(&c->c2u.pre, c->head + need, c->hlen - need);
    c->c2u.count_pre = true;
    begin_attempt(px, c);
}

static void on_head(struct proxy *px, struct conn *c)
{
    if (c->u2c.pre.off < c->u2c.pre.len && !flush_client(c)) {
        conn_end(px, c);
        return;
    }
    ssize_t r = recv(c->cfd, c->head + c->hlen, HEAD_MAX - c->hlen, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_end(px, c);
        return;
    }
    if (r < 0)
        return;
    c->hlen += (size_t)r;
    c->deadline = now_ms() + (long long)px->idle_timeout * 1000;
    unsigned char first = (unsigned char)c->head[0];
    if (first == 5) {
        c->proto = P_SOCKS5;
        socks_step(px, c);
        return;
    }
    if (first == 4) {
        static const unsigned char rej[8] = {0, 0x5b};
        answer_and_linger(px, c, rej, sizeof rej);
        return;
    }
    size_t end = head_end(c->head, c->hlen);
    if (end) {
        http_request(px, c, end);
        return;
    }
    if (c->hlen == HEAD_MAX)
        bad_request(px, c, 431, "request head larger than 16 KiB");
}

/* ---- relaying ---- */

static bool make_pipe(struct dir *d)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        return false;
    d->pr = p[0];
    d->pw = p[1];
    fcntl(p[1], F_SETPIPE_SZ, PIPE_WANT);
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    d->cap = cap > 0 ? (size_t)cap : 4096;
    return true;
}

static void on_relay(struct proxy *px, struct conn *c, int which, uint32_t ev);

static void start_relay(struct proxy *px, struct conn *c)
{
    if (c->ai)
        freeaddrinfo(c->ai);
    c->ai = c->cur = NULL;
    int one = 1;
    setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!make_pipe(&c->c2u) || !make_pipe(&c->u2c)) {
        fail_upstream(px, c, 502, 1, "out of file descriptors");
        return;
    }
    if (c->proto == P_CONNECT) {
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        outbuf_add(&c->u2c.pre, ok, sizeof ok - 1);
    } else if (c->proto == P_SOCKS5) {
        unsigned char r[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
        outbuf_add(&c->u2c.pre, r, sizeof r);
    }
    c->u2c.count_pre = false;
    c->st = ST_RELAY;
    c->deadline = now_ms() + (long long)px->idle_timeout * 1000;
    on_relay(px, c, 1, 0);
}

/* Move what can be moved in one direction; false on an error. */
static bool pump(struct dir *d, int src, int dst, bool *moved)
{
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        bool progress = false;
        if (!d->eof && d->inpipe < d->cap && src >= 0) {
            ssize_t n = splice(src, NULL, d->pw, NULL, d->cap - d->inpipe,
                               SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                d->inpipe += (size_t)n;
                progress = true;
            } else if (n == 0) {
                d->eof = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return false;
            }
        }
        if (d->pre.off < d->pre.len && !d->shut) {
            ssize_t n = send(dst, d->pre.p + d->pre.off, d->pre.len - d->pre.off, MSG_NOSIGNAL);
            if (n > 0) {
                d->pre.off += (size_t)n;
                if (d->count_pre)
                    d->bytes += (unsigned long long)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return false;
            }
        }
        if (d->pre.off == d->pre.len && d->inpipe > 0 && !d->shut) {
            ssize_t n = splice(d->pr, NULL, dst, NULL, d->inpipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                d->inpipe -= (size_t)n;
                d->bytes += (unsigned long long)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return false;
            }
        }
        if (d->eof && d->inpipe == 0 && d->pre.off == d->pre.len && !d->shut) {
            shutdown(dst, SHUT_WR);
            d->shut = true;
        }
        if (!progress)
            break;
        *moved = true;
    }
    return true;
}

static uint32_t relay_events(const struct dir *in, const struct dir *out)
{
    uint32_t ev = 0;
    if (!in->eof && in->inpipe < in->cap)
        ev |= EPOLLIN;
    if (!out->shut && (out->pre.off < out->pre.len || out->inpipe > 0))
        ev |= EPOLLOUT;
    return ev;
}

/* A direction towards a hung-up end can deliver nothing more. */
static void drop_dir(struct dir *d)
{
    d->eof = d->shut = true;
    d->inpipe = 0;
    d->pre.off = d->pre.len;
}

static void on_relay(struct proxy *px, struct conn *c, int which, uint32_t ev)
{
    bool moved = false;
    if (!pump(&c->c2u, c->cfd_dead ? -1 : c->cfd, c->ufd, &moved) ||
        !pump(&c->u2c, c->ufd_dead ? -1 : c->ufd, c->cfd, &moved)) {
        conn_end(px, c);
        return;
    }
    if (ev & (EPOLLHUP | EPOLLERR)) {
        /* that end is gone both ways: read what it left, deliver nothing to it */
        struct dir *from = which ? &c->u2c : &c->c2u, *to = which ? &c->c2u : &c->u2c;
        from->eof = true;
        drop_dir(to);
        epoll_ctl(px->ep, EPOLL_CTL_DEL, which ? c->ufd : c->cfd, NULL);
        *(which ? &c->ufd_dead : &c->cfd_dead) = true;
        if (!pump(from, -1, which ? c->cfd : c->ufd, &moved)) {
            conn_end(px, c);
            return;
        }
    }
    if (moved)
        c->deadline = now_ms() + (long long)px->idle_timeout * 1000;
    if (c->c2u.shut && c->u2c.shut) {
        conn_end(px, c);
        return;
    }
    watch(px, c, 0, relay_events(&c->c2u, &c->u2c));
    watch(px, c, 1, relay_events(&c->u2c, &c->c2u));
}

static void on_linger(struct proxy *px, struct conn *c)
{
    if (c->u2c.pre.off < c->u2c.pre.len) {
        if (!flush_client(c)) {
            conn_end(px, c);
            return;
        }
        if (c->u2c.pre.off < c->u2c.pre.len)
            return;
        shutdown(c->cfd, SHUT_WR);
        watch(px, c, 0, EPOLLIN);
        return;
    }
    char sink[4096];
    ssize_t r = recv(c->cfd, sink, sizeof sink, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        conn_end(px, c);
}

/* ---- the loop ---- */

static void on_event(struct proxy *px, uint64_t tag, uint32_t ev)
{
    unsigned slot = (unsigned)(tag >> 2), which = (unsigned)(tag & 3);
    if (slot >= px->nslots)
        return;
    struct conn *c = &px->slots[slot];
    switch (c->st) {
    case ST_HEAD:
        if (ev & (EPOLLERR | EPOLLHUP) && !(ev & EPOLLIN))
            conn_end(px, c);
        else
            on_head(px, c);
        break;
    case ST_RESOLVE:
        if (ev & (EPOLLERR | EPOLLHUP)) {
            snprintf(c->reason, sizeof c->reason, "the client went away");
            conn_end(px, c);
        }
        break;
    case ST_CONNECT:
        if (which == 1) {
            on_connect_ready(px, c);
        } else if (ev & (EPOLLERR | EPOLLHUP)) {
            snprintf(c->reason, sizeof c->reason, "the client went away");
            conn_end(px, c);
        }
        break;
    case ST_RELAY:
        on_relay(px, c, (int)which, ev);
        break;
    case ST_LINGER:
        if (ev & (EPOLLERR | EPOLLHUP) && !(ev & EPOLLIN))
            conn_end(px, c);
        else
            on_linger(px, c);
        break;
    case ST_FREE:
    case ST_DEAD:
        break;
    }
}

static void on_accept(struct proxy *px)
{
    for (int i = 0; i < 64; i++) {
        struct conn *c = NULL;
        for (unsigned s = 0; s < px->nslots; s++)
            if (px->slots[s].st == ST_FREE) {
                c = &px->slots[s];
                break;
            }
        if (!c) {
            set_listening(px, false); /* the cap: the rest wait in the backlog */
            return;
        }
        int fd = accept4(px->cfg->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                set_listening(px, false);
                px->accept_paused = true;
            }
            return;
        }
        unsigned gen = c->gen + 1;
        memset(c, 0, sizeof *c);
        c->gen = gen;
        c->cfd = fd;
        c->ufd = c->c2u.pr = c->c2u.pw = c->u2c.pr = c->u2c.pw = -1;
        c->head = malloc(HEAD_MAX);
        if (!c->head || !add_fd(px, c, 0)) {
            free(c->head);
            c->head = NULL;
            close(fd);
            c->cfd = -1;
            continue;
        }
        c->st = ST_HEAD;
        c->deadline = now_ms() + (long long)px->idle_timeout * 1000;
        px->live++;
        watch(px, c, 0, EPOLLIN);
    }
}

/* Once a second: deadlines (idle, connect, linger) and a paused accept. */
static void on_tick(struct proxy *px)
{
    long long now = now_ms();
    for (unsigned s = 0; s < px->nslots; s++) {
        struct conn *c = &px->slots[s];
        if (c->st <= ST_DEAD || !c->deadline || now < c->deadline)
            continue;
        char why[100];
        switch (c->st) {
        case ST_RESOLVE:
        case ST_CONNECT:
            snprintf(why, sizeof why, "no connection within %u s", px->connect_timeout);
            fail_upstream(px, c, 504, 6, why);
            break;
        case ST_RELAY:
            snprintf(c->reason, sizeof c->reason, "idle for %u s", px->idle_timeout);
            conn_end(px, c);
            break;
        default:
            conn_end(px, c);
            break;
        }
    }
    if (px->accept_paused) {
        px->accept_paused = false;
        set_listening(px, true);
    }
}

/*
 * Raise the descriptor limit to its hard value and return how many
 * connections fit in it: each holds up to six (two sockets, two pipes),
 * plus a few for the loop itself.
 */
static unsigned conns_that_fit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return want;
    rlim_t fit = rl.rlim_cur > 32 ? (rl.rlim_cur - 32) / 6 : 1;
    return fit < want ? (unsigned)(fit ? fit : 1) : want;
}

int proxy_serve(const struct proxy_config *cfg)
{
    struct proxy px = {.cfg = cfg, .ep = -1, .sfd = -1};
    px.nslots = cfg->max_conns ? cfg->max_conns : 256;
    px.idle_timeout = cfg->idle_timeout ? cfg->idle_timeout : 300;
    px.connect_timeout = cfg->connect_timeout ? cfg->connect_timeout : 30;
    int status = 1;

    signal(SIGPIPE, SIG_IGN);
    sigset_t term, old_mask;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    /* blocked before any thread exists, so only the signalfd sees it */
    pthread_sigmask(SIG_BLOCK, &term, &old_mask);
    px.nslots = conns_that_fit(px.nslots);

    px.slots = calloc(px.nslots, sizeof *px.slots);
    px.ep = epoll_create1(EPOLL_CLOEXEC);
    px.sfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
    rs.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!px.slots || px.ep < 0 || px.sfd < 0 || rs.efd < 0)
        goto out;
    int fl = fcntl(cfg->listen_fd, F_GETFL);
    if (fl < 0 || fcntl(cfg->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto out;
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    if (epoll_ctl(px.ep, EPOLL_CTL_ADD, cfg->listen_fd, &e) < 0)
        goto out;
    px.listening = true;
    e.data.u64 = TAG_SIGNAL;
    if (epoll_ctl(px.ep, EPOLL_CTL_ADD, px.sfd, &e) < 0)
        goto out;
    e.data.u64 = TAG_RESOLVER;
    if (epoll_ctl(px.ep, EPOLL_CTL_ADD, rs.efd, &e) < 0)
        goto out;

    pthread_mutex_lock(&rs.mu);
    rs.stop = false;
    pthread_mutex_unlock(&rs.mu);
    struct epoll_event evs[64];
    long long next_tick = now_ms() + 1000;
    for (;;) {
        long long now = now_ms();
        int wait = next_tick > now ? (int)(next_tick - now) : 0;
        int n = epoll_wait(px.ep, evs, 64, wait);
        if (n < 0 && errno != EINTR)
            goto out;
        bool stop = false, listen_ready = false;
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_SIGNAL)
                stop = true;
            else if (tag == TAG_LISTEN)
                listen_ready = true;
            else if (tag == TAG_RESOLVER)
                on_resolved(&px);
            else
                on_event(&px, tag, evs[i].events);
            if (tag == TAG_LISTEN && evs[i].events & (EPOLLERR | EPOLLHUP))
                goto out; /* the listening socket failed */
        }
        if (stop) {
            /* take the signal, or unblocking it on return would deliver it */
            struct signalfd_siginfo si;
            while (read(px.sfd, &si, sizeof si) == sizeof si)
                ;
            status = 0;
            goto out;
        }
        if (now_ms() >= next_tick) {
            on_tick(&px);
            next_tick = now_ms() + 1000;
        }
        /* slots closed in this round are reusable only now */
        bool freed = false;
        for (unsigned s = 0; s < px.nslots; s++)
            if (px.slots[s].st == ST_DEAD) {
                px.slots[s].st = ST_FREE;
                freed = true;
            }
        if (freed && !px.accept_paused)
            set_listening(&px, true);
        if (listen_ready)
            on_accept(&px);
    }

out:
    for (unsigned s = 0; px.slots && s < px.nslots; s++)
        if (px.slots[s].st > ST_DEAD) {
            if (!px.slots[s].reason[0] && px.slots[s].st != ST_RELAY)
                snprintf(px.slots[s].reason, sizeof px.slots[s].reason, "the sandbox ended");
            conn_end(&px, &px.slots[s]);
        }
    pthread_mutex_lock(&rs.mu);
    rs.stop = true;
    pthread_cond_broadcast(&rs.cv);
    for (struct job *j = rs.done, *next; j; j = next) {
        next = j->next;
        if (j->res)
            freeaddrinfo(j->res);
        free(j);
    }
    for (struct job *j = rs.todo, *next; j; j = next) {
        next = j->next;
        free(j);
    }
    rs.done = rs.todo = rs.todo_tail = NULL;
    if (rs.efd >= 0)
        close(rs.efd);
    rs.efd = -1;
    pthread_mutex_unlock(&rs.mu);
    if (px.sfd >= 0)
        close(px.sfd);
    if (px.ep >= 0)
        close(px.ep);
    free(px.slots);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return status;
}
