/*
 * run.h: start the sandboxed command and supervise it: signal forwarding,
 * the timeout, and the exit-status mapping of DESIGN.md.
 */
#ifndef SANDLOT_RUN_H
#define SANDLOT_RUN_H

#include "policy.h"

struct run_opts {
    const char *bwrap_path;  /* for the bwrap backend */
    const char *exec_helper; /* host path of sandlot-exec */
    double timeout;          /* seconds; 0 = none */
};

/*
 * Run cmd under bwrap with policy p.  Returns the exit status sandlot
 * should exit with: the command's own, 128+N, 124 on timeout, 125 when
 * the sandbox could not be set up (with the reason printed).
 */
int run_bwrap(const struct policy *p, const struct run_opts *o, char *const *cmd);

/* Run cmd with no sandbox (explicit opt-in), environment per policy. */
int run_unsandboxed(const struct policy *p, const struct run_opts *o, char *const *cmd);

/*
 * Explain why bwrap may have failed: when unprivileged user namespaces
 * are unavailable, print the cause and the fix and return true.
 */
bool diagnose_userns(void);

#endif
