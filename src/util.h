/*
 * util.h: small helpers shared by the C core: error reporting, checked
 * allocation, reading a whole file, environment lookup.  No Lua in here.
 */
#ifndef SANDLOT_UTIL_H
#define SANDLOT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit statuses of DESIGN.md. */
enum {
    EXIT_TIMEOUT = 124,
    EXIT_SANDLOT = 125,
    EXIT_NOEXEC = 126,
    EXIT_NOTFOUND = 127
};

#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Called by die() with the message and die_hook_arg before it exits (the status report). */
extern void (*die_hook)(const char *msg, void *arg);
extern void *die_hook_arg;

/* Print "sandlot: MSG" on stderr and exit 125.  Never returns. */
__attribute__((noreturn)) void die(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Print "sandlot: warning: MSG" on stderr. */
void warnx_(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Print "sandlot: MSG" on stderr when verbose output is on. */
void verbose(const char *fmt, ...) PRINTF_LIKE(1, 2);
extern int g_verbosity; /* 0 quiet, 1 normal, 2 verbose */

/* Allocation that dies (exit 125) instead of returning NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * Read a whole file ("-" is standard input) into a NUL-terminated buffer.
 * Returns NULL and sets *err (static text or strerror) on failure.
 * The caller frees the result.
 */
char *read_whole_file(const char *path, size_t *len, const char **err);

/* The value of NAME in an environ-style list, or NULL. */
const char *env_lookup(char *const *env, const char *name);

/*
 * A duration in timeout(1)'s syntax: a non-negative decimal number with an
 * optional unit, s (seconds, the default), m, h or d.  Returns false for
 * anything else (also NaN, infinities and empty text).
 */
bool parse_duration(const char *s, double *seconds);

/*
 * Write all len bytes of buf to fd, through EINTR and, on a non-blocking
 * descriptor, EAGAIN; false with errno set once fd refuses.
 */
bool write_all(int fd, const void *buf, size_t len);

#endif
