/*
 * bwrap.h: the bubblewrap backend.  bwrap_build() renders the plan
 * (plan.h) and a command as the bwrap command line, a pure function of its
 * inputs; bwrap_find() is the trusted lookup of the bwrap binary.
 */
#ifndef SANDLOT_BWRAP_H
#define SANDLOT_BWRAP_H

#include "cmdline.h"
#include "plan.h"

#include <stdbool.h>

/* What the bwrap command line is for. */
enum bwrap_mode {
    BWRAP_RUN,     /* a launch: descriptors for the filter, the helper and each source */
    BWRAP_EXPLAIN, /* explain: placeholders for the descriptors, sources by path */
    BWRAP_ARGV     /* explain --argv, runnable: no filter, no helper, sources by path */
};

struct bwrap_inputs {
    enum bwrap_mode mode;
    const char *bwrap_path;        /* argv[0] */
    int helper_fd;                 /* BWRAP_RUN: open descriptor of sandlot-exec */
    int ready_fd;                  /* BWRAP_RUN: fd number the helper reports on */
    int seccomp_fd;                /* BWRAP_RUN: the filter's descriptor */
    const struct source *sources;  /* BWRAP_RUN: per plan step, what the launch opened */
    char *const *host_env;         /* environ-style list the allowlist reads from */
    int egress_fd;                 /* BWRAP_RUN, allowlist mode (plan->egress): the helper's
                                      end of the socketpair the listener leaves by; else -1 */
    int pty_sock;                  /* BWRAP_RUN: the helper's --pty socket (child_pty); -1: none */
    unsigned pty_mask;             /* ... and the standard descriptors that get the slave */
};

/*
 * Render the plan as bwrap's command line: the bwrap path, the
 * process-wide options (namespaces, session, capabilities, environment,
 * filter, ids), then the filesystem steps in the plan's order, the
 * environment, then "--" and the command.  Outside BWRAP_ARGV the command
 * is prefixed by "/proc/self/fd/N READY [--egress-fd=E] RULE... --" (E in
 * allowlist mode: the helper creates the proxy's listener and hands it
 * out over E before anything else; see child_egress_listen): the helper runs
 * through the descriptor bwrap inherits, so it needs no mount of its own,
 * and enforces the plan's Landlock rules (as CLASS:PATH words, each its
 * own group with its origin) before it executes the command; with a
 * pty_sock, "--pty SOCK MASK" comes before the rules.  Fills *out
 * (freed with cmdline_free).  Never fails: the policy is valid by
 * construction.
 */
void bwrap_build(const struct plan *pl, const struct bwrap_inputs *in, char *const *cmd,
                 struct cmdline *out);

/* Trusted, root-owned locations searched before PATH. */
extern const char *const bwrap_trusted_paths[];

/*
 * Find bwrap: the trusted locations first, then PATH (with *from_path set
 * so the caller can warn).  Returns a malloc'd path or NULL.
 */
char *bwrap_find(const char *path_env, bool *from_path);

#endif
