/* child.c: between fork and exec; see child.h. */
#include "child.h"
#include "execfail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const int child_forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
const size_t child_nforwarded_signals =
    sizeof child_forwarded_signals / sizeof child_forwarded_signals[0];

void child_reset_signals(bool hold)
{
    sigset_t mask;
    for (size_t i = 0; i < child_nforwarded_signals; i++)
        signal(child_forwarded_signals[i], SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    signal(SIGTSTP, SIG_DFL);
    signal(SIGCONT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&mask);
    for (size_t i = 0; hold && i < child_nforwarded_signals; i++)
        sigaddset(&mask, child_forwarded_signals[i]);
    sigprocmask(SIG_SETMASK, &mask, NULL);
}

void child_close_fds(int keep)
{
    if (keep < 3 ? close_range(3, ~0u, 0) == 0
                 : (keep == 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
                       close_range((unsigned)keep + 1, ~0u, 0) == 0)
        return;
    /* Older kernels: one by one up to the soft limit. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
        if (fd != keep)
            close((int)fd);
}

void child_exec(int ready_fd, char **cmd)
{
    /* the ready pipe stays open up to exec only: EOF after the ready byte is a started command */
    if (fcntl(ready_fd, F_SETFD, FD_CLOEXEC) != 0)
        _exit(125); /* sandlot failed, nothing ran */
    child_close_fds(ready_fd);
    execvp(cmd[0], cmd);
    int err = errno;
    ssize_t w;
    while ((w = write(ready_fd, CHILD_EXEC_FAILED, 1)) < 0 && errno == EINTR)
        ;
    child_exec_failed(cmd[0], err, true);
}

bool child_apply_limits(const struct child_limit *limits, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        struct rlimit cur, want;
        if (getrlimit(limits[i].resource, &cur) != 0) {
            snprintf(err, errlen, "cannot read limit %s: %s", limits[i].name, strerror(errno));
            return false;
        }
        rlim_t r = (rlim_t)limits[i].value;
        if (cur.rlim_max != RLIM_INFINITY && r > cur.rlim_max)
            r = cur.rlim_max;
        want.rlim_cur = want.rlim_max = r;
        if (setrlimit(limits[i].resource, &want) != 0) {
            snprintf(err, errlen, "cannot set limit %s: %s", limits[i].name, strerror(errno));
            return false;
        }
    }
    return true;
}

void child_exec_failed(const char *name, int err, bool in_sandbox)
{
    if (in_sandbox) /* names a missing interpreter too */
        _exit(execfail_report(name, err));
    fprintf(stderr, "sandlot: %s: %s\n", name, strerror(err));
    _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}
