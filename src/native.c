/* native.c: the native backend; see native.h. */
#include "native.h"
#include "child.h"
#include "doctor.h"
#include "identity.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif

unsigned long long native_bind_attrs(int kind)
{
    return MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (kind == MOUNT_RW_BIND ? 0 : MOUNT_ATTR_RDONLY);
}

unsigned long native_clone_flags(const struct policy *p)
{
    return CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
           CLONE_NEWCGROUP | (p->network ? 0 : CLONE_NEWNET);
}

static const char *bind_name(int kind)
{
    return kind == MOUNT_RW_BIND ? "bind" : kind == MOUNT_RO_BIND_TRY ? "ro-bind-try" : "ro-bind";
}

void native_describe(const struct plan *pl, char *const *cmd, char *const *host_env,
                     struct cmdline *out)
{
    memset(out, 0, sizeof *out);
    cmdline_group(out, ORIGIN_BASELINE, "sandlot-native", (char *)NULL);
    char a[32], b[32], size[32];
    int abi = landlock_abi();
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        const char *o = s->origin;
        if (s->size != LIMIT_UNLIMITED)
            snprintf(size, sizeof size, "%lld", s->size);
        switch (s->op) {
        case STEP_NAMESPACES:
            cmdline_group(out, o, "unshare", "user", "mount", "pid", "ipc", "uts", "cgroup",
                          (char *)NULL);
            break;
        case STEP_NETWORK:
            cmdline_group(out, o, pl->network ? "share-net" : "unshare", pl->network ? NULL : "net",
                          (char *)NULL);
            break;
        case STEP_MAP_IDS:
            snprintf(a, sizeof a, "%u", pl->uid);
            snprintf(b, sizeof b, "%u", pl->gid);
            cmdline_group(out, o, "map-ids", "--uid", a, "--gid", b, (char *)NULL);
            break;
        case STEP_ROOT: cmdline_group(out, o, "tmpfs-root", (char *)NULL); break;
        case STEP_PROC: cmdline_group(out, o, "proc", "/proc", (char *)NULL); break;
        case STEP_PROC_RO: cmdline_group(out, o, bind_name(s->kind), s->dst, s->dst, (char *)NULL); break;
        case STEP_DEV: cmdline_group(out, o, "dev", "/dev", (char *)NULL); break;
        case STEP_TMPFS:
            if (s->size != LIMIT_UNLIMITED)
                cmdline_group(out, o, "tmpfs", "--size", size, s->dst, (char *)NULL);
            else
                cmdline_group(out, o, "tmpfs", s->dst, (char *)NULL);
            break;
        case STEP_DIR: cmdline_group(out, o, "dir", s->dst, (char *)NULL); break;
        case STEP_SYMLINK: cmdline_group(out, o, "symlink", s->src, s->dst, (char *)NULL); break;
        case STEP_BIND: cmdline_group(out, o, bind_name(s->kind), s->src, s->dst, (char *)NULL); break;
        case STEP_MASK: cmdline_group(out, o, "mask-dir", s->dst, (char *)NULL); break;
        case STEP_FILE:
            cmdline_group(out, o, s->kind == MOUNT_MASK_FILE ? "mask-file" : "file", s->dst,
                          (char *)NULL);
            break;
        case STEP_REMOUNT_RO: cmdline_group(out, o, "remount-ro", s->dst, (char *)NULL); break;
        case STEP_PIVOT: cmdline_group(out, o, "pivot-root", (char *)NULL); break;
        case STEP_LOOPBACK: cmdline_group(out, o, "loopback-up", (char *)NULL); break;
        case STEP_EGRESS:
            cmdline_group(out, o, "egress-listen", "127.0.0.1:" EGRESS_PORT_TEXT, "--hand-out",
                          (char *)NULL);
            break;
        case STEP_CHDIR: cmdline_group(out, o, "chdir", s->dst, (char *)NULL); break;
        case STEP_SESSION: cmdline_group(out, o, "new-session", (char *)NULL); break;
        case STEP_PDEATH: cmdline_group(out, o, "die-with-parent", (char *)NULL); break;
        case STEP_LANDLOCK:
            snprintf(a, sizeof a, "%d", abi);
            cmdline_group(out, o, "landlock", "--abi", a, "--scope",
                          abi >= 6 ? "abstract-unix,signal" : "none", (char *)NULL);
            break;
        case STEP_RULE:
            snprintf(a, sizeof a, "landlock-%s", ll_class_word((enum ll_class)s->kind));
            if (s->kind == LL_TCP_CONNECT && abi < LANDLOCK_NET_ABI)
                cmdline_group(out, o, a, s->dst, "(skipped: Landlock ABI below 4 has no network "
                              "rules; the network namespace holds)", (char *)NULL);
            else
                cmdline_group(out, o, a, s->dst, (char *)NULL);
            break;
        case STEP_NNP: cmdline_group(out, o, "no-new-privs", (char *)NULL); break;
        case STEP_CAPS: cmdline_group(out, o, "cap-drop", "ALL", (char *)NULL); break;
        case STEP_RESTRICT: cmdline_group(out, o, "landlock-restrict-self", (char *)NULL); break;
        case STEP_SECCOMP: cmdline_group(out, o, "seccomp", "<filter>", (char *)NULL); break;
        case STEP_CLEARENV: cmdline_group(out, o, "clearenv", (char *)NULL); break;
        case STEP_SETENV: {
            const char *v = s->dst ? s->dst : env_lookup(host_env, s->src);
            if (v)
                cmdline_group(out, o, "setenv", s->src, v, (char *)NULL);
            break;
        }
        case STEP_EXEC: cmdline_group(out, o, "exec", "--", (char *)NULL); break;
        }
    }
    out->options_end = out->nwords;
    cmdline_command(out, cmd);
}

/* --- availability -------------------------------------------------------- */

bool native_available(char *why, size_t n)
{
    int abi = landlock_abi();
    if (abi < 1) {
        snprintf(why, n, "Landlock is not available (the native backend needs it as its second "
                         "layer under the mount namespace)");
        return false;
    }
    struct check c;
    if (!doctor_userns_sysctls(&c)) {
        snprintf(why, n, "user namespaces are refused: %s", c.detail);
        return false;
    }
    unsigned int action = SECCOMP_RET_KILL_PROCESS;
    if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
        snprintf(why, n, "the kernel has no seccomp filter support");
        return false;
    }
    /* mount_setattr (Linux 5.12) is the newest call the backend uses */
    if (syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS) {
        snprintf(why, n, "the kernel lacks the mount API of Linux 5.12 (mount_setattr)");
        return false;
    }
    snprintf(why, n, "user namespaces, Landlock ABI %d, seccomp and the mount API are available",
             abi);
    return true;
}

/* --- the child ----------------------------------------------------------- */

/* In the sandbox, a setup step failed: one line naming it, _exit 125 (nothing ran). */
__attribute__((noreturn)) PRINTF_LIKE(1, 2) static void setup_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int err = errno;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandlot: native backend: %s: %s\n", msg, strerror(err));
    _exit(EXIT_SANDLOT);
}

static int open_how(int dirfd, const char *path, int flags, unsigned long long resolve)
{
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/*
 * Resolve a sandbox path beneath the new root: absolute symlinks and ".."
 * are read as the sandbox will see them, never reaching the host's tree.
 */
static int open_in_root(int root, const char *path, int flags)
{
    while (*path == '/')
        path++;
    return open_how(root, *path ? path : ".", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

static int make_target(int root, const char *path, bool dir);

/*
 * The directory that will hold path's last component, created as needed;
 * *name points at that component (inside path).  Returns an O_PATH
 * descriptor, or -1 with errno.
 */
static int make_parent(int root, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    *name = slash + 1;
    char *dir = xstrdup(path);
    dir[slash - path] = '\0';
    int fd = make_target(root, dir[0] ? dir : "/", true);
    free(dir);
    return fd;
}

/*
 * What is at path in the new root, made when absent: a directory (mkdir
 * -p), or an empty file as the mount point of a non-directory.  Returns an
 * O_PATH descriptor, or -1 with errno.
 */
static int make_target(int root, const char *path, bool dir)
{
    int flags = O_PATH | (dir ? O_DIRECTORY : 0);
    int fd = open_in_root(root, path, flags);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    const char *name;
    int parent = make_parent(root, path, &name);
    if (parent < 0)
        return -1;
    int made = dir ? mkdirat(parent, name, 0755)
                   : openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
                            0444);
    if (!dir && made >= 0)
        close(made);
    close(parent);
    if (made < 0 && errno != EEXIST)
        return -1;
    return open_in_root(root, path, flags);
}

static void attach(int tree, int target, const char *what)
{
    if (syscall(SYS_move_mount, tree, "", target, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        setup_fail("mounting %s", what);
    close(tree);
    close(target);
}

/* Attach the detached mount m at dst in the new root (a directory, or a file's place). */
static void attach_at(int root, int m, const char *dst, bool dir)
{
    int t = make_target(root, dst, dir);
    if (t < 0)
        setup_fail("creating the mount point %s", dst);
    attach(m, t, dst);
}

static void set_attr(int tree, unsigned long long set, bool recursive, const char *what)
{
    struct mount_attr attr = {.attr_set = set};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                sizeof attr) != 0)
        setup_fail("setting the flags of %s", what);
}

/* A fresh filesystem of type fstype with options (key=value pairs), as a detached mount. */
static int new_fs(const char *fstype, const char *const *opts, unsigned attrs, const char *what)
{
    int fs = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
    if (fs < 0)
        setup_fail("creating %s for %s", fstype, what);
    for (; opts && opts[0]; opts += 2) {
        int r = opts[1] ? (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, opts[0], opts[1], 0)
                        : (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, opts[0], NULL, 0);
        if (r != 0)
            setup_fail("option %s of %s for %s", opts[0], fstype, what);
    }
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
        setup_fail("creating %s for %s", fstype, what);
    int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
    if (m < 0)
        setup_fail("mounting %s for %s", fstype, what);
    close(fs);
    return m;
}

/* A detached tmpfs, nosuid and nodev, of size bytes (or the kernel's default). */
static int new_tmpfs(long long size, const char *what)
{
    char sz[32];
    snprintf(sz, sizeof sz, "%lld", size);
    const char *opts[] = {"mode", "0755", size != LIMIT_UNLIMITED ? "size" : NULL, sz, NULL};
    return new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, what);
}

/* Attach a detached tree at dst in the new root, as a directory or a file as it is. */
static void attach_tree(int root, int tree, const char *src, const char *dst)
{
    struct stat st;
    if (fstat(tree, &st) != 0)
        setup_fail("stat %s", src);
    attach_at(root, tree, dst, S_ISDIR(st.st_mode));
}

/* Clone the tree at host path (or descriptor) src, flags applied, onto dst in the new root. */
static void bind_tree(int root, int srcfd, const char *src, const char *dst, unsigned long long set)
{
    int tree = (int)syscall(SYS_open_tree, srcfd, srcfd == AT_FDCWD ? src : "",
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
                                (srcfd == AT_FDCWD ? 0 : AT_EMPTY_PATH));
    if (tree < 0)
        setup_fail("cloning the mount of %s", src);
    set_attr(tree, set, true, dst);
    attach_tree(root, tree, src, dst);
}

static void mount_proc(int root)
{
    attach_at(root,
              new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, "/proc"),
              "/proc", true);
}

/*
 * One of the kernel's knobs under the new /proc read-only (policy's
 * proc_covers, as in the bwrap backend): whatever the identity, nothing in
 * the sandbox writes a sysctl or a trigger.
 */
static void cover_proc(int root, const char *path, bool optional)
{
    int tree = open_in_root(root, path, O_PATH);
    if (tree >= 0) {
        int t = tree;
        tree = (int)syscall(SYS_open_tree, t, "",
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
        close(t);
    }
    if (tree < 0 && errno == ENOENT && optional)
        return;
    if (tree < 0)
        setup_fail("cloning %s", path);
    set_attr(tree, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true, path);
    int target = open_in_root(root, path, O_PATH);
    if (target < 0)
        setup_fail("opening %s", path);
    attach(tree, target, path);
}

static void make_symlink(int root, const char *target, const char *dst)
{
    const char *name;
    int parent = make_parent(root, dst, &name);
    if (parent < 0)
        setup_fail("creating the directory of %s", dst);
    if (symlinkat(target, parent, name) != 0) {
        char have[4096];
        ssize_t n = errno == EEXIST ? readlinkat(parent, name, have, sizeof have - 1) : -1;
        if (n < 0 || (have[n] = '\0', strcmp(have, target) != 0))
            setup_fail("symlink %s -> %s", dst, target);
    }
    close(parent);
}

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* A directory mask over dst: an empty read-only tmpfs. */
static void mount_mask(int root, const struct step *s)
{
    const char *opts[] = {"mode", "0555", "size", "4096", NULL};
    attach_at(root, new_fs("tmpfs", opts, RO_ATTRS, s->dst), s->dst, true);
}

/*
 * A read-only file at dst holding text (a file mask's is empty): made in
 * the new root, bound read-only at dst and unlinked once bound (the bind
 * keeps it), so nothing of it shows elsewhere.
 */
static void mount_file(int root, const struct step *s)
{
    static const char name[] = ".sandlot-file";
    int f = openat(root, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0444);
    size_t len = strlen(s->src);
    if (f < 0 || write(f, s->src, len) != (ssize_t)len)
        setup_fail("writing the file %s", s->dst);
    close(f);
    int tree = (int)syscall(SYS_open_tree, root, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        setup_fail("the file %s", s->dst);
    set_attr(tree, RO_ATTRS, false, s->dst);
    attach_at(root, tree, s->dst, false);
    if (unlinkat(root, name, 0) != 0) /* attached first: the kernel binds no unlinked file */
        setup_fail("removing the file %s", s->dst);
}

/* bwrap's --dev: device nodes bound from the host, devpts, shm and the usual links. */
static void mount_dev(int root)
{
    attach_at(root, new_tmpfs(LIMIT_UNLIMITED, "/dev"), "/dev", true);
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    char host[32], dst[32];
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(host, sizeof host, "/dev/%s", nodes[i]);
        snprintf(dst, sizeof dst, "/dev/%s", nodes[i]);
        /* read-only: nothing in the sandbox changes a host node's metadata */
        bind_tree(root, AT_FDCWD, host, dst,
                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    }
    const char *pts[] = {"newinstance", NULL, "ptmxmode", "0666", "mode", "620", NULL};
    attach_at(root, new_fs("devpts", pts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev/pts"),
              "/dev/pts", true);
    make_symlink(root, "pts/ptmx", "/dev/ptmx");
    make_symlink(root, "/proc/self/fd", "/dev/fd");
    make_symlink(root, "/proc/self/fd/0", "/dev/stdin");
    make_symlink(root, "/proc/self/fd/1", "/dev/stdout");
    make_symlink(root, "/proc/self/fd/2", "/dev/stderr");
    make_symlink(root, "/proc/kcore", "/dev/core");
    int shm = make_target(root, "/dev/shm", true);
    if (shm < 0)
        setup_fail("creating /dev/shm");
    close(shm);
}

/* The mount at dst read-only (the plan: /dev once /dev/shm is mounted, then the root). */
static void remount_ro(int root, const char *dst)
{
    int m = strcmp(dst, "/") == 0 ? root : open_in_root(root, dst, O_PATH | O_DIRECTORY);
    if (m < 0)
        setup_fail("opening %s", dst);
    set_attr(m, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false, dst);
    if (m != root)
        close(m);
}

/* A bind source, opened by bind_source_open (absent: an ro_bind_try source that is not there). */
static struct source open_bind_source(const struct step *s)
{
    struct sl_err e;
    int fd = bind_source_open(s->src, (enum mount_kind)s->kind, &e);
    if (fd < 0 && e.msg[0]) {
        fprintf(stderr, "sandlot: %s\n", e.msg); /* the bwrap backend's message */
        _exit(EXIT_SANDLOT);
    }
    return (struct source){fd < 0 ? SOURCE_ABSENT : SOURCE_OPEN, fd};
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        setup_fail("reading the flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        setup_fail("bringing lo up");
    close(s);
}

/*
 * pid 1 is a clone of sandlot: its argument and environment strings are
 * sandlot's, and /proc/1/cmdline and /proc/1/environ would show them
 * inside.  Zero that memory (its addresses are in /proc/self/stat).
 */
static void scrub_self(void)
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        setup_fail("reading /proc/self/stat");
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    /* fields 48..51: arg_start arg_end env_start env_end; p is at the end of field 2 */
    unsigned long v[4];
    int field = 2;
    for (; p && *p && field < 48; p++)
        if (*p == ' ')
            field++;
    if (!p || sscanf(p, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
        setup_fail("parsing /proc/self/stat");
    for (int i = 0; i < 4; i += 2)
        if (v[i + 1] > v[i])
            explicit_bzero((void *)v[i], v[i + 1] - v[i]);
    static const char name[] = "sandlot-init";
    if (v[1] - v[0] >= sizeof name)
        memcpy((void *)v[0], name, sizeof name); /* what ps shows for pid 1 */
}

static void drop_caps(void)
{
    for (unsigned long c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
            setup_fail("dropping capability %lu from the bounding set", c);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        setup_fail("clearing the ambient capabilities");
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0)
        setup_fail("dropping every capability");
}

/* Create the ruleset from the plan's STEP_RULE steps (landlock_ruleset); returns its descriptor. */
static int plan_ruleset(const struct plan *pl)
{
    int abi = landlock_abi();
    if (abi < 1)
        setup_fail("Landlock is not available");
    struct ll_rule *rules = xcalloc(pl->n, sizeof *rules);
    size_t n = 0;
    for (size_t i = 0; i < pl->n; i++)
        if (pl->steps[i].op == STEP_RULE)
            rules[n++] = (struct ll_rule){(enum ll_class)pl->steps[i].kind, pl->steps[i].dst,
                                          pl->steps[i].origin};
    char err[512];
    int rs = landlock_ruleset(rules, n, abi, err, sizeof err);
    if (rs < 0) {
        fprintf(stderr, "sandlot: native backend: %s\n", err);
        _exit(EXIT_SANDLOT);
    }
    free(rules);
    return rs;
}

/* Read exactly n bytes from fd; false at an early EOF (errno EINVAL) or error. */
static bool read_exact(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = EINVAL;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/*
 * The seccomp program, as sandlot compiled it while this side built the
 * sandbox (send_filter in launch.c): its length, then that many bytes.
 * No program, or one cut short (sandlot failed), is fatal.
 */
static struct sock_filter *read_filter(int fd, size_t *len)
{
    uint32_t n;
    if (!read_exact(fd, &n, sizeof n))
        setup_fail("the seccomp program did not arrive");
    if (n == 0 || n > NATIVE_FILTER_MAX || n % sizeof(struct sock_filter) != 0 ||
        n / sizeof(struct sock_filter) > 0xffff) {
        errno = EINVAL;
        setup_fail("the seccomp program's length (%u bytes)", (unsigned)n);
    }
    char *buf = xmalloc(n);
    if (!read_exact(fd, buf, n))
        setup_fail("the seccomp program did not arrive whole");
    close(fd);
    *len = n;
    return (struct sock_filter *)buf;
}

/* pid 1 ends the sandbox on a forwarded signal: the kernel kills the rest. */
static void on_signal(int sig)
{
    _exit(128 + sig);
}

/* The command's process: the last steps, then exec. */
__attribute__((noreturn)) static void command(const struct native_ctx *ctx, char **cmd)
{
    const struct plan *pl = ctx->plan;
    child_reset_signals(false);
    int rs = -1;
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        switch (s->op) {
        case STEP_SESSION:
            if (setsid() < 0)
                setup_fail("setsid");
            break;
        case STEP_PDEATH:
            if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
                setup_fail("PR_SET_PDEATHSIG");
            break;
        case STEP_LANDLOCK: rs = plan_ruleset(pl); break;
        case STEP_NNP:
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
                setup_fail("PR_SET_NO_NEW_PRIVS");
            break;
        case STEP_CAPS: drop_caps(); break;
        case STEP_RESTRICT:
            if (landlock_restrict(rs) != 0)
                setup_fail("enforcing the Landlock ruleset");
            break;
        case STEP_SECCOMP: {
            size_t len;
            struct sock_filter *bpf = read_filter(ctx->filter_fd, &len);
            /* rlimits last before the filter, as for bwrap */
            child_apply_limits(pl->limits, pl->nlimits);
            struct sock_fprog prog = {(unsigned short)(len / sizeof *bpf), bpf};
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
                setup_fail("loading the seccomp filter");
            break;
        }
        default: break;
        }
    }
    /* what sandlot-exec does under bwrap: the pseudo-terminal, the proxy's word, ready byte,
     * close all, exec */
    char err[256];
    if ((ctx->pty_sock >= 0 && !child_pty(ctx->pty_sock, ctx->pty_mask, err, sizeof err)) ||
        (ctx->egress_fd >= 0 && !child_egress_started(ctx->egress_fd, err, sizeof err))) {
        fprintf(stderr, "sandlot: native backend: %s\n", err);
        _exit(EXIT_SANDLOT);
    }
    ssize_t w; /* sandlot gone (EPIPE): nobody supervises, so nothing runs */
    while ((w = write(ctx->ready_fd, "R", 1)) < 0 && errno == EINTR)
        ;
    if (w != 1)
        _exit(EXIT_SANDLOT);
    environ = ctx->envp;
    child_exec(ctx->ready_fd, cmd);
}


/* Die with sandlot; if it is already gone, the pipe it holds says so. */
static void die_with_sandlot(const struct native_ctx *ctx)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        setup_fail("PR_SET_PDEATHSIG");
    struct pollfd pfd = {ctx->alive_fd, 0, 0};
    if (poll(&pfd, 1, 0) != 0)
        _exit(EXIT_SANDLOT);
}

void native_child(const struct native_ctx *ctx)
{
    const struct plan *pl = ctx->plan;
    die_with_sandlot(ctx);
    /* the command's words may live in the memory scrub_self() clears */
    size_t ncmd = 0;
    while (ctx->cmd[ncmd])
        ncmd++;
    char **cmd = xcalloc(ncmd + 1, sizeof *cmd);
    for (size_t i = 0; i < ncmd; i++)
        cmd[i] = xstrdup(ctx->cmd[i]);
    scrub_self();
    /* a forwarded signal ends the sandbox from the start (pid 1 ignores what it has no handler for) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < child_nforwarded_signals; i++)
        sigaction(child_forwarded_signals[i], &sa, NULL);
    /* blocked since the clone (launch.c): one forwarded meanwhile lands now */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    struct source *src = xcalloc(pl->n, sizeof *src); /* all SOURCE_NONE */
    int root = -1;
    char map[64], gmap[64];
    const char *failed;
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        switch (s->op) {
        case STEP_MAP_IDS:
            if (ctx->ids_fd >= 0) { /* root invoker: sandlot maps us onto its host identity */
                char byte;
                ssize_t got;
                while ((got = read(ctx->ids_fd, &byte, 1)) < 0 && errno == EINTR)
                    ;
                if (got != 1)
                    _exit(EXIT_SANDLOT); /* sandlot could not write the maps: it said why */
                close(ctx->ids_fd);
                if (!identity_become(ctx->plan->uid, ctx->plan->gid, true))
                    setup_fail("becoming uid %u gid %u", ctx->plan->uid, ctx->plan->gid);
                /* a change of ids clears the parent-death signal: set it again */
                die_with_sandlot(ctx);
                break;
            }
            snprintf(map, sizeof map, "%u %u 1\n", ctx->plan->uid, ctx->outer_uid);
            snprintf(gmap, sizeof gmap, "%u %u 1\n", ctx->plan->gid, ctx->outer_gid);
            if (!identity_write_maps("/proc/self", map, gmap, true, &failed))
                setup_fail("writing /proc/self/%s", failed);
            break;
        case STEP_ROOT: {
            /* no host mount event reaches the sandbox, nothing leaves it */
            struct mount_attr priv = {.propagation = MS_PRIVATE};
            if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &priv, sizeof priv) != 0)
                setup_fail("making the mount namespace private");
            /* every bind source, opened before the new root covers anything */
            for (size_t j = i + 1; j < pl->n; j++)
                if (pl->steps[j].op == STEP_BIND)
                    src[j] = ctx->trees ? ctx->trees[j] : open_bind_source(&pl->steps[j]);
            int t = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (t < 0)
                setup_fail("opening /tmp for the new root");
            attach(new_tmpfs(LIMIT_UNLIMITED, "the new root"), t, "the new root");
            root = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (root < 0)
                setup_fail("opening the new root");
            break;
        }
        case STEP_PROC: mount_proc(root); break;
        case STEP_PROC_RO: cover_proc(root, s->dst, s->kind == MOUNT_RO_BIND_TRY); break;
        case STEP_DEV: mount_dev(root); break;
        case STEP_TMPFS: attach_at(root, new_tmpfs(s->size, s->dst), s->dst, true); break;
        case STEP_DIR: {
            int d = make_target(root, s->dst, true);
            if (d < 0)
                setup_fail("creating the directory %s", s->dst);
            close(d);
            break;
        }
        case STEP_SYMLINK: make_symlink(root, s->src, s->dst); break;
        case STEP_BIND:
            if (src[i].state != SOURCE_OPEN)
                break; /* ro_bind_try of an absent source */
            if (ctx->trees)
                attach_tree(root, src[i].fd, s->src, s->dst); /* its flags are set already */
            else
                bind_tree(root, src[i].fd, s->src, s->dst, native_bind_attrs(s->kind));
            close(src[i].fd);
            break;
        case STEP_MASK: mount_mask(root, s); break;
        case STEP_FILE: mount_file(root, s); break;
        case STEP_REMOUNT_RO: remount_ro(root, s->dst); break;
        case STEP_PIVOT:
            if (fchdir(root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
                syscall(SYS_umount2, ".", MNT_DETACH) != 0 || chdir("/") != 0)
                setup_fail("pivot_root into the new root");
            close(root);
            break;
        case STEP_LOOPBACK: loopback_up(); break;
        case STEP_EGRESS: {
            char err[512];
            if (!child_egress_listen(ctx->egress_fd, EGRESS_PORT, err, sizeof err)) {
                fprintf(stderr, "sandlot: native backend: %s\n", err);
                _exit(EXIT_SANDLOT);
            }
            break;
        }
        case STEP_CHDIR:
            if (chdir(s->dst) != 0)
                setup_fail("chdir %s", s->dst);
            break;
        default: break;
        }
    }
    free(src);

    pid_t pid = fork();
    if (pid < 0)
        setup_fail("fork");
    if (pid == 0)
        command(ctx, cmd);
    close(ctx->ready_fd);
    if (ctx->pty_sock >= 0)
        close(ctx->pty_sock);
    if (ctx->egress_fd >= 0)
        close(ctx->egress_fd);
    /* The reaper needs no privilege and shows nothing of sandlot. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        setup_fail("hardening the reaper"); /* pid 1 ends: so does the command */
    drop_caps();
    /* with the terminal on the pty, the reaper, which says nothing more, keeps none of it */
    if (ctx->pty_mask & 4) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDERR_FILENO) < 0)
            _exit(EXIT_SANDLOT);
        close(null);
    }
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            _exit(EXIT_SANDLOT);
        if (w == pid)
            _exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
    }
}
