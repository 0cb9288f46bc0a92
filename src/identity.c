/* identity.c: the host identity a sandbox runs as; see identity.h. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static bool refuse(struct sl_err *e, const char *fmt, const char *what)
{
    snprintf(e->msg, sizeof e->msg, fmt, what);
    return false;
}

/* Whether gid 0 is among this process's ids or supplementary groups. */
static bool holds_gid0(void)
{
    gid_t r, ef, s;
    if (getresgid(&r, &ef, &s) != 0 || r == 0 || ef == 0 || s == 0)
        return true;
    gid_t groups[256];
    int n = getgroups(256, groups);
    if (n < 0)
        return true; /* more groups than we can look at: assume the worst */
    for (int i = 0; i < n; i++)
        if (groups[i] == 0)
            return true;
    return false;
}

bool identity_init(struct identity *id, unsigned want_uid, unsigned want_gid, struct sl_err *e)
{
    memset(id, 0, sizeof *id);
    id->idmap_fd = -1;
    uid_t r, ef, s;
    if (getresuid(&r, &ef, &s) != 0)
        return refuse(e, "%s", "cannot read this process's user ids");
    if (ef != 0) {
        if (want_uid || want_gid)
            return refuse(e, "%s", "--host-id needs a root invoker: an ordinary invoker's sandbox "
                                   "always runs as the invoker");
        if (r == 0 || s == 0)
            return refuse(e, "%s", "invoked with a real or saved uid of 0 but not as root: the "
                                   "sandbox would keep it; run sandlot as root or drop uid 0 first");
        if (holds_gid0())
            return refuse(e, "%s", "invoked with gid 0 (group root) but not as root: the sandbox "
                                   "would keep it; run sandlot as root, or without group root");
        id->uid = (unsigned)ef;
        id->gid = (unsigned)getegid();
        return true;
    }
    id->root = true;
    id->uid = want_uid ? want_uid : IDENTITY_DEFAULT_ID;
    id->gid = want_gid ? want_gid : IDENTITY_DEFAULT_ID;
    return true;
}

void identity_release(struct identity *id)
{
    if (id->idmap_fd >= 0)
        close(id->idmap_fd);
    id->idmap_fd = -1;
}

bool identity_write_maps(const char *proc_dir, const char *uid_map, const char *gid_map,
                         bool deny_setgroups, const char **failed)
{
    static const char *const files[] = {"setgroups", "uid_map", "gid_map"};
    const char *text[] = {deny_setgroups ? "deny" : NULL, uid_map, gid_map};
    for (int i = 0; i < 3; i++) {
        if (!text[i])
            continue;
        char path[64];
        snprintf(path, sizeof path, "%s/%s", proc_dir, files[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(text[i]);
        bool ok = fd >= 0 && write(fd, text[i], n) == (ssize_t)n;
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            *failed = files[i];
            errno = err;
            return false;
        }
    }
    return true;
}

/*
 * An id map that swaps 0 and h and keeps every other id: root's files are
 * the sandbox identity's, what it creates is root's, and every other
 * user's files stay theirs (an id left unmapped would make them read-only
 * to everyone: the kernel refuses writes to such an inode).
 */
static void swap_map(char *out, size_t n, unsigned h)
{
    int len = snprintf(out, n, "0 %u 1\n%u 0 1\n", h, h);
    if (h > 1)
        len += snprintf(out + len, n - (size_t)len, "1 1 %u\n", h - 1);
    if (h < 4294967294u)
        snprintf(out + len, n - (size_t)len, "%u %u %u\n", h + 1, h + 1, 4294967294u - h);
}

/*
 * A user namespace whose map swaps id 0 and the sandbox identity's: the
 * idmapping of root-owned binds.  Made by a short-lived child (a namespace
 * exists while something holds it: the descriptor does, once opened).
 */
static int idmap_userns(const struct identity *id)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        char c;
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    int err = errno, fd = -1;
    close(hold[0]);
    if (pid > 0) {
        char dir[32], path[64], umap[128], gmap[128];
        const char *failed;
        snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
        swap_map(umap, sizeof umap, id->uid);
        swap_map(gmap, sizeof gmap, id->gid);
        snprintf(path, sizeof path, "%s/ns/user", dir);
        fd = identity_write_maps(dir, umap, gmap, true, &failed)
                 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        err = errno;
    }
    close(hold[1]); /* the child ends */
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    errno = err;
    return fd;
}

/*
 * Whether the sandbox identity may use the tree as it is (no idmap): read
 * it (and list a directory), and write it when the bind is writable, by
 * the owner, group or other bits that apply to it.
 */
static bool usable_as_is(const struct identity *id, const struct stat *st, bool writable)
{
    unsigned shift = st->st_uid == id->uid ? 6 : st->st_gid == id->gid ? 3 : 0;
    unsigned need = 4u | (S_ISDIR(st->st_mode) ? 1u : 0u) | (writable ? 2u : 0u);
    return ((st->st_mode >> shift) & need) == need;
}

/* The tree as it is, with attrs (MOUNT_ATTR_*) set. */
static bool plain(int tree, unsigned long long attrs)
{
    struct mount_attr a = {.attr_set = attrs};
    return !attrs ||
           syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) == 0;
}

int identity_tree(struct identity *id, int srcfd, const char *path, bool writable,
                  unsigned long long attrs, struct sl_err *e)
{
    int tree = (int)syscall(SYS_open_tree, srcfd, "",
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (tree < 0) {
        int err = errno;
        snprintf(e->msg, sizeof e->msg, "cloning the mount of %s: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    /*
     * Only a tree whose top is root's is idmapped: there root's files must
     * become the sandbox identity's.  Another user's tree is bound as it
     * is, as for an ordinary invoker, and must be usable so.
     */
    struct stat top;
    if (fstat(srcfd, &top) != 0) {
        int err = errno;
        close(tree);
        snprintf(e->msg, sizeof e->msg, "stat %s: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    int err = 0;
    if (top.st_uid == 0) {
        if (id->idmap_fd < 0)
            id->idmap_fd = idmap_userns(id);
        struct mount_attr a = {.attr_set = attrs | MOUNT_ATTR_IDMAP,
                               .userns_fd = (unsigned)id->idmap_fd};
        if (id->idmap_fd >= 0 && syscall(SYS_mount_setattr, tree, "",
                                         AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) == 0)
            return tree;
        /*
         * No idmapped mount here (an old kernel, a filesystem without
         * support, or root inside a user namespace): the plain tree, which
         * the sandbox reaches only as any user could, if that is enough.
         */
        err = errno;
    }
    if (usable_as_is(id, &top, writable) && plain(tree, attrs))
        return tree;
    close(tree);
    const char *what = writable ? "write" : "read";
    const char *able = writable ? "writable" : "readable";
    if (top.st_uid != 0)
        snprintf(e->msg, sizeof e->msg,
                 "bind source %s is owned by uid %u: the sandbox's host identity (uid %u) cannot "
                 "%s it; fix: run the stage with --host-id %u (that user's ids), or make it "
                 "%s by uid %u", path, (unsigned)top.st_uid, id->uid, what, (unsigned)top.st_uid,
                 able, id->uid);
    else
        snprintf(e->msg, sizeof e->msg,
                 "bind source %s: the sandbox's host identity (uid %u gid %u) cannot %s it, and "
                 "idmapping its mount failed (%s; that needs Linux 5.12, a filesystem that "
                 "supports it, and host root); fix: make %s %s by uid %u, or run sandlot as an "
                 "ordinary user", path, id->uid, id->gid, what, strerror(err), path, able, id->uid);
    errno = 0;
    return -1;
}

bool identity_become(unsigned uid, unsigned gid, bool keep_caps)
{
    if (keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return false;
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return false;
    if (!keep_caps)
        return true;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return false;
    d[0].effective = d[0].permitted;
    d[1].effective = d[1].permitted;
    return syscall(SYS_capset, &h, d) == 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0;
}
