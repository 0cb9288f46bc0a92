/* landlock.c: Landlock rules and rulesets; see landlock.h.  libc and syscalls only. */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock access rights and scopes newer than Debian 12's headers. */
#define LL_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

/* The ruleset attribute as of ABI 6; older kernels take a prefix of it. */
struct ll_attr {
    unsigned long long handled_access_fs, handled_access_net, scoped;
};

int landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? (int)abi : 0;
}

static const char *const class_words[] = {"list", "ro", "rw", "proc", "tcp-connect"};

/* Landlock's network rule (ABI 4), newer than Debian 12's headers. */
#define LL_RULE_NET_PORT 2
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)
struct ll_net_port_attr {
    unsigned long long allowed_access;
    unsigned long long port;
} __attribute__((packed));

/* The port of a tcp-connect rule's text, or 0 when it is not 1..65535. */
static unsigned long ll_port(const char *s)
{
    unsigned long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
        v = v * 10 + (unsigned long)(s[i] - '0');
    return i > 0 && s[i] == '\0' && s[0] != '0' && v <= 65535 ? v : 0;
}

const char *ll_class_word(enum ll_class c)
{
    return (unsigned)c < sizeof class_words / sizeof class_words[0] ? class_words[c] : "?";
}

bool ll_rule_parse(const char *text, struct ll_rule *r)
{
    const char *colon = strchr(text, ':');
    if (!colon)
        return false;
    size_t len = (size_t)(colon - text);
    if (len == strlen(class_words[LL_TCP_CONNECT]) &&
        memcmp(text, class_words[LL_TCP_CONNECT], len) == 0) {
        if (!ll_port(colon + 1))
            return false;
        *r = (struct ll_rule){LL_TCP_CONNECT, colon + 1, NULL};
        return true;
    }
    if (colon[1] != '/' || strchr(colon, '\n'))
        return false;
    for (size_t c = 0; c < sizeof class_words / sizeof class_words[0]; c++)
        if (strlen(class_words[c]) == len && memcmp(text, class_words[c], len) == 0) {
            r->cls = (enum ll_class)c;
            r->path = colon + 1;
            r->origin = NULL;
            return true;
        }
    return false;
}

/* Access rights known at Landlock ABI abi. */
static unsigned long long ll_handled(int abi)
{
    unsigned long long a = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        a |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        a |= LL_TRUNCATE;
    if (abi >= 5)
        a |= LL_IOCTL_DEV;
    return a;
}

/* The rights class c grants beneath a directory, or on a file (dir false). */
static unsigned long long ll_rights(enum ll_class c, unsigned long long handled, bool dir)
{
    const unsigned long long file = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                    LANDLOCK_ACCESS_FS_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV;
    unsigned long long r = 0;
    switch (c) {
    case LL_LIST: r = LANDLOCK_ACCESS_FS_READ_DIR; break;
    case LL_RO:
        r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
            LANDLOCK_ACCESS_FS_EXECUTE;
        break;
    case LL_RW: r = handled; break;
    case LL_PROC:
        r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
            LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_EXECUTE | LL_TRUNCATE;
        break;
    case LL_TCP_CONNECT: break; /* not a path rule */
    }
    r &= handled;
    return dir ? r : r & file;
}

/* Fill err with what failed (before, path, after) and errno's text; returns -1, errno kept. */
static int failed(char *err, size_t errlen, const char *before, const char *path,
                  const char *after)
{
    int e = errno;
    snprintf(err, errlen, "%s%s%s: %s", before, path, after, strerror(e));
    errno = e;
    return -1;
}

int landlock_ruleset(const struct ll_rule *rules, size_t n, int abi, char *err, size_t errlen)
{
    unsigned long long handled = ll_handled(abi);
    bool net = false;
    for (size_t i = 0; i < n; i++)
        net = net || (rules[i].cls == LL_TCP_CONNECT && abi >= LANDLOCK_NET_ABI);
    struct ll_attr attr = {handled, net ? LL_ACCESS_NET_CONNECT_TCP : 0,
                           abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL : 0};
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(unsigned long long)
                                                    : sizeof(unsigned long long);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0)
        return failed(err, errlen, "creating the Landlock ruleset", "", "");
    for (size_t i = 0; i < n; i++) {
        if (rules[i].cls == LL_TCP_CONNECT) {
            struct ll_net_port_attr np = {LL_ACCESS_NET_CONNECT_TCP, ll_port(rules[i].path)};
            if (net && (!np.port || syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np,
                                            0) != 0)) {
                if (!np.port)
                    errno = EINVAL;
                failed(err, errlen, "adding the Landlock rule for TCP port ", rules[i].path, "");
                goto fail;
            }
            continue; /* below ABI 4: skipped, the network namespace holds */
        }
        int fd = open(rules[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            continue; /* a ro_bind_try that was skipped */
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            failed(err, errlen, "opening ", rules[i].path, " for its Landlock rule");
            goto fail;
        }
        struct landlock_path_beneath_attr pb = {
            .allowed_access = ll_rights(rules[i].cls, handled, S_ISDIR(st.st_mode)),
            .parent_fd = fd};
        int r = pb.allowed_access
                    ? (int)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0)
                    : 0;
        if (r != 0)
            failed(err, errlen, "adding the Landlock rule for ", rules[i].path, "");
        close(fd);
        if (r != 0)
            goto fail;
    }
    return rs;
fail: {
    int e = errno;
    close(rs);
    errno = e;
    return -1;
}
}

int landlock_restrict(int rs)
{
    int r = (int)syscall(SYS_landlock_restrict_self, rs, 0);
    int e = errno;
    close(rs);
    errno = e;
    return r == 0 ? 0 : -1;
}
