/*
 * sandlot-exec: the first program run inside the sandbox.
 *
 *   /proc/self/fd/N READY_FD -- COMMAND [ARG...]
 *
 * sandlot opens this binary and bwrap inherits the descriptor N, so it
 * runs without being mounted in the sandbox.
 * It tells sandlot that the sandbox was set up (one byte on READY_FD),
 * closes every descriptor above 2 (its own N among them) so nothing sandlot
 * or bwrap held open reaches the command, then executes COMMAND.  When that exec fails it
 * exits 127 (not found) or 126 (found, not executable), the statuses of
 * DESIGN.md, instead of bwrap's generic 1.  Built static so it runs
 * whatever the policy mounts.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    while (write((int)fd, "R", 1) < 0 && errno == EINTR)
        ;
    if (close_range(3, ~0u, 0) != 0) {
        /* Older kernels: close one by one up to the soft limit. */
        long max = sysconf(_SC_OPEN_MAX);
        for (long i = 3; i < max; i++)
            close((int)i);
    }
    execvp(argv[3], argv + 3);
    int err = errno;
    fprintf(stderr, "sandlot: %s: %s\n", argv[3],
            err == ENOENT ? "command not found in the sandbox" : strerror(err));
    return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}
