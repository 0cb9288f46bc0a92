/*
 * filter.h: the seccomp syscall filter, generated with libseccomp for the native
 * architecture only (any other architecture's syscall kills the process)
 * and handed to bwrap through --seccomp FD.
 *
 * The base list (profile "default") refuses what Flatpak's and Docker's
 * default profiles refuse; "strict" refuses more.  Scripts may pick
 * "strict" and add denials; no operation removes a base entry.
 */
#ifndef SANDLOT_FILTER_H
#define SANDLOT_FILTER_H

#include "policy.h"

/* True when name is a syscall of the native architecture. */
bool seccomp_syscall_known(const char *name);

/* Parse "EPERM", "ENOSYS", "EACCES" or "kill"; -1 stands for kill. */
bool seccomp_action_parse(const char *s, int *out);
const char *seccomp_action_name(int action);

/*
 * Write the BPF program for p into a fresh memfd, rewound; returns the
 * descriptor (close-on-exec) or -1 with a message in *e.
 */
int seccomp_program_fd(const struct policy *p, struct sl_err *e);

/* Where a rule of the filter comes from. */
enum rule_source { RULE_BASE, RULE_STRICT, RULE_EXTRA };

/*
 * Describe the filter, one entry per call of emit: the syscall, what it
 * gets, the condition if any ("with a CLONE_NEW* flag"), its source.
 */
void seccomp_describe(const struct policy *p,
                      void (*emit)(void *ud, const char *syscall, const char *action,
                                   const char *when, const char *origin,
                                   enum rule_source source),
                      void *ud);

#endif
