/* policy.c: the policy model, its validation and invariants; see policy.h. */
#include "policy.h"
#include "filter.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define fail sl_fail

static const char *const kind_names[] = {
    [MOUNT_RO_BIND] = "ro", [MOUNT_RW_BIND] = "rw", [MOUNT_RO_BIND_TRY] = "ro-try",
    [MOUNT_TMPFS] = "tmpfs", [MOUNT_DIR] = "dir", [MOUNT_SYMLINK] = "symlink",
    [MOUNT_MASK_DIR] = "mask-dir", [MOUNT_MASK_FILE] = "mask-file",
};

const char *mount_kind_name(enum mount_kind k)
{
    return kind_names[k];
}

bool mount_kind_parse(const char *s, enum mount_kind *out)
{
    for (size_t i = 0; i < MOUNT_MASK_DIR; i++) { /* masks are the C core's alone */
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum mount_kind)i;
            return true;
        }
    }
    return false;
}

static void replace_str(char **slot, const char *v);

const struct proc_cover policy_proc_covers[] = {
    {"/proc/sys", false}, {"/proc/sysrq-trigger", true}, {"/proc/irq", true},
    {"/proc/bus", true},  {NULL, false},
};

static const char *const limit_names[LIMIT_COUNT] = {
    [LIMIT_NOFILE] = "nofile", [LIMIT_NPROC] = "nproc", [LIMIT_AS] = "as",
    [LIMIT_DATA] = "data",     [LIMIT_CPU] = "cpu",     [LIMIT_FSIZE] = "fsize",
    [LIMIT_CORE] = "core",     [LIMIT_TMP] = "tmp",     [LIMIT_WORK] = "work",
    [LIMIT_SHM] = "shm",
};

const char *limit_name(enum limit l)
{
    return limit_names[l];
}

bool limit_parse_name(const char *s, enum limit *out)
{
    for (int i = 0; i < LIMIT_COUNT; i++)
        if (strcmp(s, limit_names[i]) == 0) {
            *out = (enum limit)i;
            return true;
        }
    return false;
}

bool limit_parse_value(const char *s, long long *out)
{
    if (strcmp(s, "unlimited") == 0) {
        *out = LIMIT_UNLIMITED;
        return true;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0 || s[0] == '-' || s[0] == '+')
        return false;
    int shift = 0;
    switch (*end) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end || (shift && v > (LLONG_MAX >> shift)))
        return false;
    *out = v << shift;
    return true;
}

struct policy *policy_new(void)
{
    struct policy *p = xcalloc(1, sizeof *p);
    p->uid = p->gid = SANDLOT_NOBODY;
    for (int i = 0; i < LIMIT_COUNT; i++)
        p->limit[i] = LIMIT_UNLIMITED;
    /* Defaults, documented in README: a core file never leaves the sandbox. */
    p->limit[LIMIT_CORE] = 0;
    p->limit[LIMIT_NOFILE] = 1024;
    p->limit[LIMIT_NPROC] = 4096;
    p->limit[LIMIT_SHM] = SHM_DEFAULT_BYTES;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        p->limit[LIMIT_DATA] = (long long)pages * page / 2;
    return p;
}

bool policy_set_limit(struct policy *p, enum limit l, long long value, const char *origin,
                      struct sl_err *e)
{
    if (value < 0 && value != LIMIT_UNLIMITED)
        return fail(e, "limit %s must not be negative", limit_names[l]);
    if (l == LIMIT_CORE && value != 0)
        return fail(e, "limit core is always 0: a core dump would carry the sandbox's memory "
                       "out of it");
    if (LIMIT_IS_SIZE(l) && value != LIMIT_UNLIMITED && value < 4096)
        return fail(e, "limit %s (a tmpfs size) must be at least 4096 bytes", limit_names[l]);
    p->limit[l] = value;
    replace_str(&p->limit_origin[l], origin);
    return true;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nmounts; i++) {
        free(p->mounts[i].src);
        free(p->mounts[i].dst);
        free(p->mounts[i].origin);
    }
    for (size_t i = 0; i < p->nenv; i++) {
        free(p->env[i].name);
        free(p->env[i].value);
        free(p->env[i].origin);
    }
    for (size_t i = 0; i < p->ndenials; i++) {
        free(p->denials[i].name);
        free(p->denials[i].origin);
    }
    for (size_t i = 0; i < p->nseals; i++) {
        free(p->seals[i].arg);
        free(p->seals[i].real);
        free(p->seals[i].origin);
    }
    free(p->seals);
    egress_rules_free(&p->egress);
    for (size_t i = 0; i < p->nnotes; i++) {
        free(p->notes[i].text);
        free(p->notes[i].origin);
    }
    free(p->notes);
    free(p->denials);
    free(p->seccomp_origin);
    for (int i = 0; i < LIMIT_COUNT; i++)
        free(p->limit_origin[i]);
    free(p->mounts);
    free(p->env);
    free(p->work_host);
    free(p->work_origin);
    free(p->network_origin);
    free(p->id_origin);
    free(p);
}

/* A printable rendering of a path for messages: cut, control chars as '?'. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < cap; i++)
        buf[j++] = (s[i] >= 0x20 && s[i] != 0x7f) ? s[i] : '?';
    if (len > cap - 4 && j + 3 < cap) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

bool path_normalise(const char *p, size_t len, char **out, struct sl_err *e)
{
    char b[256];
    if (len == 0)
        return fail(e, "path is empty");
    if (memchr(p, '\0', len))
        return fail(e, "path contains a NUL byte: \"%s\"", shown(p, len, b, sizeof b));
    if (memchr(p, '\n', len))
        return fail(e, "path contains a newline: \"%s\"", shown(p, len, b, sizeof b));
    if (p[0] != '/')
        return fail(e, "path must be absolute: \"%s\"", shown(p, len, b, sizeof b));
    if (len >= PATH_MAX)
        return fail(e, "path is longer than %d bytes", PATH_MAX - 1);
    if (len > 1 && p[len - 1] == '/')
        len--; /* "/data/" means "/data" */
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (j < len && p[j] != '/')
            j++;
        size_t clen = j - i - 1; /* component between p[i] == '/' and p[j] */
        const char *c = p + i + 1;
        if (clen == 0 && len > 1)
            return fail(e, "path is not normalised (\"//\"): \"%s\"", shown(p, len, b, sizeof b));
        if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
            return fail(e, "path is not normalised (\"%.*s\" component): \"%s\"", (int)clen, c,
                        shown(p, len, b, sizeof b));
        i = j;
    }
    *out = xmalloc(len + 1);
    memcpy(*out, p, len);
    (*out)[len] = '\0';
    return true;
}

/* True when p is already in normal form (path_normalise would not change it). */
static bool path_is_normal(const char *p, struct sl_err *e)
{
    char *n = NULL;
    if (!path_normalise(p, strlen(p), &n, e))
        return false;
    bool same = strcmp(n, p) == 0;
    free(n);
    return same || fail(e, "path is not normalised: \"%s\"", p);
}

bool path_within(const char *path, const char *dir)
{
    if (dir[0] == '/' && dir[1] == '\0')
        return true;
    /* the common prefix, stopping at the first difference (checks run this a lot) */
    while (*dir && *dir == *path) {
        dir++;
        path++;
    }
    return *dir == '\0' && (*path == '\0' || *path == '/');
}

bool target_allowed(const char *dst, struct sl_err *e)
{
    static const char *const reserved[] = {"/proc", "/dev"};
    if (strcmp(dst, "/") == 0)
        return fail(e, "sandbox target must not be \"/\"");
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (path_within(dst, reserved[i]))
            return fail(e, "sandbox target \"%s\" is under %s, which sandlot mounts itself", dst,
                        reserved[i]);
    if (strcmp(dst, "/work") == 0)
        return fail(e, "sandbox target \"/work\" is the work directory; use --work or "
                       "policy.work_host");
    return true;
}

/*
 * A symlink the policy places at dst with link text `text` must not lead
 * into what target_allowed keeps out: a later step through it (a dir, a
 * bind, another link below dst) would otherwise land under /proc or /dev, or
 * anywhere from "/".  The text is read as the sandbox will read it: absolute,
 * or relative to dst's directory, ".." stopping at "/" (lexically, which
 * refuses more than the kernel's walk would, never less for the policy's own
 * links).
 */
static bool link_allowed(const char *dst, const char *text, struct sl_err *e)
{
    size_t dirlen = text[0] == '/' ? 0 : (size_t)(strrchr(dst, '/') - dst);
    char *path = xasprintf("%.*s/%s", (int)dirlen, dst, text);
    char *out = xmalloc(strlen(path) + 2);
    size_t n = 0;
    for (char *c = path, *end; *c; c = end) {
        while (*c == '/')
            c++;
        end = c + strcspn(c, "/");
        size_t clen = (size_t)(end - c);
        if (clen == 0 || (clen == 1 && c[0] == '.'))
            continue;
        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, c, clen);
        n += clen;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    struct sl_err inner;
    bool ok = strcmp(out, "/work") == 0 || target_allowed(out, &inner);
    if (!ok)
        fail(e, "symlink %s -> %s leads to %s: %s", dst, text, out, inner.msg);
    free(out);
    free(path);
    return ok;
}

/*
 * Variables the dynamic loader, libc or iconv read to load code or change
 * behaviour: glibc's "unsecure" list plus GLIBC_TUNABLES (CVE-2023-4911).
 */
static const char *const loader_vars[] = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
};

bool env_name_allowed(const char *name, size_t len, struct sl_err *e)
{
    char b[128];
    if (len == 0)
        return fail(e, "environment variable name is empty");
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return fail(e, "invalid environment variable name \"%s\"",
                        shown(name, len, b, sizeof b));
    }
    /* name carries a length and need not be NUL-terminated */
    if (len >= 3 && strncmp(name, "LD_", 3) == 0)
        return fail(e, "environment variable %.*s is refused: dynamic-loader variables never "
                       "enter the sandbox", (int)len, name);
    for (size_t i = 0; i < sizeof loader_vars / sizeof loader_vars[0]; i++)
        if (strlen(loader_vars[i]) == len && memcmp(name, loader_vars[i], len) == 0)
            return fail(e, "environment variable %.*s is refused: it makes libc load code or "
                           "files chosen by the caller", (int)len, name);
    return true;
}

/*
 * No bind source, of any kind, lies under /proc: /proc/self/fd/N and
 * /proc/PID/root name whatever a process holds at mount time.
 */
static bool source_not_in_proc(const char *src, struct sl_err *e)
{
    return !path_within(src, "/proc") ||
           fail(e, "bind source \"%s\" is under /proc, where a path can be swapped; name the "
                   "real path", src);
}

/*
 * A bind source that a racing host process could swap is refused: one
 * under /proc, or one with a symlink in any component.  At launch the
 * source is opened again without following links (launch.c), so a symlink
 * planted after this check fails the run.
 */
bool bind_source_allowed(const char *src, struct sl_err *e)
{
    if (!source_not_in_proc(src, e))
        return false;
    char prefix[PATH_MAX];
    size_t n = strlen(src);
    for (size_t i = 1; i <= n; i++) {
        if (src[i] != '/' && src[i] != '\0')
            continue;
        memcpy(prefix, src, i);
        prefix[i] = '\0';
        struct stat st;
        if (lstat(prefix, &st) == 0 && S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t t = readlink(prefix, target, sizeof target - 1);
            target[t > 0 ? t : 0] = '\0';
            return fail(e, "bind source \"%s\" goes through the symlink %s -> %s; name the real "
                           "path (binds never follow links, so they cannot be swapped)",
                        src, prefix, target);
        }
    }
    return true;
}

int bind_source_open(const char *src, enum mount_kind k, struct sl_err *e)
{
    bool try = k == MOUNT_RO_BIND_TRY;
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_NO_MAGICLINKS | (try ? 0 : RESOLVE_NO_SYMLINKS)};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, src, &how, sizeof how);
    e->msg[0] = '\0';
    if (fd >= 0 || (try && (errno == ENOENT || errno == ENOTDIR)))
        return fd;
    int err = errno;
    snprintf(e->msg, sizeof e->msg, "bind source %s: %s%s", src, strerror(err),
             err == ELOOP && !try ? " (a symlink in its path: binds never follow links)" : "");
    return -1;
}

/*
 * The seal of this kind that covers arg, or NULL.  A path is compared as
 * written and as resolved, against the seal as written and as resolved when
 * it was placed: a symlink on either side hides nothing.
 */
static const struct seal *sealed(const struct policy *p, enum seal_kind kind, const char *arg)
{
    char buf[PATH_MAX];
    const char *real = NULL;
    bool resolved = false;
    for (size_t i = 0; i < p->nseals; i++) {
        const struct seal *s = &p->seals[i];
        if (s->kind != kind)
            continue;
        if (kind == SEAL_NETWORK || kind == SEAL_EGRESS)
            return s;
        if (kind == SEAL_PATH) {
            if (!resolved) {
                real = realpath(arg, buf);
                resolved = true;
            }
            if (path_within(arg, s->arg) || (s->real && path_within(arg, s->real)) ||
                (real && (path_within(real, s->arg) || (s->real && path_within(real, s->real)))))
                return s;
        }
        if (kind == SEAL_ENV) {
            size_t n = strlen(s->arg);
            if (n && s->arg[n - 1] == '*' ? strncmp(arg, s->arg, n - 1) == 0
                                          : strcmp(arg, s->arg) == 0)
                return s;
        }
    }
    return NULL;
}

static bool source_unsealed(const struct policy *p, const char *src, struct sl_err *e)
{
    const struct seal *s = sealed(p, SEAL_PATH, src);
    return !s || fail(e, "binding \"%s\" breaks the seal placed by %s: nothing under %s is "
                         "ever bound", src, s->origin, s->arg);
}

bool policy_add_mount(struct policy *p, enum mount_kind k, const char *src, size_t srclen,
                      const char *dst, size_t dstlen, const char *origin, struct sl_err *e)
{
    char *d = NULL, *s = NULL;
    switch (k) {
    case MOUNT_TMPFS:
    case MOUNT_DIR:
        break;
    case MOUNT_SYMLINK: {
        /* The link text is data, not a host path: it may be relative. */
        char b[128];
        if (!src || srclen == 0 || memchr(src, '\0', srclen) || memchr(src, '\n', srclen)) {
            fail(e, "symlink target must be non-empty text without NUL or newline: \"%s\"",
                 src ? shown(src, srclen, b, sizeof b) : "");
            goto refuse;
        }
        s = xmalloc(srclen + 1);
        memcpy(s, src, srclen);
        s[srclen] = '\0';
        break;
    }
    default:
        if (!src) {
            fail(e, "%s bind needs a host path", mount_kind_name(k));
            goto refuse;
        }
        if (!path_normalise(src, srclen, &s, e))
            goto refuse;
        if (k == MOUNT_RW_BIND && strcmp(s, "/") == 0) {
            fail(e, "read-write bind of the host root \"/\" is refused");
            goto refuse;
        }
        if (strcmp(s, "/") == 0) {
            fail(e, "binding the host root \"/\" is refused: it would expose the host's "
                    "/proc, /sys, /dev and every protected path");
            goto refuse;
        }
        /* ro_bind_try follows links (host files such as /etc/resolv.conf
         * are often symlinks), but never reaches into /proc either */
        if (k == MOUNT_RO_BIND_TRY ? !source_not_in_proc(s, e) : !bind_source_allowed(s, e))
            goto refuse;
        if (!source_unsealed(p, s, e))
            goto refuse;
        break;
    }
    if (!path_normalise(dst, dstlen, &d, e) || !target_allowed(d, e))
        goto refuse;
    if (k == MOUNT_SYMLINK && !link_allowed(d, s, e))
        goto refuse;
    if (p->nmounts == p->capmounts) {
        p->capmounts = p->capmounts ? p->capmounts * 2 : 16;
        p->mounts = xrealloc(p->mounts, p->capmounts * sizeof *p->mounts);
    }
    p->mounts[p->nmounts++] = (struct mount){k, s, d, xstrdup(origin)};
    return true;
refuse:
    free(d);
    free(s);
    return false;
}

size_t policy_remove_mounts(struct policy *p, const char *dst)
{
    size_t kept = 0, gone = 0;
    for (size_t i = 0; i < p->nmounts; i++) {
        struct mount *m = &p->mounts[i];
        if (strcmp(m->dst, dst) == 0) {
            free(m->src);
            free(m->dst);
            free(m->origin);
            gone++;
        } else {
            p->mounts[kept++] = *m;
        }
    }
    p->nmounts = kept;
    return gone;
}

static void replace_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? xstrdup(v) : NULL;
}

bool policy_set_work(struct policy *p, const char *host, size_t len, const char *origin,
                     struct sl_err *e)
{
    char *h = NULL;
    if (host) {
        if (!path_normalise(host, len, &h, e))
            return false;
        if (strcmp(h, "/") == 0) {
            free(h);
            return fail(e, "the host root \"/\" cannot be the work directory (it would be "
                           "bound read-write)");
        }
        if (!bind_source_allowed(h, e) || !source_unsealed(p, h, e)) {
            free(h);
            return false;
        }
    }
    free(p->work_host);
    p->work_host = h;
    replace_str(&p->work_origin, origin);
    return true;
}

bool policy_set_network(struct policy *p, bool on, const char *origin, struct sl_err *e)
{
    const struct seal *s = on ? sealed(p, SEAL_NETWORK, NULL) : NULL;
    if (s)
        return fail(e, "turning the network on breaks the seal placed by %s: the network "
                       "stays off", s->origin);
    s = on ? sealed(p, SEAL_EGRESS, NULL) : NULL;
    if (s)
        return fail(e, "turning the network on breaks the seal placed by %s: egress is capped "
                       "at its allowlist", s->origin);
    p->network = on;
    replace_str(&p->network_origin, origin);
    return true;
}

enum egress_mode policy_egress_mode(const struct policy *p)
{
    return p->network ? EGRESS_HOST : p->egress.n > 0 ? EGRESS_ALLOWLIST : EGRESS_NONE;
}

const char *egress_mode_name(enum egress_mode m)
{
    return m == EGRESS_HOST ? "host" : m == EGRESS_ALLOWLIST ? "allowlist" : "none";
}

/* Every host:port the rule r allows is allowed by the list already. */
static bool allowlist_covers(const struct egress_rules *list, const struct egress_rule *r)
{
    for (size_t i = 0; i < r->nports; i++) {
        bool ok = false;
        if (r->kind == EGRESS_NAME || r->kind == EGRESS_ADDR) {
            /* a name or literal is covered where the proxy would match it */
            ok = egress_match_name(list, r->pattern, r->ports[i]) != NULL;
        } else {
            /* a wildcard or range only by the same pattern with the port */
            for (size_t j = 0; j < list->n && !ok; j++) {
                const struct egress_rule *have = &list->v[j];
                if (have->kind != r->kind || strcmp(have->pattern, r->pattern) != 0)
                    continue;
                for (size_t k = 0; k < have->nports && !ok; k++)
                    ok = have->ports[k] == r->ports[i];
            }
        }
        if (!ok)
            return false;
    }
    return true;
}

bool policy_allow_host(struct policy *p, const char *pattern, const uint16_t *ports,
                       size_t nports, const char *origin, struct sl_err *e)
{
    const struct seal *s = sealed(p, SEAL_NETWORK, NULL);
    if (s)
        return fail(e, "allowing %s breaks the seal placed by %s: the network stays off",
                    pattern, s->origin);
    struct egress_rule r;
    if (!egress_rule_parse(pattern, ports, nports, origin, &r, e))
        return false;
    s = sealed(p, SEAL_EGRESS, NULL);
    if (s) {
        /* Under the cap a rule the allowlist already covers is kept out
         * (it widens nothing: an llm stage within the cap still runs); any
         * other is refused. */
        bool covered = allowlist_covers(&p->egress, &r);
        egress_rule_free(&r);
        if (covered)
            return true;
        return fail(e, "allowing %s breaks the seal placed by %s: the egress allowlist is "
                       "capped", pattern, s->origin);
    }
    bool added = egress_rules_add(&p->egress, &r, e); /* it copies the strings */
    egress_rule_free(&r);
    return added;
}

bool policy_add_note(struct policy *p, const char *text, size_t len, const char *origin,
                     struct sl_err *e)
{
    if (len == 0 || len > 400 || memchr(text, '\0', len) || memchr(text, '\n', len))
        return fail(e, "a note is one line of 1 to 400 characters");
    if (p->nnotes == p->capnotes) {
        p->capnotes = p->capnotes ? p->capnotes * 2 : 4;
        p->notes = xrealloc(p->notes, p->capnotes * sizeof *p->notes);
    }
    p->notes[p->nnotes++] = (struct note){xasprintf("%.*s", (int)len, text), xstrdup(origin)};
    return true;
}

bool policy_seal(struct policy *p, enum seal_kind kind, const char *arg, size_t arglen,
                 const char *origin, struct sl_err *e)
{
    char *a = NULL;
    if (kind == SEAL_PROTECT || kind == SEAL_PROTECT_WRITE || kind == SEAL_OPEN) {
        if (!path_normalise(arg, arglen, &a, e))
            return false;
        if (strcmp(a, "/") == 0) {
            free(a);
            return fail(e, "\"/\" cannot be %s as a whole", kind == SEAL_OPEN ? "opened"
                                                                              : "protected");
        }
    } else if (kind == SEAL_NETWORK) {
        if (p->network)
            return fail(e, "cannot seal the network off: it is on already (set by %s)",
                        p->network_origin ? p->network_origin : "policy");
        if (p->egress.n > 0)
            return fail(e, "cannot seal the network off: the egress allowlist has rules "
                           "already (%s allows %s)", p->egress.v[0].origin,
                        p->egress.v[0].pattern);
    } else if (kind == SEAL_EGRESS) {
        if (p->network)
            return fail(e, "cannot cap egress at its allowlist: the host network is on already "
                           "(set by %s)", p->network_origin ? p->network_origin : "policy");
    } else if (kind == SEAL_PATH) {
        if (!path_normalise(arg, arglen, &a, e))
            return false;
        if (strcmp(a, "/") == 0) {
            free(a);
            return fail(e, "sealing \"/\" would forbid every bind");
        }
        char real[PATH_MAX];
        struct seal probe = {SEAL_PATH, a, realpath(a, real), (char *)origin};
        struct policy one = {.seals = &probe, .nseals = 1};
        for (size_t i = 0; i < p->nmounts; i++)
            if (p->mounts[i].src && p->mounts[i].kind != MOUNT_SYMLINK &&
                sealed(&one, SEAL_PATH, p->mounts[i].src)) {
                fail(e, "cannot seal %s: %s binds %s already", a, p->mounts[i].origin,
                     p->mounts[i].src);
                free(a);
                return false;
            }
        if (p->work_host && sealed(&one, SEAL_PATH, p->work_host)) {
            fail(e, "cannot seal %s: the work directory %s (set by %s) is under it", a,
                 p->work_host, p->work_origin ? p->work_origin : "policy");
            free(a);
            return false;
        }
    } else {
        size_t n = arglen && arg[arglen - 1] == '*' ? arglen - 1 : arglen;
        if (n && !env_name_allowed(arg, n, e))
            return false;
        if (memchr(arg, '\0', arglen))
            return fail(e, "sealed name contains a NUL byte");
        a = xstrdup(arg);
        struct seal probe = {SEAL_ENV, a, NULL, (char *)origin};
        struct policy one = {.seals = &probe, .nseals = 1};
        for (size_t i = 0; i < p->nenv; i++)
            if (sealed(&one, SEAL_ENV, p->env[i].name)) {
                fail(e, "cannot seal %s: %s lets %s in already", a, p->env[i].origin,
                     p->env[i].name);
                free(a);
                return false;
            }
    }
    if (p->nseals == p->capseals) {
        p->capseals = p->capseals ? p->capseals * 2 : 8;
        p->seals = xrealloc(p->seals, p->capseals * sizeof *p->seals);
    }
    /* resolved once here; most protected paths are absent: lstat spares realpath's walk */
    char real[PATH_MAX];
    struct stat st;
    char *r = kind != SEAL_NETWORK && kind != SEAL_EGRESS && kind != SEAL_ENV && lstat(a, &st) == 0 && realpath(a, real)
                  ? xstrdup(real)
                  : NULL;
    p->seals[p->nseals++] = (struct seal){kind, a, r, xstrdup(origin)};
    return true;
}

const struct seal *policy_env_sealed(const struct policy *p, const char *name)
{
    return sealed(p, SEAL_ENV, name);
}

bool policy_set_ids(struct policy *p, long uid, long gid, const char *origin, struct sl_err *e)
{
    if (uid <= 0 || gid <= 0)
        return fail(e, "uid and gid inside the sandbox must not be 0 (got %ld:%ld)", uid, gid);
    if (uid > 0xfffffffeL || gid > 0xfffffffeL)
        return fail(e, "uid/gid out of range (got %ld:%ld)", uid, gid);
    p->uid = (unsigned)uid;
    p->gid = (unsigned)gid;
    replace_str(&p->id_origin, origin);
    return true;
}

bool policy_set_seccomp(struct policy *p, const char *profile, const char *origin,
                        struct sl_err *e)
{
    if (strcmp(profile, "default") != 0 && strcmp(profile, "strict") != 0)
        return fail(e, "unknown seccomp profile \"%s\" (profiles: default, strict)", profile);
    p->seccomp_strict = profile[0] == 's';
    replace_str(&p->seccomp_origin, origin);
    return true;
}

bool policy_deny_syscall(struct policy *p, const char *name, const char *action,
                         const char *origin, struct sl_err *e)
{
    int act;
    if (!seccomp_syscall_known(name))
        return fail(e, "unknown syscall \"%s\" for this architecture", name);
    if (!seccomp_action_parse(action, &act))
        return fail(e, "unknown seccomp action \"%s\" (EPERM, ENOSYS, EACCES, EAFNOSUPPORT, "
                       "kill)", action);
    if (p->ndenials == p->capdenials) {
        p->capdenials = p->capdenials ? p->capdenials * 2 : 8;
        p->denials = xrealloc(p->denials, p->capdenials * sizeof *p->denials);
    }
    p->denials[p->ndenials++] = (struct denial){xstrdup(name), act, xstrdup(origin)};
    return true;
}

const struct envvar *policy_find_env(const struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->nenv; i++)
        if (strcmp(p->env[i].name, name) == 0)
            return &p->env[i];
    return NULL;
}

bool policy_set_env(struct policy *p, const char *name, size_t nlen, const char *value,
                    size_t vlen, const char *origin, struct sl_err *e)
{
    if (!env_name_allowed(name, nlen, e))
        return false;
    const struct seal *s = sealed(p, SEAL_ENV, name);
    if (s)
        return fail(e, "letting %s in breaks the seal placed by %s", name, s->origin);
    if (value && memchr(value, '\0', vlen))
        return fail(e, "value of %s contains a NUL byte", name);
    struct envvar *v = (struct envvar *)policy_find_env(p, name);
    if (!v) {
        if (p->nenv == p->capenv) {
            p->capenv = p->capenv ? p->capenv * 2 : 16;
            p->env = xrealloc(p->env, p->capenv * sizeof *p->env);
        }
        v = &p->env[p->nenv++];
        *v = (struct envvar){xstrdup(name), NULL, NULL};
    }
    replace_str(&v->value, value);
    replace_str(&v->origin, origin);
    return true;
}

bool policy_unset_env(struct policy *p, const char *name)
{
    for (size_t i = 0; i < p->nenv; i++) {
        if (strcmp(p->env[i].name, name) == 0) {
            free(p->env[i].name);
            free(p->env[i].value);
            free(p->env[i].origin);
            memmove(&p->env[i], &p->env[i + 1], (p->nenv - i - 1) * sizeof *p->env);
            p->nenv--;
            return true;
        }
    }
    return false;
}

/*
 * A read-write bind of host `src` must not expose a protected path: refuse
 * when a protected path is src itself or lies below it, comparing resolved
 * paths so a symlink does not hide the overlap.
 */
static bool rw_source_allowed(const char *src, const char *const *protected_paths,
                              const char *what, struct sl_err *e)
{
    char real[PATH_MAX];
    if (strcmp(src, "/") == 0)
        return fail(e, "%s: read-write bind of the host root \"/\" is refused", what);
    if (!realpath(src, real))
        return true; /* absent: bwrap refuses to bind it, exit 125 */
    if (strcmp(real, "/") == 0)
        return fail(e, "%s: \"%s\" resolves to the host root \"/\"; read-write bind refused", what,
                    src);
    for (const char *const *pp = protected_paths; pp && *pp; pp++) {
        char preal[PATH_MAX];
        const char *cmp = realpath(*pp, preal) ? preal : *pp;
        if (path_within(cmp, real))
            return fail(e, "%s: read-write bind of \"%s\" would make %s writable inside the "
                           "sandbox", what, src, *pp);
    }
    return true;
}

/* What a path seal covers on the host: its resolved path, or itself when absent. */
static const char *seal_real(const struct seal *s)
{
    return s->real ? s->real : s->arg;
}

/* The opening (SEAL_OPEN) whose resolved path holds host path real, or NULL. */
static const struct seal *opening(const struct policy *p, const char *real)
{
    for (size_t i = 0; i < p->nseals; i++)
        if (p->seals[i].kind == SEAL_OPEN && path_within(real, seal_real(&p->seals[i])))
            return &p->seals[i];
    return NULL;
}

static bool is_bind(enum mount_kind k)
{
    return k == MOUNT_RO_BIND || k == MOUNT_RW_BIND || k == MOUNT_RO_BIND_TRY;
}

/*
 * A bind of host src passes the protections: nothing protected at or below
 * it, unless an opening holds it; for a read-write bind, nothing protected
 * below it either, since a writable tree could re-create what a mask covers
 * (an absent ~/.ssh, a renamed parent).  Read-only ancestors get masks.
 * Paths are compared as written and as resolved, so no symlink hides one.
 */
static bool bind_unprotected(const struct policy *p, const char *src, bool rw, const char *what,
                             struct sl_err *e)
{
    char buf[PATH_MAX];
    const char *real = realpath(src, buf) ? buf : src;
    if (strcmp(real, "/") == 0)
        return fail(e, "%s: binding \"%s\" is refused: it resolves to the host root \"/\"",
                    what, src);
    for (size_t i = 0; i < p->nseals; i++) {
        const struct seal *s = &p->seals[i];
        if (s->kind != SEAL_PROTECT && !(rw && s->kind == SEAL_PROTECT_WRITE))
            continue;
        const char *sr = seal_real(s);
        bool under = path_within(src, s->arg) || path_within(real, sr);
        if (under && !opening(p, real))
            return fail(e, "%s: binding %s%s is refused: %s is protected%s by %s", what,
                        rw ? "read-write " : "", src, s->arg,
                        s->kind == SEAL_PROTECT_WRITE ? " for writing" : "", s->origin);
        if (rw && !under && (path_within(s->arg, src) || path_within(sr, real)) &&
            !opening(p, sr))
            return fail(e, "%s: read-write bind of %s is refused: it holds %s, protected%s by %s",
                        what, src, s->arg, s->kind == SEAL_PROTECT_WRITE ? " for writing" : "",
                        s->origin);
    }
    return true;
}

bool policy_check_invariants(const struct policy *p, const char *const *protected_paths,
                             struct sl_err *e)
{
    struct sl_err inner;
    for (size_t i = 0; i < p->nmounts; i++) {
        const struct mount *m = &p->mounts[i];
        /* Mutations validated already; checked again so no future path skips it. */
        if (!path_is_normal(m->dst, &inner) || !target_allowed(m->dst, &inner))
            return fail(e, "%s: %s", m->origin, inner.msg);
        if (m->kind == MOUNT_SYMLINK && !link_allowed(m->dst, m->src, &inner))
            return fail(e, "%s: %s", m->origin, inner.msg);
        if (m->kind == MOUNT_RW_BIND &&
            !rw_source_allowed(m->src, protected_paths, m->origin, e))
            return false;
    }
    if (p->work_host && !rw_source_allowed(p->work_host, protected_paths,
                                           p->work_origin ? p->work_origin : "--work", e))
        return false;
    /* Protected host paths (the built-in layer's list), whatever layer bound what. */
    for (size_t i = 0; i < p->nmounts; i++) {
        const struct mount *m = &p->mounts[i];
        if (is_bind(m->kind) && !bind_unprotected(p, m->src, m->kind == MOUNT_RW_BIND, m->origin, e))
            return false;
    }
    if (p->work_host && !bind_unprotected(p, p->work_host, true,
                                          p->work_origin ? p->work_origin : "--work", e))
        return false;
    /* Seals, once more over the whole policy. */
    if (p->network && sealed(p, SEAL_NETWORK, NULL))
        return fail(e, "%s: the network is on, but %s sealed it off", p->network_origin,
                    sealed(p, SEAL_NETWORK, NULL)->origin);
    if (p->network && sealed(p, SEAL_EGRESS, NULL))
        return fail(e, "%s: the network is on, but %s capped egress at its allowlist",
                    p->network_origin, sealed(p, SEAL_EGRESS, NULL)->origin);
    if (policy_egress_mode(p) == EGRESS_ALLOWLIST && p->seccomp_strict)
        return fail(e, "%s: the egress allowlist (%s allows %s) needs TCP sockets, which the "
                       "seccomp profile \"strict\" refuses", p->seccomp_origin,
                    p->egress.v[0].origin, p->egress.v[0].pattern);
    if (p->egress.n > 0 && sealed(p, SEAL_NETWORK, NULL))
        return fail(e, "%s: allows %s, but %s sealed the network off", p->egress.v[0].origin,
                    p->egress.v[0].pattern, sealed(p, SEAL_NETWORK, NULL)->origin);
    for (size_t i = 0; i < p->nmounts; i++)
        if (p->mounts[i].src && p->mounts[i].kind != MOUNT_SYMLINK &&
            !source_unsealed(p, p->mounts[i].src, &inner))
            return fail(e, "%s: %s", p->mounts[i].origin, inner.msg);
    for (size_t i = 0; i < p->nenv; i++)
        if (sealed(p, SEAL_ENV, p->env[i].name))
            return fail(e, "%s: %s is sealed by %s", p->env[i].origin, p->env[i].name,
                        sealed(p, SEAL_ENV, p->env[i].name)->origin);
    if (p->uid == 0 || p->gid == 0)
        return fail(e, "%s: uid/gid 0 inside the sandbox is refused",
                    p->id_origin ? p->id_origin : "policy");
    for (size_t i = 0; i < p->nenv; i++)
        if (!env_name_allowed(p->env[i].name, strlen(p->env[i].name), &inner))
            return fail(e, "%s: %s", p->env[i].origin, inner.msg);
    return true;
}

static bool is_mask(enum mount_kind k)
{
    return k == MOUNT_MASK_DIR || k == MOUNT_MASK_FILE;
}

/* Add a mask at sandbox path dst (malloc'd, taken) unless one is there already. */
static void add_mask(struct policy *p, bool dir, char *dst, const char *origin)
{
    for (size_t i = 0; i < p->nmounts; i++)
        if (is_mask(p->mounts[i].kind) && strcmp(p->mounts[i].dst, dst) == 0) {
            free(dst);
            return;
        }
    if (p->nmounts == p->capmounts) {
        p->capmounts = p->capmounts ? p->capmounts * 2 : 16;
        p->mounts = xrealloc(p->mounts, p->capmounts * sizeof *p->mounts);
    }
    p->mounts[p->nmounts++] =
        (struct mount){dir ? MOUNT_MASK_DIR : MOUNT_MASK_FILE, NULL, dst, xstrdup(origin)};
}

void policy_place_masks(struct policy *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->nmounts; i++) {
        if (is_mask(p->mounts[i].kind)) {
            free(p->mounts[i].dst);
            free(p->mounts[i].origin);
        } else {
            p->mounts[kept++] = p->mounts[i];
        }
    }
    p->nmounts = kept;
    /* each bind, then --work's: the seals strictly below its resolved source */
    for (size_t b = 0; b <= kept; b++) {
        const char *src = b < kept ? p->mounts[b].src : p->work_host;
        const char *dst = b < kept ? p->mounts[b].dst : "/work";
        char real[PATH_MAX];
        if ((b < kept && !is_bind(p->mounts[b].kind)) || !src || !realpath(src, real) ||
            strcmp(real, "/") == 0)
            continue;
        size_t rl = strlen(real);
        for (size_t i = 0; i < p->nseals; i++) {
            const struct seal *s = &p->seals[i];
            struct stat st;
            if ((s->kind != SEAL_PATH && s->kind != SEAL_PROTECT) || !s->real ||
                strcmp(s->real, real) == 0 || !path_within(s->real, real) ||
                (s->kind == SEAL_PROTECT && opening(p, s->real)) || lstat(s->real, &st) != 0)
                continue;
            add_mask(p, S_ISDIR(st.st_mode), xasprintf("%s%s", dst, s->real + rl), s->origin);
        }
    }
}

static size_t depth(const char *path)
{
    size_t n = 0;
    for (; *path; path++)
        n += *path == '/';
    return n;
}

static int kind_rank(enum mount_kind k)
{
    return k == MOUNT_RW_BIND ? 1 : k == MOUNT_RO_BIND || k == MOUNT_RO_BIND_TRY ? 2 : 0;
}

/*
 * Whether mount a goes after mount b (DESIGN.md, mount precedence): masks
 * after every other mount, so nothing covers one; otherwise by the depth
 * of the target, parents first, so the most specific path wins whatever
 * its mode; at one depth (the same target) structure, then rw, then ro
 * binds, so read-only wins, as in noether.
 */
static bool mounts_after(const struct mount *a, const struct mount *b)
{
    if (is_mask(a->kind) != is_mask(b->kind))
        return is_mask(a->kind);
    size_t da = depth(a->dst), db = depth(b->dst);
    if (da != db)
        return da > db;
    return kind_rank(a->kind) > kind_rank(b->kind);
}

/*
 * Whether read-only bind m adds nothing under parent, the mount that is on
 * top at m's nearest ancestor target: a read-only bind of the same host tree
 * at the same place (src and dst below the parent's by the same path), which
 * already shows m's source read-only.  Mounting it would only go through
 * what the parent shows there (a symlink such as /etc/localtime under a
 * bound /etc), as noether's order never did.
 */
static bool covered(const struct mount *m, const struct mount *parent)
{
    if ((m->kind != MOUNT_RO_BIND && m->kind != MOUNT_RO_BIND_TRY) ||
        parent->kind != MOUNT_RO_BIND)
        return false;
    size_t pd = strlen(parent->dst), ps = strlen(parent->src);
    return strlen(m->src) > ps && strncmp(m->src, parent->src, ps) == 0 && m->src[ps] == '/' &&
           strcmp(m->src + ps, m->dst + pd) == 0;
}

size_t policy_mount_order(const struct policy *p, size_t *order, size_t *before_work)
{
    /* a stable insertion sort: entries of one rank keep the policy's order */
    for (size_t i = 0; i < p->nmounts; i++) {
        size_t j = i;
        for (; j > 0 && mounts_after(&p->mounts[order[j - 1]], &p->mounts[i]); j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    /*
     * Leave out the read-only binds a read-only parent already shows: the
     * nearest entry before one whose target holds its target is the mount
     * on top there (parents come first, the same target in mount order).
     */
    size_t n = 0;
    for (size_t k = 0; k < p->nmounts; k++) {
        const struct mount *m = &p->mounts[order[k]];
        size_t j = n;
        while (j > 0 && !(path_within(m->dst, p->mounts[order[j - 1]].dst) &&
                          strcmp(m->dst, p->mounts[order[j - 1]].dst) != 0))
            j--;
        if (is_mask(m->kind) || j == 0 || !covered(m, &p->mounts[order[j - 1]]))
            order[n++] = order[k];
    }
    /* /work (depth 1, nothing else targets it) after the other top-level entries */
    size_t w = 0;
    while (w < n && !is_mask(p->mounts[order[w]].kind) && depth(p->mounts[order[w]].dst) <= 1)
        w++;
    *before_work = w;
    return n;
}
