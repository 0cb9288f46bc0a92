/*
 * doctor.h: what the host offers a sandbox, and what to do about a gap.
 * `sandlot doctor` prints it; policy scripts read it as host.checks.
 */
#ifndef SANDLOT_DOCTOR_H
#define SANDLOT_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

struct check {
    const char *name;   /* "bwrap", "userns", "seccomp", "landlock", "cgroup" */
    bool ok;
    bool required;      /* sandlot cannot sandbox without it */
    char detail[256];   /* what was found */
    char fix[256];      /* how to close the gap; "" when ok */
};

enum { CHECK_BWRAP, CHECK_USERNS, CHECK_SECCOMP, CHECK_LANDLOCK, CHECK_CGROUP, CHECK_COUNT };

/*
 * The sysctls that refuse user namespaces (AppArmor's restriction,
 * user.max_user_namespaces=0, Debian's unprivileged_userns_clone=0): false
 * with *c filled when one does.  Reads files only, so it costs nothing.
 */
bool doctor_userns_sysctls(struct check *c);

/* The first line of a file, without its newline; false when unreadable. */
bool read_line(const char *path, char *buf, size_t cap);

/* The user-namespace check alone (also launch.c's diagnosis of a failed setup). */
void doctor_userns(struct check *c);

/* Run every check (forks for bwrap --version and a user namespace test). */
void doctor_run(struct check out[CHECK_COUNT]);

/* The installation's exec helper (sandlot-exec), found at path (NULL: not
 * found); required: a bwrap run cannot start without it. */
void doctor_helper(struct check *c, const char *path);

#endif
