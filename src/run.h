/*
 * run.h: start the sandboxed command and supervise it: signal forwarding,
 * the timeout, and the exit-status mapping of DESIGN.md.
 */
#ifndef SANDLOT_RUN_H
#define SANDLOT_RUN_H

#include "policy.h"

/* How the run ended, for the status report. */
struct run_result {
    const char *class; /* "exited", "signaled", "timeout", "setup_error" */
    int exit_code, signal;
    double ready, ended; /* CLOCK_MONOTONIC seconds; ready 0: never started */
};

/* CLOCK_MONOTONIC in seconds. */
double monotonic_seconds(void);

struct run_opts {
    const char *bwrap_path;  /* for the bwrap backend */
    const char *exec_helper; /* host path of sandlot-exec */
    double timeout;          /* seconds; 0 = none */
    bool may_fall_back;      /* native picked by auto: a refused clone returns -1 */
    unsigned host_uid, host_gid; /* root invokers: --host-id (identity.h); 0: default */
};

/*
 * Run cmd under bwrap with policy p.  Returns the exit status sandlot
 * should exit with: the command's own, 128+N, 124 on timeout, 125 when
 * the sandbox could not be set up (with the reason printed).
 */
int run_bwrap(const struct policy *p, const struct run_opts *o, char *const *cmd,
              struct run_result *res);

/*
 * Run cmd under the native backend (native.h), same statuses as run_bwrap.
 * With o->may_fall_back, a kernel that refuses the namespaces returns -1
 * before anything ran, so auto can use bwrap instead.
 */
int run_native(const struct policy *p, const struct run_opts *o, char *const *cmd,
               struct run_result *res);

/* Set the policy's rlimits (soft = hard); exits 125 when one cannot be set. */
void run_apply_limits(const struct policy *p);

/* Run cmd with no sandbox (explicit opt-in), environment per policy. */
int run_unsandboxed(const struct policy *p, const struct run_opts *o, char *const *cmd,
                    struct run_result *res);

/*
 * Explain why bwrap may have failed: when unprivileged user namespaces
 * are unavailable, print the cause and the fix and return true.
 */
bool diagnose_userns(void);

#endif
