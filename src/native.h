/*
 * native.h: the native backend.  It executes the plan (plan.h) that the
 * bwrap backend renders, enforced by sandlot itself: a child cloned into
 * fresh namespaces builds a private tmpfs root with the plan's mounts,
 * pivots into it, and then forks the command under Landlock, no-new-privs,
 * no capabilities and the seccomp filter, staying behind as the
 * namespace's pid 1 (the reaper).
 *
 * `explain` prints the plan's steps (native_describe) and the child walks
 * the same steps (native_child), so what explain shows is what runs.
 */
#ifndef SANDLOT_NATIVE_H
#define SANDLOT_NATIVE_H

#include "cmdline.h"
#include "landlock.h"
#include "plan.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * The plan as explain shows it: one group per step, words and origin,
 * then the command.  host_env gives values passed through (NULL: none).
 */
void native_describe(const struct plan *pl, char *const *cmd, char *const *host_env,
                     struct cmdline *out);

/* What the cloned child needs besides the plan. */
struct native_ctx {
    const struct plan *plan;
    unsigned outer_uid, outer_gid; /* the invoker's effective ids */
    int ready_fd;                  /* the command writes one byte here before exec */
    int alive_fd;                  /* read end of a pipe the parent holds open */
    int filter_fd;                 /* read end of a pipe: the seccomp BPF program's length,
                                      then the program (NATIVE_FILTER_MAX) */
    char **envp;                   /* the command's environment */
    char *const *cmd;
    /*
     * Root invoker (identity.h): sandlot maps the ids from outside and
     * opens every bind source itself.  ids_fd is the read end of a pipe
     * that gets one byte once the maps are written; trees holds, per plan
     * step, the idmapped tree of each STEP_BIND (SOURCE_ABSENT: an absent
     * ro_bind_try source).  Otherwise ids_fd is -1 and trees NULL: the
     * child maps the invoker's own ids and opens the sources.
     */
    int ids_fd;
    const struct source *trees;
    /*
     * Allowlist mode (plan->egress): this side of a unix socketpair;
     * STEP_EGRESS sends the listener over it (child_egress_listen), and
     * the command's process waits on it for the proxy's start
     * (child_egress_started) before the ready byte.  -1 otherwise.
     */
    int egress_fd;
    /* A pseudo-terminal for the stage (child_pty): the unix socket the
     * master goes out on, and which standard descriptors get the slave;
     * -1 and 0: none (the descriptors pass through as they are). */
    int pty_sock;
    unsigned pty_mask;
};

/*
 * The seccomp program goes to the sandbox over filter_fd as its length
 * (a uint32_t, host order), then that many bytes, at most this many.
 */
#define NATIVE_FILTER_MAX (1 << 20)

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
