/* doctor.c: host checks; see doctor.h. */
#include "doctor.h"
#include "bwrap.h"
#include "landlock.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void set(struct check *c, const char *name, bool required, bool ok, const char *detail,
                const char *fix)
{
    c->name = name;
    c->required = required;
    c->ok = ok;
    snprintf(c->detail, sizeof c->detail, "%s", detail);
    snprintf(c->fix, sizeof c->fix, "%s", ok ? "" : fix);
}

bool read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

/* The first line bwrap --version prints, or "" */
static void bwrap_version(const char *path, char *out, size_t cap)
{
    int fds[2];
    out[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        char *argv[] = {(char *)path, (char *)"--version", NULL};
        char *envp[] = {NULL};
        execve(path, argv, envp);
        _exit(127);
    }
    close(fds[1]);
    ssize_t n = pid > 0 ? read(fds[0], out, cap - 1) : -1;
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void check_bwrap(struct check *c)
{
    bool from_path;
    char *bw = bwrap_find(getenv("PATH"), &from_path);
    if (!bw) {
        set(c, "bwrap", true, false, "not found in /usr/bin, /usr/local/bin, the Nix profiles "
            "or PATH", "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)");
        return;
    }
    char version[128], detail[256];
    bwrap_version(bw, version, sizeof version);
    snprintf(detail, sizeof detail, "%s (%s)%s", bw, version[0] ? version : "version unknown",
             from_path ? ", found through PATH, not a root-owned location" : "");
    set(c, "bwrap", true, true, detail, "");
    free(bw);
}

bool doctor_userns_sysctls(struct check *c)
{
    char v[64];
    if (read_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", v, sizeof v) &&
        strcmp(v, "1") == 0 && geteuid() != 0) {
        set(c, "userns", true, false, "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns=1)",
            "install an AppArmor profile that grants bwrap \"userns\", or "
            "'sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0'");
        return false;
    }
    if (read_line("/proc/sys/user/max_user_namespaces", v, sizeof v) && strcmp(v, "0") == 0) {
        set(c, "userns", true, false, "user.max_user_namespaces=0",
            "'sudo sysctl user.max_user_namespaces=15000'");
        return false;
    }
    if (read_line("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof v) &&
        strcmp(v, "0") == 0 && geteuid() != 0) {
        set(c, "userns", true, false, "kernel.unprivileged_userns_clone=0",
            "'sudo sysctl kernel.unprivileged_userns_clone=1'");
        return false;
    }
    return true;
}

void doctor_userns(struct check *c)
{
    if (!doctor_userns_sysctls(c))
        return;
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
    int st = 0;
    bool ok = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    set(c, "userns", true, ok, ok ? "this user can create user namespaces"
                                  : "unshare(CLONE_NEWUSER) was refused",
        "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1 on older "
        "Debian; a container runtime may need to allow them)");
}

static void check_seccomp(struct check *c)
{
    unsigned int action = SECCOMP_RET_KILL_PROCESS;
    bool ok = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
    set(c, "seccomp", true, ok, ok ? "seccomp filters with kill-process are available"
                                   : "the kernel has no seccomp filter support",
        "a kernel built with CONFIG_SECCOMP_FILTER");
}

static void check_landlock(struct check *c)
{
    int abi = landlock_abi();
    char detail[64];
    snprintf(detail, sizeof detail, abi ? "ABI %d" : "not available", abi);
    set(c, "landlock", false, abi > 0, detail,
        "a kernel with CONFIG_SECURITY_LANDLOCK and \"landlock\" in the lsm= boot parameter "
        "(the native backend needs it; the bwrap backend guards inherited stdio with it)");
}

static void check_cgroup(struct check *c)
{
    char line[512], dir[600], controllers[256] = "";
    if (access("/sys/fs/cgroup/cgroup.controllers", R_OK) != 0) {
        set(c, "cgroup", false, false, "cgroup v2 is not mounted at /sys/fs/cgroup",
            "boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1)");
        return;
    }
    if (!read_line("/proc/self/cgroup", line, sizeof line) || strncmp(line, "0::", 3) != 0) {
        set(c, "cgroup", false, false, "this process is not in a cgroup v2 group",
            "run sandlot inside a delegated cgroup (systemd-run --user --scope -p Delegate=yes)");
        return;
    }
    snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
    char path[700];
    snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
    read_line(path, controllers, sizeof controllers);
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    bool writable = access(dir, W_OK) == 0 && access(path, W_OK) == 0;
    char detail[256];
    snprintf(detail, sizeof detail, "v2, group %.100s%s, controllers: %.100s", line + 3,
             writable ? " (delegated: writable)" : " (not writable)",
             controllers[0] ? controllers : "none");
    set(c, "cgroup", false, writable, detail,
        "delegate a cgroup to this user (systemd-run --user --scope -p Delegate=yes ...) to "
        "bound memory and processes beyond rlimits");
}

void doctor_helper(struct check *c, const char *path)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s", path ? path : "sandlot-exec not found");
    set(c, "helper", true, path != NULL, detail,
        "sandlot-exec belongs in LIBEXECDIR/sandlot of the same `make install` (or next to "
        "sandlot in a build tree): reinstall sandlot");
}

void doctor_run(struct check out[CHECK_COUNT])
{
    check_bwrap(&out[CHECK_BWRAP]);
    doctor_userns(&out[CHECK_USERNS]);
    check_seccomp(&out[CHECK_SECCOMP]);
    check_landlock(&out[CHECK_LANDLOCK]);
    check_cgroup(&out[CHECK_CGROUP]);
}
