/*
 * sandlot-exec: the first program run inside the bwrap sandbox.
 *
 *   /proc/self/fd/N READY_FD [--egress-fd=E] [--pty SOCK_FD MASK] RULE... -- COMMAND [ARG...]
 *
 * sandlot opens this binary and bwrap inherits the descriptor N, so it
 * runs without being mounted in the sandbox.  Each RULE is a Landlock rule
 * in landlock.h's text form (ro:/usr, rw:/work, list:/, proc:/proc), the
 * list the native backend enforces too (policy_rules).  Where the kernel
 * has Landlock, the helper builds that ruleset (scoped from ABI 6: no
 * abstract unix sockets, no signals outside the sandbox), sets
 * no-new-privs and enforces it.  This is what keeps the command from
 * reopening an inherited stdio descriptor through /proc/self/fd with new
 * access (reading a log opened for append, truncating it, listing a
 * directory passed as stdin): the file behind it lies beneath no rule.
 * Without Landlock (ABI 0) it carries on, as `doctor` reports.
 * With --egress-fd=E (allowlist mode) it first creates the egress proxy's
 * listening socket on 127.0.0.1 in the sandbox's network namespace and
 * hands it to sandlot over E (child_egress_listen), keeping no copy;
 * after the pty, it waits on E for sandlot's word that the proxy serves
 * it (child_egress_started).
 * With --pty, the stage gets its own pseudo-terminal from the sandbox's
 * devpts (child_pty): the slave on the standard descriptors of MASK (bit
 * n: descriptor n), the master sent to sandlot over the unix socket
 * SOCK_FD.
 * Then it tells sandlot that the sandbox was set up (one byte on
 * READY_FD; a failure before it exits 125 without the byte, which sandlot
 * reports as a setup failure), closes every descriptor above 2 (its own N
 * among them) so nothing sandlot or bwrap held open reaches the command,
 * then executes COMMAND.  When that exec fails it exits 127 (not found) or
 * 126 (found, not executable), the statuses of DESIGN.md, instead of
 * bwrap's generic 1.  Built static so it runs whatever the policy mounts.
 */

#include "child.h"
#include "egress.h"
#include "landlock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define SETUP_FAILED 125

/*
 * Enforce the n rules where the kernel has Landlock.  Returns 0 when done
 * or when the kernel has none, -1 (err filled) when it has and failed:
 * then nothing must run.
 */
static int enforce(const struct ll_rule *rules, size_t n, char *err, size_t errlen)
{
    int abi = landlock_abi();
    if (abi < 1)
        return 0;
    int rs = landlock_ruleset(rules, n, abi, err, errlen);
    if (rs < 0)
        return -1;
    /* bwrap sets it with its filter; landlock_restrict_self needs it either way */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "setting no-new-privs: %s", strerror(errno));
        close(rs);
        return -1;
    }
    if (landlock_restrict(rs) != 0) {
        snprintf(err, errlen, "enforcing the Landlock ruleset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int sep = 2;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    if (argc < 3 || sep >= argc - 1) {
        fprintf(stderr, "sandlot-exec: usage: sandlot-exec READY_FD [--pty SOCK_FD MASK] RULE... "
                        "-- COMMAND [ARG...]\n");
        return SETUP_FAILED;
    }
    char *end;
    long fd = strtol(argv[1], &end, 10);
    if (*end || fd < 3 || fd > 1 << 20) {
        fprintf(stderr, "sandlot-exec: bad descriptor \"%s\"\n", argv[1]);
        return SETUP_FAILED;
    }
    int first = 2, pty_sock = -1;
    unsigned pty_mask = 0;
    long egress = -1;
    if (first < sep && strncmp(argv[first], "--egress-fd=", 12) == 0) {
        egress = strtol(argv[first] + 12, &end, 10);
        if (*end || end == argv[first] + 12 || egress < 3 || egress > 1 << 20 || egress == fd) {
            fprintf(stderr, "sandlot-exec: bad descriptor \"%s\"\n", argv[first]);
            return SETUP_FAILED;
        }
        first++;
    }
    if (sep >= first + 3 && strcmp(argv[first], "--pty") == 0) {
        long sfd = strtol(argv[first + 1], &end, 10);
        bool ok = !*end && sfd >= 3 && sfd <= 1 << 20 && sfd != fd && sfd != egress;
        long m = ok ? strtol(argv[first + 2], &end, 10) : 0;
        if (!ok || *end || m < 1 || m > 7) {
            fprintf(stderr, "sandlot-exec: bad --pty \"%s %s\"\n", argv[first + 1],
                    argv[first + 2]);
            return SETUP_FAILED;
        }
        pty_sock = (int)sfd;
        pty_mask = (unsigned)m;
        first += 3;
    }
    size_t n = (size_t)(sep - first);
    if (n == 0) {
        /* bwrap_build always passes rules: without them Landlock would refuse everything */
        fprintf(stderr, "sandlot-exec: no Landlock rules before \"--\"\n");
        return SETUP_FAILED;
    }
    struct ll_rule *rules = calloc(n + 1, sizeof *rules);
    if (!rules) {
        fprintf(stderr, "sandlot-exec: out of memory\n");
        return SETUP_FAILED;
    }
    for (size_t i = 0; i < n; i++)
        if (!ll_rule_parse(argv[first + i], &rules[i])) {
            fprintf(stderr, "sandlot-exec: bad Landlock rule \"%s\" (want CLASS:/PATH)\n",
                    argv[first + i]);
            return SETUP_FAILED;
        }
    char err[512];
    /* before Landlock and exec: the listener leaves, nothing of it stays here */
    if (egress >= 0 && !child_egress_listen((int)egress, EGRESS_PORT, err, sizeof err)) {
        fprintf(stderr, "sandlot-exec: %s\n", err);
        return SETUP_FAILED;
    }
    if (enforce(rules, n, err, sizeof err) != 0) {
        /* no ready byte: sandlot reports a setup error, exit 125 */
        fprintf(stderr, "sandlot-exec: %s\n", err);
        return SETUP_FAILED;
    }
    free(rules);
    if (pty_sock >= 0 && !child_pty(pty_sock, pty_mask, err, sizeof err)) {
        fprintf(stderr, "sandlot-exec: %s\n", err);
        return SETUP_FAILED;
    }
    /* the command never runs without its proxy */
    if (egress >= 0 && !child_egress_started((int)egress, err, sizeof err)) {
        fprintf(stderr, "sandlot-exec: %s\n", err);
        return SETUP_FAILED;
    }
    /* sandlot gone (EPIPE: nobody reads the pipe) means nobody supervises: run nothing */
    ssize_t w;
    while ((w = write((int)fd, "R", 1)) < 0 && errno == EINTR)
        ;
    if (w != 1)
        return SETUP_FAILED;
    child_exec((int)fd, argv + sep + 1); /* 127 not found, 126 not executable */
}
