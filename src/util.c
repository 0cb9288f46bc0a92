/* util.c: error reporting and checked allocation, see util.h. */
#include "util.h"
#include "policy.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int g_verbosity = 1;
void (*die_hook)(const char *msg, void *arg);
void *die_hook_arg;

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    /* One line, built first so concurrent writers do not interleave. */
    char line[4096];
    int n = snprintf(line, sizeof line, "sandlot: %s", prefix);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", line);
}

void die(const char *fmt, ...)
{
    va_list ap;
    char msg[2048];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandlot: %s\n", msg);
    if (die_hook) {
        void (*hook)(const char *, void *) = die_hook;
        die_hook = NULL; /* once, even if the hook itself dies */
        hook(msg, die_hook_arg);
    }
    exit(EXIT_SANDLOT);
}

void warnx_(const char *fmt, ...)
{
    va_list ap;
    if (g_verbosity < 1)
        return;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void verbose(const char *fmt, ...)
{
    va_list ap;
    if (g_verbosity < 2)
        return;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory");
    return q;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("out of memory");
    return s;
}

char *read_whole_file(const char *path, size_t *len, const char **err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = strerror(errno);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > ((size_t)64 << 20)) {
                *err = "file is larger than 64 MiB";
                goto fail;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *err = strerror(errno);
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    if (fd != STDIN_FILENO)
        close(fd);
    free(buf);
    return NULL;
}

const char *env_lookup(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

bool parse_duration(const char *s, double *seconds)
{
    char *end;
    if (!s || (!(*s >= '0' && *s <= '9') && *s != '.'))
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || isnan(v) || isinf(v))
        return false;
    static const struct {
        char unit;
        double factor;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    double factor = 1;
    if (*end) {
        size_t i = 0;
        while (i < sizeof units / sizeof units[0] && units[i].unit != *end)
            i++;
        if (i == sizeof units / sizeof units[0] || end[1])
            return false;
        factor = units[i].factor;
    }
    *seconds = v * factor;
    return true;
}

bool sl_fail(struct sl_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EAGAIN) { /* a non-blocking descriptor: wait for room */
            struct pollfd w = {fd, POLLOUT, 0};
            poll(&w, 1, -1);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}
