/*
 * policy.h: the sandbox policy model.
 *
 * A policy is what the Lua layers build and what a backend enforces: an
 * ordered list of mount operations, the work directory, the network flag,
 * the environment (names passed through from the host and forced values)
 * and the uid/gid inside.  Every entry carries its provenance, the
 * "script:line" that caused it, so `explain` can say why each flag exists.
 *
 * Every mutation validates its input and refuses what an invariant of
 * DESIGN.md forbids; policy_check_invariants() runs the whole set once more
 * after all scripts, whatever they did.  Plain C: no lua_State here.
 */
#ifndef SANDLOT_POLICY_H
#define SANDLOT_POLICY_H

#include "egress.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SANDLOT_NOBODY 65534u

/* An error message filled in by a refused operation. */
struct sl_err {
    char msg[1024];
};

/* Fill e with the message; returns false (for `return sl_fail(e, ...)`). */
bool sl_fail(struct sl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum mount_kind {
    MOUNT_RO_BIND,     /* --ro-bind SRC DST */
    MOUNT_RW_BIND,     /* --bind SRC DST */
    MOUNT_RO_BIND_TRY, /* --ro-bind-try SRC DST: skipped when SRC is absent */
    MOUNT_TMPFS,       /* --tmpfs DST */
    MOUNT_DIR,         /* --dir DST */
    MOUNT_SYMLINK,     /* --symlink SRC(target text) DST */
    /*
     * Placed by the C core only (policy_place_masks), never by a script: an
     * empty read-only placeholder over a sealed or protected path that a
     * bound ancestor would expose.  src is NULL.
     */
    MOUNT_MASK_DIR,    /* an empty read-only directory */
    MOUNT_MASK_FILE    /* an empty read-only file */
};

struct mount {
    enum mount_kind kind;
    char *src;    /* host path; link text for symlinks; NULL for tmpfs/dir */
    char *dst;    /* path inside the sandbox */
    char *origin; /* "script:line" */
};

struct envvar {
    char *name;
    char *value;  /* NULL: pass the host's value through if it is set */
    char *origin;
};

/*
 * Resource limits: rlimits set (soft = hard) before bwrap starts, and the
 * sizes of the /tmp, /work and /dev/shm tmpfs.  LIMIT_UNLIMITED leaves a
 * limit as inherited (for tmp/work: the kernel's default, half of memory).
 */
enum limit {
    LIMIT_NOFILE, LIMIT_NPROC, LIMIT_AS, LIMIT_DATA, LIMIT_CPU, LIMIT_FSIZE, LIMIT_CORE,
    LIMIT_TMP, LIMIT_WORK, LIMIT_SHM, LIMIT_COUNT
};
/* Whether a limit is a tmpfs size rather than an rlimit. */
#define LIMIT_IS_SIZE(l) ((l) == LIMIT_TMP || (l) == LIMIT_WORK || (l) == LIMIT_SHM)
/* /dev/shm's default size: Docker's. */
#define SHM_DEFAULT_BYTES (64LL << 20)
#define LIMIT_UNLIMITED (-1LL)

const char *limit_name(enum limit l);
bool limit_parse_name(const char *s, enum limit *out);
/* Parse "1024", "64M", "2G", "unlimited" (suffixes K M G T, powers of 1024). */
bool limit_parse_value(const char *s, long long *out);

/*
 * Seals: a layer can fix part of the policy so later layers (the user's,
 * --policy scripts, --policy-json, the REPL) can only narrow it.
 */
enum seal_kind {
    SEAL_NETWORK, /* the network stays off: no host mode, no allowlist rule */
    SEAL_EGRESS,  /* the egress allowlist is capped: no rule added, no host mode */
    SEAL_PATH,    /* nothing at or below arg on the host is ever bound */
    SEAL_ENV,     /* the variable arg (or, ending in '*', a prefix) never enters */
    /*
     * Protected host paths (the built-in layer's list), checked over the
     * whole policy after all scripts, so an opening counts wherever it sits:
     */
    SEAL_PROTECT,       /* no bind at or below arg; a read-write bind of an
                           ancestor is refused, a read-only one masks it */
    SEAL_PROTECT_WRITE, /* no read-write bind at, below or above arg */
    SEAL_OPEN           /* an opening (built-in and system layers only):
                           binds at or below arg pass the protections */
};

struct seal {
    enum seal_kind kind;
    char *arg;
    char *real;   /* path kinds: arg resolved when the seal was placed (realpath), or
                     NULL when it does not exist on the host */
    char *origin;
};

/* An extra syscall denial a script added. */
struct denial {
    char *name;
    int action; /* an errno, or -1: kill the process */
    char *origin;
};

/* A note a script left for explain (e.g. why `llm` allows nothing). */
struct note {
    char *text;
    char *origin;
};

struct policy {
    struct mount *mounts;
    size_t nmounts, capmounts;
    struct envvar *env;
    size_t nenv, capenv;
    char *work_host;   /* NULL: a private tmpfs at /work */
    char *work_origin;
    bool network;
    char *network_origin;
    struct egress_rules egress; /* allowlist rules (policy_allow_host), with origins */
    struct note *notes;
    size_t nnotes, capnotes;
    unsigned uid, gid;
    char *id_origin;
    long long limit[LIMIT_COUNT];
    char *limit_origin[LIMIT_COUNT]; /* NULL: sandlot's default */
    bool seccomp_strict; /* profile "strict" instead of "default" */
    char *seccomp_origin;
    struct denial *denials;
    size_t ndenials, capdenials;
    struct seal *seals;
    size_t nseals, capseals;
};

const char *mount_kind_name(enum mount_kind k);
/* Parse a kind name ("ro", "rw", "ro-try", "tmpfs", "dir", "symlink"). */
bool mount_kind_parse(const char *s, enum mount_kind *out);

struct policy *policy_new(void);
void policy_free(struct policy *p);

/*
 * Path rules (invariant 5).  len is the byte length, so an embedded NUL
 * is seen.  A single trailing slash is tolerated and removed in *out
 * (a fresh copy the caller frees); everything else that is not already
 * normal (relative, ".", "..", "//", newline, NUL) is refused.
 */
bool path_normalise(const char *p, size_t len, char **out, struct sl_err *e);
/* True when path equals dir or lies below it (both normalised). */
bool path_within(const char *path, const char *dir);
/* Sandbox targets never /, nor at or below /proc, /dev; /work itself is --work's. */
bool target_allowed(const char *dst, struct sl_err *e);

/* A bind source must not be under /proc nor go through a symlink. */
bool bind_source_allowed(const char *src, struct sl_err *e);

/*
 * Open a bind source for mounting, as an O_PATH descriptor (close-on-exec),
 * for both backends.  ro/rw binds (and --work, kind MOUNT_RW_BIND) never
 * through a symlink or a /proc magic link (openat2 RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS), so what is mounted is what was checked, whatever
 * a racing host process renames.  MOUNT_RO_BIND_TRY follows symlinks but no
 * magic link, and an absent source returns -1 with e->msg empty: skip it.
 * Any other failure returns -1 with the message.
 */
int bind_source_open(const char *src, enum mount_kind k, struct sl_err *e);

/* Environment rules (invariant 7). */
bool env_name_allowed(const char *name, size_t len, struct sl_err *e);

/*
 * Mutations.  Each validates, copies its arguments, records origin and
 * returns false with a message when refused (nothing is changed then).
 * src/dst carry lengths for the NUL check.
 */
bool policy_add_mount(struct policy *p, enum mount_kind k, const char *src, size_t srclen,
                      const char *dst, size_t dstlen, const char *origin, struct sl_err *e);
/* Remove every mount whose target is dst; returns how many went. */
size_t policy_remove_mounts(struct policy *p, const char *dst);
bool policy_set_work(struct policy *p, const char *host, size_t len, const char *origin,
                     struct sl_err *e);
bool policy_set_network(struct policy *p, bool on, const char *origin, struct sl_err *e);
/*
 * Egress (DESIGN.md, network egress).  The mode is derived: host when the
 * network flag is on (the rules are then moot: explain says so),
 * allowlist when there is at least one rule, none otherwise.
 */
enum egress_mode policy_egress_mode(const struct policy *p);
/* The origin of what the C core adds in allowlist mode (proxy variables, listener, rule). */
#define ORIGIN_EGRESS "sandlot: egress allowlist"
/* EGRESS_PORT as text. */
#define EGRESS_PORT_TEXT EGRESS_STR_(EGRESS_PORT)
#define EGRESS_STR_(x) EGRESS_STR2_(x)
#define EGRESS_STR2_(x) #x
const char *egress_mode_name(enum egress_mode m);
/*
 * Add one allowlist rule (egress_rule_parse's checks: an exact name,
 * "*.domain", an IP literal or CIDR range; ports 1..65535, NULL/0: {443}).
 * Refused under a network or egress seal.
 */
bool policy_allow_host(struct policy *p, const char *pattern, const uint16_t *ports,
                       size_t nports, const char *origin, struct sl_err *e);
/* A note for explain (one line of text). */
bool policy_add_note(struct policy *p, const char *text, size_t len, const char *origin,
                     struct sl_err *e);
/*
 * Place a seal; refused when the policy already breaks it.  The protection
 * kinds (SEAL_PROTECT, _WRITE, SEAL_OPEN) are checked by
 * policy_check_invariants instead, over the finished policy.
 */
bool policy_seal(struct policy *p, enum seal_kind kind, const char *arg, size_t arglen,
                 const char *origin, struct sl_err *e);
bool policy_set_ids(struct policy *p, long uid, long gid, const char *origin, struct sl_err *e);
/* value NULL: allowlist the name; otherwise force NAME=value. Replaces. */
bool policy_set_env(struct policy *p, const char *name, size_t nlen, const char *value,
                    size_t vlen, const char *origin, struct sl_err *e);
/* Set a limit; core may only be 0, and values are never negative. */
bool policy_set_limit(struct policy *p, enum limit l, long long value, const char *origin,
                      struct sl_err *e);

/* The seccomp profile: "default" or "strict". */
bool policy_set_seccomp(struct policy *p, const char *profile, const char *origin,
                        struct sl_err *e);
/* Deny one more syscall ("EPERM", "ENOSYS", "EACCES", "EAFNOSUPPORT" or "kill"). */
bool policy_deny_syscall(struct policy *p, const char *name, const char *action,
                         const char *origin, struct sl_err *e);

/* The seal that keeps the variable name out, or NULL. */
const struct seal *policy_env_sealed(const struct policy *p, const char *name);

/*
 * Masks (DESIGN.md, mount precedence): for every bind (any kind, --work
 * included) and every sealed or protected host path strictly below its
 * source that exists, an empty read-only placeholder of the same type at
 * the corresponding sandbox path, with the seal's origin.  Replaces the
 * masks placed by an earlier call, so it may run again after the policy
 * changed (the REPL).  Run after policy_check_invariants; it looks at the
 * host (realpath, lstat), once, so both backends render the same plan.
 */
void policy_place_masks(struct policy *p);

/* Remove a name from the allowlist and forced values; true if present. */
bool policy_unset_env(struct policy *p, const char *name);
const struct envvar *policy_find_env(const struct policy *p, const char *name);

/*
 * The order every backend mounts the policy's entries in (DESIGN.md, mount
 * precedence: the most specific path wins, whatever its mode): by the depth
 * of the target, parents first, so fs-write:/p/build under fs-read:/p is
 * writable and fs-read:/p/src under fs-write:/p read-only; at one depth
 * (the same target bound twice) structure (tmpfs, dirs, symlinks), then rw,
 * then ro binds, so read-only wins as in noether; the policy's order
 * otherwise.  /work goes where its depth puts it: after the top-level
 * entries, before everything deeper, so binds below /work come after it.
 * The masks come last, shallowest first, so nothing covers one.  A
 * read-only bind below a read-only bind of the same host tree at the same
 * place (fs-read:/p/src under fs-read:/p, /etc/localtime under a bound
 * /etc) shows nothing its parent does not: it is left out, as noether's
 * order hid it.  Fills order[0 .. return value) with mount indices (room
 * for p->nmounts); *before_work of them come before /work.
 */
size_t policy_mount_order(const struct policy *p, size_t *order, size_t *before_work);

/*
 * The kernel's knobs under /proc that both backends cover with a read-only
 * bind of themselves right after mounting /proc, in this order (NULL
 * ends it); the optional ones may be missing from a kernel.
 */
struct proc_cover {
    const char *path;
    bool optional;
};
extern const struct proc_cover policy_proc_covers[];

/*
 * The invariants, checked after all scripts.  protected_paths lists host
 * paths that must never become writable inside (policies.d directories,
 * the sandlot binary); NULL-terminated, may be NULL.
 */
bool policy_check_invariants(const struct policy *p, const char *const *protected_paths,
                             struct sl_err *e);

#endif
