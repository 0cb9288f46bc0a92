/*
 * bwrap.h: the bubblewrap backend.  bwrap_build() turns a policy and a
 * command into the bwrap command line, a pure function of its inputs;
 * bwrap_find() is the trusted lookup of the bwrap binary.
 */
#ifndef SANDLOT_BWRAP_H
#define SANDLOT_BWRAP_H

#include "policy.h"

#include <stdarg.h>

/*
 * A command line as flag groups: each group is one flag with its
 * arguments, and the origin ("script:line" or "sandlot: invariant") that
 * caused it, so `explain` can print one flag per line with its cause.
 */
struct group {
    size_t start, count; /* words[start .. start+count) */
    char *origin;
};

struct cmdline {
    char **words;
    size_t nwords, capwords;
    struct group *groups;
    size_t ngroups, capgroups;
    size_t options_end; /* words before this index are bwrap options */
};

struct bwrap_inputs {
    const char *bwrap_path;   /* argv[0] */
    int helper_fd;            /* open descriptor of sandlot-exec; -1 none (--argv),
                                 -2 placeholder (explain) */
    int ready_fd;             /* fd number the helper reports on */
    int seccomp_fd;           /* the filter's descriptor; -1 none (--argv), -2 placeholder */
    const int *bind_fds;      /* per mount: an O_PATH descriptor of its source, -1 (not a
                                 bind) or -2 (an absent ro_bind_try source: left out);
                                 NULL: sources by path (explain) */
    int work_fd;              /* descriptor of work_host, or -1 */
    char *const *host_env;    /* environ-style list the allowlist reads from */
};

/*
 * Build the command: invariant flags, namespaces, identity, the fixed
 * skeleton (/proc, /dev, /tmp), the policy's mounts in the order of
 * DESIGN.md (structure, rw binds, ro binds, then /work), the environment,
 * `--remount-ro /`, then "--" and the command.  With a helper descriptor
 * the command is prefixed by "/proc/self/fd/N READY RULE... --": the helper
 * runs through the descriptor bwrap inherits, so it needs no mount of its
 * own, and enforces the Landlock rules (policy_rules, as CLASS:PATH words,
 * each its own group with its origin) before it executes the command.
 * Fills *out (freed with cmdline_free).  Never fails: the policy is valid
 * by construction.
 */
void bwrap_build(const struct policy *p, const struct bwrap_inputs *in, char *const *cmd,
                 struct cmdline *out);
void cmdline_free(struct cmdline *c);

/* Append one group: the words given (NULL-terminated) with their origin. */
void cmdline_group(struct cmdline *c, const char *origin, ...);
void cmdline_vgroup(struct cmdline *c, const char *origin, va_list ap);
/* Append the command's words as one group, origin "command". */
void cmdline_command(struct cmdline *c, char *const *cmd);

/* Trusted, root-owned locations searched before PATH. */
extern const char *const bwrap_trusted_paths[];

/*
 * Find bwrap: the trusted locations first, then PATH (with *from_path set
 * so the caller can warn).  Returns a malloc'd path or NULL.
 */
char *bwrap_find(const char *path_env, bool *from_path);

/* The value of NAME in an environ-style list, or NULL. */
const char *env_lookup(char *const *env, const char *name);

#endif
