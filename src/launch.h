/*
 * launch.h: the one gate every launch goes through (`sandlot run`, the
 * REPL's run{}, and any other front end): it checks the invariants itself,
 * opens the bind sources, starts the sandbox with the chosen backend and
 * supervises it (signal forwarding, the timeout, the exit-status mapping
 * of DESIGN.md, the relay of the stage's pty: pty.h).  It never exits the process: every failure before the
 * command starts is a setup error, printed as one line and returned as
 * status 125 with the result saying why, so a long-lived caller (the
 * REPL) carries on.
 */
#ifndef SANDLOT_LAUNCH_H
#define SANDLOT_LAUNCH_H

#include "policy.h"
#include "pty.h"

#include <stdbool.h>

enum backend { BACKEND_BWRAP, BACKEND_NATIVE, BACKEND_NONE };

/* "bwrap", "native", "none". */
const char *backend_name(enum backend be);

struct launch_opts {
    enum backend backend;
    bool may_fall_back;          /* native picked by auto: a kernel that refuses its
                                    namespaces falls back to bwrap before anything ran */
    const char *bwrap_path;      /* NULL: looked up when bwrap is needed */
    const char *exec_helper;     /* host path of sandlot-exec; NULL: not found */
    const char *const *protected_paths; /* policy_check_invariants' list (NULL-terminated) */
    double timeout;              /* seconds; 0 = none */
    double kill_after;           /* the grace between SIGTERM (or a forwarded signal) and
                                    SIGKILL, seconds; 0: SIGKILL at once */
    unsigned host_uid, host_gid; /* root invokers: --host-id (identity.h); 0: default */
    enum pty_mode pty;           /* --pty, --no-pty; PTY_AUTO: when stdin is a terminal */
};

/* How the run ended, for the status report. */
struct run_result {
    const char *class;   /* "exited", "exec_failed" (126/127: the command never ran),
                            "signaled", "timeout", "setup_error" */
    bool exec_failed;    /* the sandbox's exec of the command failed */
    int exit_code, signal;
    double ready, ended; /* CLOCK_MONOTONIC seconds; ready 0: never started */
    const char *backend; /* the backend that really ran (auto may fall back) */
    char message[1024];  /* setup_error: why, when sandlot knows (else the sandbox said it) */
    char *egress;        /* allowlist mode: the proxy's audit as a JSON array (malloc'd,
                            the caller frees it); NULL otherwise */
};

/*
 * Check p's invariants (with o->protected_paths) and place its masks, then
 * run cmd in the sandbox o asks for, putting the terminal's modes back
 * afterwards.  Returns the status sandlot exits with: the command's own,
 * 128+N, 124 on timeout, 125 when the sandbox could not be set up (the
 * reason printed, res->class "setup_error").
 */
int launch(struct policy *p, const struct launch_opts *o, char *const *cmd,
           struct run_result *res);

/*
 * The bwrap binary (bwrap_find), warning when only PATH had it; NULL with
 * e set (what to install) when there is none.  Malloc'd.
 */
char *launch_find_bwrap(struct sl_err *e);

/* The message for a missing exec helper. */
extern const char launch_no_helper[];

/* CLOCK_MONOTONIC in seconds. */
double monotonic_seconds(void);

#endif
