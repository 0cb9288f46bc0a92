/*
 * ns_floor: the kernel's own floor for a native sandbox launch, for the
 * bench table.  Clone into the namespaces the native backend creates
 * (user, mount, pid, ipc, uts, cgroup, network), fork there, exec
 * /bin/true, reap both.  No mounts, no maps, no Landlock, no seccomp.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                          CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET;
    pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        perror("ns_floor: clone");
        return 125;
    }
    int st;
    if (pid == 0) {
        pid_t c = fork();
        if (c == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(c, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
