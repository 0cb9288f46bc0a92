/*
 * native.h: the native backend.  The same effective policy as the bwrap
 * backend, enforced by sandlot itself: a child cloned into fresh
 * namespaces builds a private tmpfs root with the policy's mounts (in the
 * bwrap backend's order), pivots into it, and then forks the command
 * under Landlock, no-new-privs, no capabilities and the seccomp filter,
 * staying behind as the namespace's pid 1 (the reaper).
 *
 * native_plan() is a pure function of the policy: the list of steps the
 * child takes, each with the origin that caused it.  `explain` prints
 * that list (native_describe) and the child walks it (native_child), so
 * what explain shows is what runs.
 */
#ifndef SANDLOT_NATIVE_H
#define SANDLOT_NATIVE_H

#include "bwrap.h"
#include "landlock.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>

enum nop {
    /* in the namespace's pid 1, before the command is forked */
    N_NAMESPACES, /* clone into new user, mount, pid, ipc, uts, cgroup namespaces */
    N_NETWORK,    /* a new network namespace, or the host's (src "share") */
    N_MAP_IDS,    /* uid and gid maps: the invoker's ids appear as p->uid/p->gid */
    N_ROOT,       /* a private tmpfs that becomes the root */
    N_PROC,       /* proc of the new pid namespace */
    N_PROC_RO,    /* one of its corners read-only (dst; kind MOUNT_RO_BIND_TRY: optional) */
    N_DEV,        /* a minimal /dev */
    N_TMPFS,      /* a tmpfs at dst (size: 0 default) */
    N_DIR,        /* a directory at dst */
    N_SYMLINK,    /* a symlink dst -> src */
    N_BIND,       /* a bind of src at dst; kind MOUNT_RO_BIND, _RW_BIND or _RO_BIND_TRY */
    N_MASK,       /* an empty read-only placeholder at dst; kind MOUNT_MASK_DIR or _FILE */
    N_REMOUNT_RO, /* the root read-only */
    N_PIVOT,      /* pivot_root into the new root, detach the host's */
    N_LOOPBACK,   /* bring lo up in a new network namespace */
    N_CHDIR,      /* the working directory */
    /* in the command's process */
    N_SESSION,    /* setsid */
    N_PDEATH,     /* die with the parent (pid 1) */
    N_LANDLOCK,   /* create the Landlock ruleset, scoped where the ABI allows */
    N_RULE,       /* one Landlock rule (policy_rules): kind is an enum ll_class */
    N_NNP,        /* PR_SET_NO_NEW_PRIVS */
    N_CAPS,       /* drop every capability: effective, permitted, inheritable, bounding, ambient */
    N_RESTRICT,   /* enforce the Landlock ruleset */
    N_SECCOMP,    /* load the seccomp filter */
    N_CLEARENV,   /* an empty environment ... */
    N_SETENV,     /* ... and the policy's variables (src name, dst value or NULL: host's) */
    N_EXEC        /* execute the command */
};

struct nstep {
    enum nop op;
    int kind;          /* N_BIND: enum mount_kind; N_RULE: enum ll_class */
    const char *src;   /* borrowed from the policy (or static) */
    const char *dst;
    long long size;    /* N_TMPFS: bytes, or LIMIT_UNLIMITED */
    bool work;         /* N_BIND/N_TMPFS: this is /work */
    const char *origin;
};

struct native_plan {
    struct nstep *steps;
    size_t n, cap;
};

/* The steps for policy p (borrowing its strings). */
void native_plan(const struct policy *p, struct native_plan *out);
void native_plan_free(struct native_plan *plan);

/*
 * The plan as explain shows it: one group per step, words and origin,
 * then the command.  host_env gives values passed through (NULL: none).
 */
void native_describe(const struct policy *p, char *const *cmd, char *const *host_env,
                     struct cmdline *out);

/* What the cloned child needs besides the plan. */
struct native_ctx {
    const struct policy *p;
    const struct native_plan *plan;
    unsigned outer_uid, outer_gid; /* the invoker's effective ids */
    int ready_fd;                  /* the command writes one byte here before exec */
    int alive_fd;                  /* read end of a pipe the parent holds open */
    int filter_fd;                 /* read end of a pipe: the seccomp BPF program, then EOF */
    char **envp;                   /* the command's environment */
    char *const *cmd;
    /*
     * Root invoker (identity.h): sandlot maps the ids from outside and
     * opens every bind source itself.  ids_fd is the read end of a pipe
     * that gets one byte once the maps are written; trees holds, per plan
     * step, the idmapped tree of each N_BIND (-1: an absent ro_bind_try).
     * Otherwise ids_fd is -1 and trees NULL: the child maps the invoker's
     * own ids and opens the sources.
     */
    int ids_fd;
    const int *trees;
};

/* The mount attributes (MOUNT_ATTR_*) of a bind of this mount kind. */
unsigned long long native_bind_attrs(int kind);

/* The clone flags for p: every namespace, the network one unless shared. */
unsigned long native_clone_flags(const struct policy *p);

/*
 * Entry of the cloned child (pid 1 of the new pid namespace): build the
 * sandbox, fork the command, reap, exit with the command's status.  Any
 * failure before the command runs prints one line and exits 125.
 */
__attribute__((noreturn)) void native_child(const struct native_ctx *ctx);

/*
 * Whether this kernel offers every layer the native backend needs
 * (unprivileged user namespaces by their sysctls, Landlock, seccomp, the
 * mount API of Linux 5.12).  When not, *why says what is missing.
 */
bool native_available(char *why, size_t whylen);

#endif
