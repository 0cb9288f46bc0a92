/* filter.c: the seccomp syscall filter; see filter.h. */
#include "filter.h"
#include "util.h"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define KILL (-1)

/* How an entry matches: always, or on one argument. */
enum cond {
    ALWAYS,
    NS_FLAGS,       /* arg0 holds a CLONE_NEW* flag (unshare, clone) */
    TTY_INJECT,     /* arg1, low 32 bits, is TIOCSTI or TIOCLINUX (ioctl) */
    SOCKET_FAMILY,  /* arg0 is not AF_UNIX, AF_INET, AF_INET6, AF_NETLINK */
    SOCKET_NETWORK, /* arg0 is AF_INET, AF_INET6 or AF_NETLINK (strict) */
    PERSONALITY,    /* arg0 has a bit besides PER_LINUX32 and UNAME26 */
    /* the mode, argument 1, 2 or 3, carries S_ISUID or S_ISGID */
    SETID_MODE1,
    SETID_MODE2,
    SETID_MODE3
};

struct entry {
    const char *name;
    int action; /* errno, or KILL */
    enum cond cond;
};

static const char *const cond_text[] = {
    [ALWAYS] = "",
    [NS_FLAGS] = "with a CLONE_NEW* flag",
    [TTY_INJECT] = "TIOCSTI or TIOCLINUX",
    [SOCKET_FAMILY] = "family other than unix, inet, inet6, netlink",
    [SOCKET_NETWORK] = "family inet, inet6 or netlink",
    [PERSONALITY] = "other than PER_LINUX, PER_LINUX32, UNAME26",
    [SETID_MODE1] = "mode with S_ISUID or S_ISGID",
    [SETID_MODE2] = "mode with S_ISUID or S_ISGID",
    [SETID_MODE3] = "mode with S_ISUID or S_ISGID",
};

/* The base list: the union of Flatpak's and Docker's default denials. */
static const struct entry base[] = {
    /* kernel keyring */
    {"add_key", EPERM, ALWAYS}, {"keyctl", EPERM, ALWAYS}, {"request_key", EPERM, ALWAYS},
    /* other processes' memory */
    {"ptrace", EPERM, ALWAYS}, {"process_vm_readv", EPERM, ALWAYS},
    {"process_vm_writev", EPERM, ALWAYS}, {"pidfd_getfd", EPERM, ALWAYS},
    {"kcmp", EPERM, ALWAYS},
    /* large kernel attack surface */
    {"bpf", EPERM, ALWAYS}, {"perf_event_open", EPERM, ALWAYS}, {"userfaultfd", EPERM, ALWAYS},
    {"io_uring_setup", EPERM, ALWAYS}, {"io_uring_enter", EPERM, ALWAYS},
    {"io_uring_register", EPERM, ALWAYS}, {"fanotify_init", EPERM, ALWAYS},
    /* the machine itself */
    {"kexec_load", EPERM, ALWAYS}, {"kexec_file_load", EPERM, ALWAYS},
    {"init_module", EPERM, ALWAYS}, {"finit_module", EPERM, ALWAYS},
    {"delete_module", EPERM, ALWAYS}, {"reboot", EPERM, ALWAYS}, {"swapon", EPERM, ALWAYS},
    {"swapoff", EPERM, ALWAYS}, {"syslog", EPERM, ALWAYS}, {"acct", EPERM, ALWAYS},
    {"quotactl", EPERM, ALWAYS}, {"quotactl_fd", EPERM, ALWAYS}, {"iopl", EPERM, ALWAYS},
    {"ioperm", EPERM, ALWAYS},
    /* file handles bypass path checks */
    {"open_by_handle_at", EPERM, ALWAYS}, {"name_to_handle_at", EPERM, ALWAYS},
    /* NUMA */
    {"mbind", EPERM, ALWAYS}, {"migrate_pages", EPERM, ALWAYS}, {"move_pages", EPERM, ALWAYS},
    {"set_mempolicy", EPERM, ALWAYS}, {"get_mempolicy", EPERM, ALWAYS},
    /* execution domains, LDT */
    {"personality", EPERM, PERSONALITY}, {"modify_ldt", EPERM, ALWAYS},
    /* mounts and roots; the new mount API gets ENOSYS so callers fall back */
    {"mount", EPERM, ALWAYS}, {"umount2", EPERM, ALWAYS}, {"pivot_root", EPERM, ALWAYS},
    {"chroot", EPERM, ALWAYS}, {"open_tree", ENOSYS, ALWAYS}, {"move_mount", ENOSYS, ALWAYS},
    {"fsopen", ENOSYS, ALWAYS}, {"fsconfig", ENOSYS, ALWAYS}, {"fsmount", ENOSYS, ALWAYS},
    {"fspick", ENOSYS, ALWAYS}, {"mount_setattr", ENOSYS, ALWAYS},
    /* namespaces; clone3 cannot be inspected, ENOSYS makes libc use clone */
    {"unshare", EPERM, NS_FLAGS}, {"clone", EPERM, NS_FLAGS}, {"setns", EPERM, ALWAYS},
    {"clone3", ENOSYS, ALWAYS},
    /* typing into the terminal of whoever started us */
    {"ioctl", EPERM, TTY_INJECT},
    /* rarely needed socket families with a history of bugs */
    {"socket", EAFNOSUPPORT, SOCKET_FAMILY},
    /* host identity and time */
    {"sethostname", EPERM, ALWAYS}, {"setdomainname", EPERM, ALWAYS},
    {"settimeofday", EPERM, ALWAYS}, {"clock_settime", EPERM, ALWAYS},
    {"clock_adjtime", EPERM, ALWAYS}, {"adjtimex", EPERM, ALWAYS},
    /*
     * setuid/setgid files, whatever the uid: a file planted in a writable
     * bind must never give its later host users another identity.  The
     * chmod family and every call that creates a file with a mode.
     * openat2's mode sits in a struct seccomp cannot read: ENOSYS, and libc
     * uses openat.
     */
    {"chmod", EPERM, SETID_MODE1}, {"fchmod", EPERM, SETID_MODE1},
    {"fchmodat", EPERM, SETID_MODE2}, {"fchmodat2", EPERM, SETID_MODE2},
    {"open", EPERM, SETID_MODE2}, {"openat", EPERM, SETID_MODE3},
    {"creat", EPERM, SETID_MODE1}, {"mknod", EPERM, SETID_MODE1},
    {"mknodat", EPERM, SETID_MODE2}, {"mkdir", EPERM, SETID_MODE1},
    {"mkdirat", EPERM, SETID_MODE2}, {"openat2", ENOSYS, ALWAYS},
};

/* What "strict" refuses on top of the base list. */
static const struct entry strict[] = {
    {"socket", EAFNOSUPPORT, SOCKET_NETWORK}, /* only unix sockets */
    {"mincore", EPERM, ALWAYS},               /* page-cache side channel */
    {"vmsplice", EPERM, ALWAYS},
    {"memfd_secret", EPERM, ALWAYS},
};

bool seccomp_syscall_known(const char *name)
{
    return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

static const struct {
    const char *name;
    int action;
} actions[] = {{"EPERM", EPERM}, {"ENOSYS", ENOSYS}, {"EACCES", EACCES},
               {"EAFNOSUPPORT", EAFNOSUPPORT}, {"kill", KILL}};

bool seccomp_action_parse(const char *s, int *out)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(s, actions[i].name) == 0) {
            *out = actions[i].action;
            return true;
        }
    return false;
}

const char *seccomp_action_name(int action)
{
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (actions[i].action == action)
            return actions[i].name;
    return "?";
}

static uint32_t act(int action)
{
    return action == KILL ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO((uint32_t)action);
}

/* One argument comparison, every field named (libseccomp's macros leave datum_b implicit). */
static struct scmp_arg_cmp cmp(unsigned int arg, enum scmp_compare op, uint64_t a, uint64_t b)
{
    struct scmp_arg_cmp c = {.arg = arg, .op = op, .datum_a = a, .datum_b = b};
    return c;
}

static const uint64_t ns_flags[] = {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                    CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME};

/*
 * Add one entry.  libseccomp compares an argument once per rule, so "not
 * in a set" becomes one rule per refused value, flag or range.
 */
static int add(scmp_filter_ctx ctx, const struct entry *en)
{
    int nr = seccomp_syscall_resolve_name(en->name);
#ifdef __NR_fchmodat2
    if (nr == __NR_SCMP_ERROR && strcmp(en->name, "fchmodat2") == 0)
        /* the kernel has it, this libseccomp does not: refuse it whole, libc
         * falls back to fchmodat on ENOSYS */
        return seccomp_rule_add(ctx, act(ENOSYS), __NR_fchmodat2, 0);
#endif
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture: nothing to refuse */
    uint32_t a = act(en->action);
    int r = 0;
    switch (en->cond) {
    case ALWAYS:
        return seccomp_rule_add(ctx, a, nr, 0);
    case NS_FLAGS:
        for (size_t i = 0; r == 0 && i < sizeof ns_flags / sizeof ns_flags[0]; i++)
            r = seccomp_rule_add(ctx, a, nr, 1, cmp(0, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
        return r;
    case TTY_INJECT:
        r = seccomp_rule_add(ctx, a, nr, 1, cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
        if (r == 0)
            r = seccomp_rule_add(ctx, a, nr, 1,
                                 cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
        return r;
    case SOCKET_FAMILY:
        for (int fam = 0; r == 0 && fam < AF_MAX; fam++)
            if (fam != AF_UNIX && fam != AF_INET && fam != AF_INET6 && fam != AF_NETLINK)
                r = seccomp_rule_add(ctx, a, nr, 1, cmp(0, SCMP_CMP_EQ, (uint64_t)fam, 0));
        if (r == 0)
            r = seccomp_rule_add(ctx, a, nr, 1, cmp(0, SCMP_CMP_GE, (uint64_t)AF_MAX, 0));
        return r;
    case SOCKET_NETWORK: {
        const int fams[] = {AF_INET, AF_INET6, AF_NETLINK};
        for (size_t i = 0; r == 0 && i < 3; i++)
            r = seccomp_rule_add(ctx, a, nr, 1, cmp(0, SCMP_CMP_EQ, (uint64_t)fams[i], 0));
        return r;
    }
    case PERSONALITY:
        /* PER_LINUX32 is bit 3, UNAME26 bit 17; any other bit is refused */
        for (int bit = 0; r == 0 && bit < 32; bit++)
            if (bit != 3 && bit != 17)
                r = seccomp_rule_add(ctx, a, nr, 1, cmp(0, SCMP_CMP_MASKED_EQ, 1ull << bit, 1ull << bit));
        return r;
    case SETID_MODE1:
    case SETID_MODE2:
    case SETID_MODE3: {
        unsigned arg = 1 + (unsigned)(en->cond - SETID_MODE1);
        r = seccomp_rule_add(ctx, a, nr, 1, cmp(arg, SCMP_CMP_MASKED_EQ, S_ISUID, S_ISUID));
        if (r == 0)
            r = seccomp_rule_add(ctx, a, nr, 1, cmp(arg, SCMP_CMP_MASKED_EQ, S_ISGID, S_ISGID));
        return r;
    }
    }
    return -EINVAL;
}

int seccomp_program_fd(const struct policy *p, struct sl_err *e)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int fd = -1, r = 0;
    if (!ctx) {
        snprintf(e->msg, sizeof e->msg, "seccomp: cannot create a filter");
        return -1;
    }
    /* Native architecture only: a foreign-arch (x32, i386) syscall kills. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; r == 0 && i < sizeof base / sizeof base[0]; i++)
        r = add(ctx, &base[i]);
    if (p->seccomp_strict)
        for (size_t i = 0; r == 0 && i < sizeof strict / sizeof strict[0]; i++)
            r = add(ctx, &strict[i]);
    for (size_t i = 0; r == 0 && i < p->ndenials; i++) {
        struct entry en = {p->denials[i].name, p->denials[i].action, ALWAYS};
        r = add(ctx, &en);
    }
    if (r == 0) {
        fd = memfd_create("sandlot-seccomp", MFD_CLOEXEC);
        if (fd < 0)
            r = -errno;
    }
    if (r == 0)
        r = seccomp_export_bpf(ctx, fd);
    if (r == 0 && lseek(fd, 0, SEEK_SET) != 0)
        r = -errno;
    seccomp_release(ctx);
    if (r != 0) {
        snprintf(e->msg, sizeof e->msg, "seccomp: cannot build the filter: %s", strerror(-r));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

void seccomp_describe(const struct policy *p,
                      void (*emit)(void *ud, const char *syscall, const char *action,
                                   const char *when, const char *origin,
                                   enum rule_source source),
                      void *ud)
{
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        emit(ud, base[i].name, seccomp_action_name(base[i].action), cond_text[base[i].cond],
             "sandlot: base list", RULE_BASE);
    if (p->seccomp_strict)
        for (size_t i = 0; i < sizeof strict / sizeof strict[0]; i++)
            emit(ud, strict[i].name, seccomp_action_name(strict[i].action),
                 cond_text[strict[i].cond], p->seccomp_origin ? p->seccomp_origin : "strict",
                 RULE_STRICT);
    for (size_t i = 0; i < p->ndenials; i++)
        emit(ud, p->denials[i].name, seccomp_action_name(p->denials[i].action), "",
             p->denials[i].origin, RULE_EXTRA);
}
