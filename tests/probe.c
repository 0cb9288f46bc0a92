/*
 * probe: a static program the tests run inside the sandbox.  Its first
 * line is always "PROBE <command>", so a test can tell "the probe ran and
 * was denied" from "the probe never ran".  One observation per call:
 *
 *   probe hello                 prints "hello"
 *   probe read PATH             "readable" or "denied <errno name>"
 *   probe write PATH            "written" or "denied <errno name>" (creates/appends)
 *   probe connect IP PORT       "connected" or "denied <errno name>"
 *   probe listen PORTFILE       listens on 127.0.0.1, writes the port to PORTFILE,
 *                               waits up to 20 s for one connection: "accepted"/"timeout"
 *   probe ids                   "uid=U gid=G euid=E egid=F"
 *   probe caps                  the Cap* lines of /proc/self/status
 *   probe env                   the environment, one NAME=VALUE per line
 *   probe fds                   "fd N" for each open descriptor above 2
 *   probe syscall NAME...       "NAME ret=N" or "NAME errno=E" for each syscall, called
 *                               with harmless arguments (bad fds or pointers, no-op
 *                               values), so EBADF/EFAULT/EINVAL/a result means it
 *                               reached the kernel and the filter's errno means not
 *   probe x32                   an x32-ABI getpid: a foreign-architecture syscall
 *   probe status                NoNewPrivs, Seccomp and Cap* lines of /proc/self/status
 *   probe ns                    "NAME inode" for each namespace of /proc/self/ns
 *   probe kill PID              kill(PID, 0): "ret=0" or "errno=E"
 *   probe ptrace-attach PID     PTRACE_ATTACH: "ret=0" or "errno=E"
 *   probe tiocsti               TIOCSTI on stdin (a terminal): "ret=0" or "errno=E"
 *   probe connect-unix PATH     connect to a unix socket path ("@name": abstract)
 *   probe serve-unix PATH SECS  listen on a unix socket (a host-side listener), SECS seconds
 *   probe chmod PATH MODE       chmod(PATH, MODE octal): "ret=0" or "errno=E"
 *   probe create PATH MODE      open(PATH, O_CREAT|O_EXCL|O_WRONLY, MODE octal): "mode=M"
 *                               (the new file's mode, octal) or "errno=E"
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>



#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static const char *errname(int e)
{
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ESRCH: return "ESRCH";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOKEY: return "ENOKEY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ENOEXEC: return "ENOEXEC";
    case EEXIST: return "EEXIST";
    case ECONNRESET: return "ECONNRESET";
    default: return strerror(e);
    }
}

/* Each probed syscall with harmless arguments. */
static const struct {
    const char *name;
    long nr;
    long a[6];
} calls[] = {
    {"add_key", SYS_add_key, {0, 0, 0, 0, 0, 0}},
    {"keyctl", SYS_keyctl, {11 /* KEYCTL_READ */, -1, 0, 0, 0, 0}},
    {"request_key", SYS_request_key, {0, 0, 0, 0, 0, 0}},
    {"ptrace", SYS_ptrace, {3 /* PEEKUSER */, 0x3ffffff0, 0, 0, 0, 0}},
    {"process_vm_readv", SYS_process_vm_readv, {0x3ffffff0, 0, 1, 0, 1, 0}},
    {"process_vm_writev", SYS_process_vm_writev, {0x3ffffff0, 0, 1, 0, 1, 0}},
    {"pidfd_getfd", SYS_pidfd_getfd, {-1, 0, 0, 0, 0, 0}},
    {"kcmp", SYS_kcmp, {0x3ffffff0, 0x3ffffff0, 0, 0, 0, 0}},
    {"bpf", SYS_bpf, {-1, 0, 0, 0, 0, 0}},
    {"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0, 0}},
    {"userfaultfd", SYS_userfaultfd, {-1, 0, 0, 0, 0, 0}},
    {"io_uring_setup", SYS_io_uring_setup, {1, 0, 0, 0, 0, 0}},
    {"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, 0, 0, 0}},
    {"io_uring_register", SYS_io_uring_register, {-1, 0, 0, 0, 0, 0}},
    {"fanotify_init", SYS_fanotify_init, {-1, 0, 0, 0, 0, 0}},
    {"kexec_load", SYS_kexec_load, {0, 0, 0, 0, 0, 0}},
    {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, 0, 0}},
    {"init_module", SYS_init_module, {0, 0, 0, 0, 0, 0}},
    {"finit_module", SYS_finit_module, {-1, 0, 0, 0, 0, 0}},
    {"delete_module", SYS_delete_module, {0, 0, 0, 0, 0, 0}},
    {"reboot", SYS_reboot, {0, 0, 0, 0, 0, 0}},
    {"swapon", SYS_swapon, {0, 0, 0, 0, 0, 0}},
    {"swapoff", SYS_swapoff, {0, 0, 0, 0, 0, 0}},
    {"syslog", SYS_syslog, {10 /* SIZE_BUFFER */, 0, 0, 0, 0, 0}},
    {"acct", SYS_acct, {0, 0, 0, 0, 0, 0}},
    {"quotactl", SYS_quotactl, {0, 0, 0, 0, 0, 0}},
    {"iopl", SYS_iopl, {0, 0, 0, 0, 0, 0}},
    {"ioperm", SYS_ioperm, {0, 0, 0, 0, 0, 0}},
    {"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0, 0, 0, 0}},
    {"name_to_handle_at", SYS_name_to_handle_at, {-1, 0, 0, 0, 0, 0}},
    {"mbind", SYS_mbind, {0, 0, 0, 0, 0, 0}},
    {"migrate_pages", SYS_migrate_pages, {0x3ffffff0, 0, 0, 0, 0, 0}},
    {"move_pages", SYS_move_pages, {0x3ffffff0, 0, 0, 0, 0, 0}},
    {"set_mempolicy", SYS_set_mempolicy, {0, 0, 0, 0, 0, 0}},
    {"get_mempolicy", SYS_get_mempolicy, {0, 0, 0, 0, 0, 0}},
    {"personality", SYS_personality, {0x0400000 /* ADDR_COMPAT_LAYOUT */, 0, 0, 0, 0, 0}},
    {"personality-linux32", SYS_personality, {0x0008 /* PER_LINUX32, allowed */, 0, 0, 0, 0, 0}},
    {"modify_ldt", SYS_modify_ldt, {0, 0, 0, 0, 0, 0}},
    {"mount", SYS_mount, {0, 0, 0, 0, 0, 0}},
    {"umount2", SYS_umount2, {0, 0, 0, 0, 0, 0}},
    {"pivot_root", SYS_pivot_root, {0, 0, 0, 0, 0, 0}},
    {"chroot", SYS_chroot, {0, 0, 0, 0, 0, 0}},
    {"open_tree", SYS_open_tree, {-1, 0, 0, 0, 0, 0}},
    {"move_mount", SYS_move_mount, {-1, 0, -1, 0, 0, 0}},
    {"fsopen", SYS_fsopen, {0, 0, 0, 0, 0, 0}},
    {"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0, 0}},
    {"fsmount", SYS_fsmount, {-1, 0, 0, 0, 0, 0}},
    {"fspick", SYS_fspick, {-1, 0, 0, 0, 0, 0}},
    {"mount_setattr", SYS_mount_setattr, {-1, 0, 0, 0, 0, 0}},
    {"unshare-user", SYS_unshare, {CLONE_NEWUSER, 0, 0, 0, 0, 0}},
    {"unshare-net", SYS_unshare, {CLONE_NEWNET, 0, 0, 0, 0, 0}},
    {"unshare-files", SYS_unshare, {CLONE_FILES /* no namespace: allowed */, 0, 0, 0, 0, 0}},
    /* CLONE_THREAD without CLONE_SIGHAND is EINVAL: never creates anything */
    {"clone-newuser", SYS_clone, {CLONE_NEWUSER | CLONE_THREAD, 0, 0, 0, 0, 0}},
    {"setns", SYS_setns, {-1, 0, 0, 0, 0, 0}},
    {"clone3", SYS_clone3, {0, 0, 0, 0, 0, 0}},
    {"ioctl-tiocsti", SYS_ioctl, {-1, TIOCSTI, 0, 0, 0, 0}},
    {"ioctl-tiocsti-high", SYS_ioctl, {-1, (long)(0x100000000ul | TIOCSTI), 0, 0, 0, 0}},
    {"ioctl-tioclinux", SYS_ioctl, {-1, TIOCLINUX, 0, 0, 0, 0}},
    {"ioctl-fionread", SYS_ioctl, {-1, FIONREAD /* allowed */, 0, 0, 0, 0}},
    {"socket-packet", SYS_socket, {AF_PACKET, SOCK_RAW, 0, 0, 0, 0}},
    {"socket-bluetooth", SYS_socket, {31 /* AF_BLUETOOTH */, SOCK_STREAM, 0, 0, 0, 0}},
    {"socket-unix", SYS_socket, {AF_UNIX, SOCK_STREAM, 0, 0, 0, 0}},
    {"socket-inet", SYS_socket, {AF_INET, SOCK_STREAM, 0, 0, 0, 0}},
    {"sethostname", SYS_sethostname, {0, 0, 0, 0, 0, 0}},
    {"setdomainname", SYS_setdomainname, {0, 0, 0, 0, 0, 0}},
    {"settimeofday", SYS_settimeofday, {0, 0, 0, 0, 0, 0}},
    {"clock_settime", SYS_clock_settime, {0, 0, 0, 0, 0, 0}},
    {"clock_adjtime", SYS_clock_adjtime, {0x7fffffff, 0, 0, 0, 0, 0}},
    {"adjtimex", SYS_adjtimex, {0, 0, 0, 0, 0, 0}},
    /* setuid/setgid modes: a NULL path or a bad fd, so nothing is created outside */
    {"chmod-suid", SYS_chmod, {0, 04755, 0, 0, 0, 0}},
    {"chmod-sgid", SYS_chmod, {0, 02755, 0, 0, 0, 0}},
    {"chmod-plain", SYS_chmod, {0, 0755 /* allowed */, 0, 0, 0, 0}},
    {"fchmod-suid", SYS_fchmod, {-1, 04755, 0, 0, 0, 0}},
    {"fchmodat-sgid", SYS_fchmodat, {-1, 0, 02755, 0, 0, 0}},
    {"fchmodat2-suid", SYS_fchmodat2, {-1, 0, 04755, 0, 0, 0}},
    {"open-suid", SYS_open, {0, O_CREAT | O_WRONLY, 04755, 0, 0, 0}},
    {"openat-sgid", SYS_openat, {-1, 0, O_CREAT | O_WRONLY, 02755, 0, 0}},
    {"openat-plain", SYS_openat, {-1, 0, O_CREAT | O_WRONLY, 0644 /* allowed */, 0, 0}},
    {"creat-suid", SYS_creat, {0, 04755, 0, 0, 0, 0}},
    {"mknod-suid", SYS_mknod, {0, 0100000 | 04755, 0, 0, 0, 0}},
    {"mknodat-sgid", SYS_mknodat, {-1, 0, 0100000 | 02755, 0, 0, 0}},
    {"mkdir-sgid", SYS_mkdir, {0, 02755, 0, 0, 0, 0}},
    {"mkdirat-suid", SYS_mkdirat, {-1, 0, 04755, 0, 0, 0}},
    {"openat2", SYS_openat2, {-1, 0, 0, 0, 0, 0}},
};

static void probe_syscall(const char *name)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (strcmp(calls[i].name, name) != 0)
            continue;
        errno = 0;
        long r = syscall(calls[i].nr, calls[i].a[0], calls[i].a[1], calls[i].a[2],
                         calls[i].a[3], calls[i].a[4], calls[i].a[5]);
        if (r < 0)
            printf("%s errno=%s\n", name, errname(errno));
        else
            printf("%s ret=%ld\n", name, r);
        fflush(stdout);
        return;
    }
    printf("%s unknown\n", name);
}

static int denied(int e)
{
    printf("denied %s\n", errname(e));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: probe COMMAND [ARG...]\n");
        return 2;
    }
    const char *c = argv[1];
    printf("PROBE %s\n", c);
    if (strcmp(c, "hello") == 0) {
        puts("hello");
    } else if (strcmp(c, "read") == 0 && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        char b[1];
        if (fd < 0 || read(fd, b, 1) < 0)
            return denied(errno);
        puts("readable");
    } else if (strcmp(c, "write") == 0 && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || write(fd, "x\n", 2) != 2)
            return denied(errno);
        puts("written");
    } else if (strcmp(c, "connect") == 0 && argc == 4) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
        if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
            return 2;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
            return denied(errno);
        puts("connected");
    } else if (strcmp(c, "listen") == 0 && argc == 3) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 4) != 0 ||
            getsockname(s, (struct sockaddr *)&sa, &len) != 0)
            return denied(errno);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
        FILE *f = fopen(tmp, "w");
        if (!f)
            return denied(errno);
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        rename(tmp, argv[2]);
        fflush(stdout);
        struct pollfd p = {s, POLLIN, 0};
        if (poll(&p, 1, 20000) == 1 && accept(s, NULL, NULL) >= 0)
            puts("accepted");
        else
            puts("timeout");
    } else if (strcmp(c, "ids") == 0) {
        printf("uid=%u gid=%u euid=%u egid=%u\n", getuid(), getgid(), geteuid(), getegid());
    } else if (strcmp(c, "caps") == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        if (!f)
            return denied(errno);
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "Cap", 3) == 0)
                fputs(line, stdout);
        fclose(f);
    } else if (strcmp(c, "env") == 0) {
        for (char **e = environ; *e; e++)
            puts(*e);
    } else if (strcmp(c, "fds") == 0) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
            return denied(errno);
        int self = dirfd(d);
        for (struct dirent *de; (de = readdir(d));) {
            int fd = atoi(de->d_name);
            if (de->d_name[0] != '.' && fd > 2 && fd != self)
                printf("fd %d\n", fd);
        }
        closedir(d);
    } else if (strcmp(c, "syscall") == 0) {
        for (int i = 2; i < argc; i++)
            probe_syscall(argv[i]);
    } else if (strcmp(c, "status") == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        if (!f)
            return denied(errno);
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "NoNewPrivs", 10) == 0 || strncmp(line, "Seccomp", 7) == 0 ||
                strncmp(line, "Cap", 3) == 0)
                fputs(line, stdout);
        fclose(f);
    } else if (strcmp(c, "ns") == 0) {
        const char *kinds[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"};
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            char path[64], target[128];
            snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i]);
            ssize_t n = readlink(path, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            printf("%s %s\n", kinds[i], target);
        }
    } else if (strcmp(c, "kill") == 0 && argc == 3) {
        if (kill(atoi(argv[2]), 0) != 0)
            printf("errno=%s\n", errname(errno));
        else
            puts("ret=0");
    } else if (strcmp(c, "ptrace-attach") == 0 && argc == 3) {
        if (syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, atoi(argv[2]), 0, 0) != 0)
            printf("errno=%s\n", errname(errno));
        else
            puts("ret=0");
    } else if (strcmp(c, "tiocsti") == 0) {
        char ch = 'x';
        if (ioctl(0, TIOCSTI, &ch) != 0)
            printf("errno=%s\n", errname(errno));
        else
            puts("ret=0");
    } else if ((strcmp(c, "connect-unix") == 0 && argc == 3) ||
               (strcmp(c, "serve-unix") == 0 && argc == 4)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        socklen_t len = sizeof sa;
        if (argv[2][0] == '@') { /* abstract: a leading NUL */
            size_t n = strlen(argv[2] + 1);
            if (n > sizeof sa.sun_path - 2)
                return 2;
            memcpy(sa.sun_path + 1, argv[2] + 1, n);
            len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
        } else {
            snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[2]);
        }
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (c[0] == 's') {
            if (s < 0 || bind(s, (struct sockaddr *)&sa, len) != 0 || listen(s, 8) != 0)
                return denied(errno);
            puts("serving");
            fflush(stdout);
            sleep((unsigned)atoi(argv[3]));
            return 0;
        }
        if (s < 0 || connect(s, (struct sockaddr *)&sa, len) != 0)
            return denied(errno);
        puts("connected");
    } else if (strcmp(c, "chmod") == 0 && argc == 4) {
        if (chmod(argv[2], (mode_t)strtoul(argv[3], NULL, 8)) != 0)
            printf("errno=%s\n", errname(errno));
        else
            puts("ret=0");
    } else if (strcmp(c, "create") == 0 && argc == 4) {
        int fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY, (mode_t)strtoul(argv[3], NULL, 8));
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            printf("errno=%s\n", errname(errno));
        else
            printf("mode=%o\n", (unsigned)(st.st_mode & 07777));
    } else if (strcmp(c, "x32") == 0) {
        fflush(stdout);
        long r = syscall(0x40000000L | SYS_getpid);
        printf("x32 returned %ld\n", r);
    } else {
        fprintf(stderr, "probe: unknown command %s\n", c);
        return 2;
    }
    return 0;
}
