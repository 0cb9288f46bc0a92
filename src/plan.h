/*
 * plan.h: the sandbox as one ordered, backend-neutral list of steps.
 *
 * plan_build() is a pure function of the policy (no host probe, no Lua):
 * every step the sandbox takes, in order, each with the origin that caused
 * it.  This module alone owns the fixed layout (/proc and its read-only
 * knobs, /dev with a sized /dev/shm, a sized /tmp, the identity files,
 * /work as a bind or a sized tmpfs, masks, the read-only root, the working
 * directory), the
 * invariant steps and the mount order (policy_mount_order, DESIGN.md's
 * precedence rule).  The backends only translate it: bwrap.c renders it
 * to bwrap's argv, native.c executes it (and renders it for `explain`),
 * so both build the same sandbox by construction.
 */
#ifndef SANDLOT_PLAN_H
#define SANDLOT_PLAN_H

#include "child.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>

/* The origins of what sandlot does whatever the scripts did. */
#define ORIGIN_INVARIANT "sandlot: invariant"
#define ORIGIN_BASELINE "sandlot: baseline"

enum step_op {
    /* the sandbox's namespaces and identity */
    STEP_NAMESPACES, /* new user, mount, pid, ipc, uts, cgroup namespaces */
    STEP_NETWORK,    /* a new network namespace, or the host's (plan->network) */
    STEP_MAP_IDS,    /* the invoker appears as plan->uid/plan->gid inside */
    /* the filesystem, in mount order */
    STEP_ROOT,       /* a private tmpfs that becomes the root */
    STEP_PROC,       /* proc of the new pid namespace */
    STEP_PROC_RO,    /* one of its knobs read-only (dst; kind MOUNT_RO_BIND_TRY: optional) */
    STEP_DEV,        /* a minimal /dev */
    STEP_TMPFS,      /* a tmpfs at dst (size: LIMIT_UNLIMITED for the default) */
    STEP_DIR,        /* a directory at dst */
    STEP_SYMLINK,    /* a symlink dst -> src */
    STEP_BIND,       /* a bind of host src at dst; kind MOUNT_RO_BIND, _RW_BIND or _RO_BIND_TRY */
    STEP_FILE,       /* a read-only file at dst holding the text src: a generated file (kind
                        MOUNT_RO_BIND), or a file mask's empty placeholder (MOUNT_MASK_FILE) */
    STEP_MASK,       /* an empty read-only directory over dst (kind MOUNT_MASK_DIR) */
    STEP_REMOUNT_RO, /* the mount at dst read-only ("/dev", then the root "/") */
    STEP_PIVOT,      /* pivot_root into the new root, detach the host's */
    STEP_LOOPBACK,   /* bring lo up in a new network namespace */
    STEP_EGRESS,     /* allowlist mode: listen on 127.0.0.1:EGRESS_PORT inside, hand the
                        socket out to sandlot (which serves it from the host), close it */
    STEP_CHDIR,      /* the working directory dst */
    /* the command's process */
    STEP_SESSION,    /* setsid */
    STEP_PDEATH,     /* die with the sandbox's parent */
    STEP_LANDLOCK,   /* create the Landlock ruleset */
    STEP_RULE,       /* one Landlock rule (policy_rules) at dst: kind is an enum ll_class */
    STEP_NNP,        /* PR_SET_NO_NEW_PRIVS */
    STEP_CAPS,       /* drop every capability */
    STEP_RESTRICT,   /* enforce the Landlock ruleset */
    STEP_SECCOMP,    /* load the seccomp filter */
    STEP_CLEARENV,   /* an empty environment ... */
    STEP_SETENV,     /* ... and the policy's variables (src name, dst value or NULL: host's) */
    STEP_EXEC        /* execute the command */
};

struct step {
    enum step_op op;
    int kind;          /* BIND, MASK, PROC_RO: enum mount_kind; RULE: enum ll_class */
    const char *src;   /* borrowed from the policy (or static) */
    const char *dst;
    long long size;    /* TMPFS: bytes, or LIMIT_UNLIMITED */
    const char *origin;
};

struct plan {
    struct step *steps;
    size_t n, cap;
    bool network;       /* STEP_NETWORK shares the host's */
    bool egress;        /* allowlist mode: the plan has STEP_EGRESS */
    unsigned uid, gid;  /* STEP_MAP_IDS: the ids inside */
    char *passwd, *group; /* the generated /etc/passwd and /etc/group (STEP_FILE texts) */
    struct child_limit limits[LIMIT_COUNT]; /* the rlimits, set before the filter */
    size_t nlimits;
};

/*
 * The variables the C core sets in allowlist mode, after every script
 * (origin ORIGIN_EGRESS): the proxy for HTTP(S) and SOCKS5 clients, upper
 * and lower case, and NO_PROXY for the sandbox's own loopback.  A policy
 * variable of one of these names is left out in that mode.
 */
struct egress_var {
    const char *name, *value;
};
extern const struct egress_var plan_egress_vars[];
extern const size_t plan_negress_vars;

/* The steps for policy p (borrowing its strings; p outlives the plan). */
void plan_build(const struct policy *p, struct plan *out);
void plan_free(struct plan *plan);

/* The policy's rlimits (the sized ones: the others stay as inherited); returns how many. */
size_t plan_limits(const struct policy *p, struct child_limit out[LIMIT_COUNT]);

/*
 * What a launch opened for one plan step (an array indexed like the
 * plan's steps): a bind's source, or a STEP_FILE's text in a memfd.
 */
enum source_state {
    SOURCE_NONE,   /* the step has no source */
    SOURCE_OPEN,   /* fd is its descriptor */
    SOURCE_ABSENT  /* an ro_bind_try source that was absent: the step is left out */
};

struct source {
    enum source_state state;
    int fd;
};

#endif
