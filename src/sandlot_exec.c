/*
 * sandlot-exec: the first program run inside the sandbox.
 *
 *   /proc/self/fd/N READY_FD -- COMMAND [ARG...]
 *
 * sandlot opens this binary and bwrap inherits the descriptor N, so it
 * runs without being mounted in the sandbox.
 * Where the kernel offers Landlock ABI 6 or later, it first scopes the
 * sandbox: no connecting to abstract unix sockets, no signals, outside its
 * own Landlock domain (this matters when the network namespace is the
 * host's, where abstract sockets live).  Then it tells sandlot that the
 * sandbox was set up (one byte on READY_FD),
 * closes every descriptor above 2 (its own N among them) so nothing sandlot
 * or bwrap held open reaches the command, then executes COMMAND.  When that exec fails it
 * exits 127 (not found) or 126 (found, not executable), the statuses of
 * DESIGN.md, instead of bwrap's generic 1.  Built static so it runs
 * whatever the policy mounts.
 */

#include "execfail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The ruleset attribute as of Landlock ABI 6 (newer than Debian 12's headers). */
struct ruleset_attr {
    unsigned long long handled_access_fs, handled_access_net, scoped;
};
#define CREATE_RULESET_VERSION (1U << 0)
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

/*
 * Scope abstract unix sockets and signals to this Landlock domain.
 * Returns 0 when done or when the kernel cannot (ABI < 6: doctor reports
 * it), -1 when it can but failed (then nothing must run).
 */
static int scope_sandbox(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
    if (abi < 6)
        return 0;
    struct ruleset_attr attr = {0, 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL};
    long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0)
        return -1;
    long r = syscall(SYS_landlock_restrict_self, fd, 0);
    close((int)fd);
    return r == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "sandlot-exec: usage: sandlot-exec READY_FD -- COMMAND [ARG...]\n");
        return 125;
    }
    char *end;
    long fd = strtol(argv[1], &end, 10);
    if (*end || fd < 3 || fd > 1 << 20) {
        fprintf(stderr, "sandlot-exec: bad descriptor \"%s\"\n", argv[1]);
        return 125;
    }
    if (scope_sandbox() != 0) {
        /* no ready byte: sandlot reports a setup error, exit 125 */
        fprintf(stderr, "sandlot-exec: cannot scope the sandbox with Landlock: %s\n",
                strerror(errno));
        return 125;
    }
    while (write((int)fd, "R", 1) < 0 && errno == EINTR)
        ;
    if (close_range(3, ~0u, 0) != 0) {
        /* Older kernels: close one by one up to the soft limit. */
        long max = sysconf(_SC_OPEN_MAX);
        for (long i = 3; i < max; i++)
            close((int)i);
    }
    execvp(argv[3], argv + 3);
    return execfail_report(argv[3], errno); /* 127 not found, 126 not executable */
}
