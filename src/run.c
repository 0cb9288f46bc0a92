/* run.c: launch and supervise the sandbox; see run.h. */

#include "run.h"
#include "bwrap.h"
#include "doctor.h"
#include "filter.h"
#include "identity.h"
#include "native.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <linux/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>



static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t timed_out;
static volatile sig_atomic_t kill_group; /* signal -pid (unsandboxed: own group) */
static volatile sig_atomic_t got_signal; /* a terminating signal was forwarded */

/* Forward a terminating signal to the child: bwrap dies of it and takes the sandbox down. */
static void forward(int sig)
{
    got_signal = sig;
    if (child_pid > 0)
        kill(kill_group ? -child_pid : child_pid, sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (child_pid > 0)
        kill(kill_group ? -child_pid : child_pid, SIGKILL);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void install_handlers(double timeout)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = forward;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &sa, NULL);
    if (timeout > 0) {
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 0}, {(time_t)timeout,
                                        (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)}};
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
            it.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

/* The signals whose handlers name child_pid: the forwarded ones and SIGALRM. */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(set, forwarded[i]);
    sigaddset(set, SIGALRM);
}

static sigset_t mask_before; /* the mask sandlot had before arm_signals() */

/*
 * Arm forwarding and the timeout, with their signals blocked until
 * child_started() has named the child: a signal that lands while the
 * child is being forked or cloned waits instead of reaching a handler
 * that has no child to forward it to (it used to be lost, and sandlot
 * then waited for a command that ran to its end).
 */
static void arm_signals(double timeout)
{
    sigset_t block;
    handled_signals(&block);
    sigprocmask(SIG_BLOCK, &block, &mask_before);
    install_handlers(timeout);
}

/*
 * In the parent, once fork or clone has returned pid: name the child the
 * handlers signal (its own process group first when kill_group), then
 * restore the mask, which delivers and forwards what came meanwhile.
 */
static void child_started(pid_t pid)
{
    if (kill_group)
        setpgid(pid, pid);
    child_pid = pid;
    sigprocmask(SIG_SETMASK, &mask_before, NULL);
}

/*
 * In the child before exec: default dispositions, then an empty mask,
 * so that a signal forwarded to it before this point (held pending by
 * the mask it inherited) now takes its default effect.  With hold, the
 * forwarded signals stay blocked: the native pid 1 unblocks them once its
 * own handlers are in place, as a pid namespace's init discards a signal
 * it has no handler for.
 */
static void reset_signals(bool hold)
{
    sigset_t mask;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        signal(forwarded[i], SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&mask);
    for (size_t i = 0; hold && i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&mask, forwarded[i]);
    sigprocmask(SIG_SETMASK, &mask, NULL);
}

/*
 * Arm forwarding and the timeout, then fork.  Returns the child's pid in
 * the parent, where the handlers already reach it, and 0 in the child,
 * whose signals are back to defaults.
 */
static pid_t start_child(double timeout)
{
    arm_signals(timeout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0)
        reset_signals(false);
    else
        child_started(pid);
    return pid;
}

/* Wait for the child, retrying on EINTR; returns the wait status. */
static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    child_pid = 0;
    return status;
}

double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * The exit status of DESIGN.md, and the result's class.  An exit status
 * of 129..192 from bwrap is how it reports a command killed by a signal,
 * read the same way as a shell does.
 */
static int status_to_exit(int status, struct run_result *res)
{
    res->ended = monotonic_seconds();
    if (timed_out) {
        res->class = "timeout";
        if (g_verbosity > 0)
            fprintf(stderr, "sandlot: the --timeout expired: the sandbox was killed (exit 124)\n");
        return EXIT_TIMEOUT;
    }
    if (WIFSIGNALED(status)) {
        res->class = "signaled";
        res->signal = WTERMSIG(status);
        return 128 + WTERMSIG(status);
    }
    int code = WEXITSTATUS(status);
    if (code > 128 && code <= 128 + 64) {
        res->class = "signaled";
        res->signal = code - 128;
    } else {
        res->class = "exited";
        res->exit_code = code;
    }
    return code;
}

bool diagnose_userns(void)
{
    struct check c;
    doctor_userns(&c);
    if (c.ok)
        return false;
    fprintf(stderr, "sandlot: user namespaces are unavailable here: %s; fix: %s\n", c.detail,
            c.fix);
    return true;
}

/*
 * In the child, before bwrap: the policy's rlimits, soft = hard, never
 * above the hard limit already in force (only privilege could raise it).
 */
void run_apply_limits(const struct policy *p)
{
    static const struct {
        enum limit l;
        int resource;
    } map[] = {{LIMIT_NOFILE, RLIMIT_NOFILE}, {LIMIT_NPROC, RLIMIT_NPROC},
               {LIMIT_AS, RLIMIT_AS},         {LIMIT_DATA, RLIMIT_DATA},
               {LIMIT_CPU, RLIMIT_CPU},       {LIMIT_FSIZE, RLIMIT_FSIZE},
               {LIMIT_CORE, RLIMIT_CORE}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        long long v = p->limit[map[i].l];
        if (v == LIMIT_UNLIMITED)
            continue;
        struct rlimit cur, want;
        if (getrlimit(map[i].resource, &cur) != 0)
            _exit(EXIT_SANDLOT);
        rlim_t r = (rlim_t)v;
        if (cur.rlim_max != RLIM_INFINITY && r > cur.rlim_max)
            r = cur.rlim_max;
        want.rlim_cur = want.rlim_max = r;
        if (setrlimit(map[i].resource, &want) != 0) {
            fprintf(stderr, "sandlot: cannot set limit %s: %s\n", limit_name(map[i].l),
                    strerror(errno));
            _exit(EXIT_SANDLOT);
        }
    }
}

/*
 * A bind source's descriptor (bind_source_open), or die naming it;
 * -2 for an absent ro_bind_try source, which bwrap_build leaves out.
 */
static int open_source(const char *path, enum mount_kind k)
{
    struct sl_err e;
    int fd = bind_source_open(path, k, &e);
    if (fd < 0 && e.msg[0])
        die("%s", e.msg);
    return fd < 0 ? -2 : fd;
}

/* The sandbox's host identity for this invoker (identity.h), or die naming why not. */
static void host_identity(const struct run_opts *o, struct identity *id)
{
    struct sl_err e;
    if (!identity_init(id, o->host_uid, o->host_gid, &e))
        die("%s", e.msg);
}

/*
 * In a child of a root invoker: become the sandbox's host identity for
 * good, or exit 125.  (This clears the parent-death signal, which the
 * child had none of: bwrap arms its own, in the order its sandbox needs.)
 */
static void become(const struct identity *id)
{
    if (identity_become(id->uid, id->gid, false))
        return;
    fprintf(stderr, "sandlot: cannot become uid %u gid %u: %s\n", id->uid, id->gid,
            strerror(errno));
    _exit(EXIT_SANDLOT);
}

/*
 * A root invoker's bind could not be prepared (identity_tree): when even
 * cloning was refused, root lacks its privilege here, most likely inside a
 * user namespace: if user namespaces are the problem, say that.
 */
__attribute__((noreturn)) static void refused_tree(const struct sl_err *e)
{
    if (errno == EPERM && diagnose_userns())
        exit(EXIT_SANDLOT);
    die("%s", e->msg);
}

/*
 * Root invoker, bwrap: replace each bind source's descriptor by an
 * idmapped clone of its tree (identity_tree), so bwrap, run as the
 * sandbox's unprivileged host identity, binds root's files as that
 * identity's.  bwrap 0.8 refuses a detached tree, so the child attaches
 * each one first (attach_trees).
 */
static void idmap_sources(struct identity *id, const struct policy *p, int *bind_fds, int *work_fd)
{
    struct sl_err e;
    for (size_t i = 0; i <= p->nmounts; i++) {
        int *fd = i < p->nmounts ? &bind_fds[i] : work_fd;
        if (*fd < 0 || (i < p->nmounts && p->mounts[i].kind == MOUNT_MASK_FILE))
            continue; /* nothing, or a mask's empty memfd: no tree to map */
        const char *src = i < p->nmounts ? p->mounts[i].src : p->work_host;
        bool rw = i == p->nmounts || p->mounts[i].kind == MOUNT_RW_BIND;
        int tree = identity_tree(id, *fd, src, rw, 0, &e);
        if (tree < 0)
            refused_tree(&e);
        close(*fd);
        *fd = tree;
    }
}

/*
 * In bwrap's child, root invoker: a private mount namespace of sandlot's
 * own, where each idmapped tree is attached over its source (reopened
 * by the same opener), so bwrap can bind it by descriptor.  Nothing here
 * reaches the host's mount table.
 */
static void attach_trees(const struct policy *p, const int *bind_fds, int work_fd)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "sandlot: a private mount namespace for the binds: %s\n", strerror(errno));
        _exit(EXIT_SANDLOT);
    }
    for (size_t i = 0; i <= p->nmounts; i++) {
        int tree = i < p->nmounts ? bind_fds[i] : work_fd;
        if (tree < 0 || (i < p->nmounts && p->mounts[i].kind == MOUNT_MASK_FILE))
            continue;
        const char *src = i < p->nmounts ? p->mounts[i].src : p->work_host;
        struct sl_err e;
        int at = bind_source_open(src, i < p->nmounts ? p->mounts[i].kind : MOUNT_RW_BIND, &e);
        if (at < 0 || syscall(SYS_move_mount, tree, "", at, "",
                              MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
            fprintf(stderr, "sandlot: %s\n", at < 0 && e.msg[0] ? e.msg : strerror(errno));
            _exit(EXIT_SANDLOT);
        }
        close(at);
    }
}

/* Clear FD_CLOEXEC so fd survives into bwrap. */
static void keep_open(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
        _exit(EXIT_SANDLOT);
}

/*
 * Wait for the sandbox: the ready byte (the command is about to start;
 * EOF: setup ended first), then the child's end.  Returns sandlot's exit
 * status, or -1 when the sandbox ended before the command started (a
 * setup failure, res->class set; *status is the wait status).
 */
static int supervise(pid_t pid, int ready_rd, struct run_result *res, int *status)
{
    /*
     * Watch the child as well as the pipe: a process it left behind (bwrap's
     * init, when a signal kills bwrap before the init runs) may hold the
     * pipe's write end forever.  Without pidfd (Linux < 5.3): the pipe alone.
     */
    int child = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd fds[2] = {{ready_rd, POLLIN, 0}, {child, POLLIN, 0}};
    while (child >= 0 && poll(fds, 2, -1) < 0 && errno == EINTR)
        ;
    if (child >= 0 && !(fds[0].revents & (POLLIN | POLLHUP))) /* the child ended first */
        fcntl(ready_rd, F_SETFL, O_NONBLOCK);
    if (child >= 0)
        close(child);
    char byte;
    ssize_t got;
    do
        got = read(ready_rd, &byte, 1);
    while (got < 0 && errno == EINTR);
    if (got == 1)
        res->ready = monotonic_seconds();
    close(ready_rd);
    *status = wait_child(pid);
    if (got == 1 || timed_out || got_signal || WIFSIGNALED(*status))
        return status_to_exit(*status, res);
    res->class = "setup_error";
    res->ended = monotonic_seconds();
    return -1;
}

/*
 * What outlived bwrap.  bwrap's sandbox init sets die-with-parent only
 * after it starts, so a signal that kills bwrap in that window leaves the
 * sandbox running.  sandlot is the subreaper of its bwrap (run_bwrap), so
 * such an orphan is sandlot's child by the time bwrap has been reaped:
 * kill it (SIGKILL reaches a pid namespace's init from outside, and takes
 * the namespace down) and reap it.  Round after round until sandlot has
 * no child left, so that nothing reparented while a round ran is missed.
 */
static void kill_orphans(void)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    for (bool any = true; any;) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        any = false;
        char *end;
        /* "PID PID ": a number cut short by the buffer is left to the next round */
        for (const char *s = buf;; s = end + 1) {
            long pid = strtol(s, &end, 10);
            if (end == s || *end != ' ')
                break;
            any = true;
            kill((pid_t)pid, SIGKILL);
            while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
}

int run_bwrap(const struct policy *p, const struct run_opts *o, char *const *cmd,
              struct run_result *res)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    /* Options travel in a memfd (--args), off the host's process list. */
    int args = memfd_create("sandlot-bwrap-args", MFD_CLOEXEC);
    if (args < 0)
        die("memfd_create: %s", strerror(errno));
    /* The helper runs from this descriptor inside (/proc/self/fd/N): no bind. */
    int helper = open(o->exec_helper, O_RDONLY | O_CLOEXEC);
    if (helper < 0)
        die("cannot open the exec helper %s: %s", o->exec_helper, strerror(errno));

    struct sl_err e;
    int filter = seccomp_program_fd(p, &e);
    if (filter < 0)
        die("%s", e.msg);

    /* every bind source through the opener both backends share: bwrap binds what it opened */
    int *bind_fds = xcalloc(p->nmounts + 1, sizeof *bind_fds);
    for (size_t i = 0; i < p->nmounts; i++) {
        enum mount_kind k = p->mounts[i].kind;
        bool bind = k == MOUNT_RO_BIND || k == MOUNT_RW_BIND || k == MOUNT_RO_BIND_TRY;
        bind_fds[i] = bind ? open_source(p->mounts[i].src, k) : -1;
        /* a file mask: bwrap copies this empty descriptor into its read-only file */
        if (k == MOUNT_MASK_FILE && (bind_fds[i] = memfd_create("sandlot-mask", MFD_CLOEXEC)) < 0)
            die("memfd_create: %s", strerror(errno));
    }
    int work_fd = p->work_host ? open_source(p->work_host, MOUNT_RW_BIND) : -1;
    struct identity id;
    host_identity(o, &id);
    if (id.root)
        idmap_sources(&id, p, bind_fds, &work_fd);

    struct cmdline c;
    struct bwrap_inputs in = {o->bwrap_path, helper, ready[1], filter, bind_fds, work_fd,
                              environ};
    bwrap_build(p, &in, cmd, &c);
    for (size_t i = 1; i < c.options_end; i++) {
        size_t n = strlen(c.words[i]) + 1;
        for (size_t off = 0; off < n;) {
            ssize_t w = write(args, c.words[i] + off, n - off);
            if (w < 0 && errno != EINTR)
                die("writing bwrap arguments: %s", strerror(errno));
            off += w > 0 ? (size_t)w : 0;
        }
    }
    if (lseek(args, 0, SEEK_SET) != 0)
        die("lseek: %s", strerror(errno));

    char argsfd[16];
    snprintf(argsfd, sizeof argsfd, "%d", args);
    size_t tail = c.nwords - c.options_end;
    char **argv = xcalloc(tail + 4, sizeof *argv);
    argv[0] = c.words[0];
    argv[1] = (char *)"--args";
    argv[2] = argsfd;
    memcpy(argv + 3, c.words + c.options_end, tail * sizeof *argv);

    /* Every descriptor bwrap inherits, kept open in the child, closed here after. */
    int *pass = xcalloc(p->nmounts + 5, sizeof *pass);
    size_t npass = 0;
    pass[npass++] = ready[1];
    pass[npass++] = args;
    pass[npass++] = helper;
    pass[npass++] = filter;
    if (work_fd >= 0)
        pass[npass++] = work_fd;
    for (size_t i = 0; i < p->nmounts; i++)
        if (bind_fds[i] >= 0)
            pass[npass++] = bind_fds[i];

    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    pid_t pid = start_child(o->timeout);
    if (pid == 0) {
        for (size_t i = 0; i < npass; i++)
            keep_open(pass[i]);
        run_apply_limits(p);
        if (id.root) {
            /* bwrap runs as the sandbox's host identity, never as host root */
            attach_trees(p, bind_fds, work_fd);
            become(&id);
        }
        /* bwrap gets an empty environment: --setenv carries the policy's. */
        char *empty[] = {NULL};
        execve(argv[0], argv, empty);
        fprintf(stderr, "sandlot: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(EXIT_SANDLOT);
    }
    for (size_t i = 0; i < npass; i++)
        close(pass[i]);
    free(pass);
    free(bind_fds);
    identity_release(&id);
    int status;
    int st = supervise(pid, ready[0], res, &status);
    kill_orphans();
    free(argv);
    cmdline_free(&c);
    if (st >= 0)
        return st;
    /* bwrap ended before the command started: say why */
    if (!diagnose_userns())
        fprintf(stderr, "sandlot: the sandbox could not be set up: bwrap exited with status %d "
                        "before the command started (its message is above)\n",
                WEXITSTATUS(status));
    return EXIT_SANDLOT;
}

/* The policy's environment as an environ-style list (malloc'd strings). */
static char **policy_envp(const struct policy *p)
{
    char **envp = xcalloc(p->nenv + 1, sizeof *envp);
    size_t n = 0;
    for (size_t i = 0; i < p->nenv; i++) {
        const char *v = p->env[i].value ? p->env[i].value : env_lookup(environ, p->env[i].name);
        if (v)
            envp[n++] = xasprintf("%s=%s", p->env[i].name, v);
    }
    return envp;
}

static void free_envp(char **envp)
{
    for (char **e = envp; *e; e++)
        free(*e);
    free(envp);
}

/* Copy the seccomp program for p into fd (a pipe), then close it. */
static void send_filter(const struct policy *p, int fd)
{
    struct sl_err e;
    int prog = seccomp_program_fd(p, &e);
    if (prog < 0) {
        close(fd); /* the sandbox sees EOF and stops: nothing runs */
        die("%s", e.msg);
    }
    /* a sandbox that already failed has closed its end: EPIPE, not SIGPIPE */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    char buf[8192];
    for (bool gone = false; !gone;) {
        ssize_t n = read(prog, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("seccomp filter: %s", strerror(errno));
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n && !gone;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            gone = w < 0 && errno == EPIPE; /* supervise() reports its failure */
            if (w < 0 && errno != EINTR && !gone)
                die("passing the seccomp filter: %s", strerror(errno));
            off += w > 0 ? w : 0;
        }
    }
    sigaction(SIGPIPE, &old, NULL);
    close(prog);
    close(fd);
}

static void free_trees(int *trees, const struct native_plan *pl)
{
    for (size_t i = 0; trees && i < pl->n; i++)
        if (trees[i] >= 0)
            close(trees[i]);
    free(trees);
}

/*
 * Root invoker, native: every bind source opened here, as root, and
 * cloned into an idmapped tree with its flags set (identity_tree); the
 * child, which by then is the unprivileged host identity, only attaches
 * them.  Returns one descriptor per plan step (-1: none).
 */
static int *native_trees(struct identity *id, const struct native_plan *pl, bool may_fall_back)
{
    int *trees = xcalloc(pl->n + 1, sizeof *trees);
    for (size_t i = 0; i < pl->n; i++) {
        const struct nstep *s = &pl->steps[i];
        trees[i] = -1;
        if (s->op != N_BIND)
            continue;
        struct sl_err e;
        int fd = bind_source_open(s->src, (enum mount_kind)s->kind, &e);
        if (fd < 0 && e.msg[0])
            die("%s", e.msg);
        if (fd < 0)
            continue; /* an absent ro_bind_try source */
        trees[i] = identity_tree(id, fd, s->src, s->kind == MOUNT_RW_BIND,
                                 native_bind_attrs(s->kind), &e);
        close(fd);
        if (trees[i] >= 0)
            continue;
        if (errno == EPERM && may_fall_back) { /* auto: as a refused clone, bwrap then */
            free_trees(trees, pl);
            return NULL;
        }
        refused_tree(&e);
    }
    return trees;
}

/*
 * Root invoker, native: the child's uid and gid maps, written from here
 * (only a process privileged outside may map an id other than its own):
 * the policy's ids inside are the sandbox identity's outside.  Then one
 * byte on ids tells the child to become them.  On failure the child reads
 * EOF and exits 125.
 */
static void map_ids(pid_t pid, const struct policy *p, const struct identity *id, int ids)
{
    char path[64], map[64];
    static const char *const files[] = {"uid_map", "gid_map"};
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
        snprintf(map, sizeof map, "%u %u 1\n", i ? p->gid : p->uid, i ? id->gid : id->uid);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ok = fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map);
        if (!ok)
            fprintf(stderr, "sandlot: native backend: mapping the sandbox onto host uid %u gid %u "
                            "(writing %s): %s%s\n", id->uid, id->gid, path, strerror(errno),
                    errno == EPERM ? " (root inside a user namespace where they are not mapped: "
                                     "run sandlot as an ordinary user)" : "");
        if (fd >= 0)
            close(fd);
    }
    if (ok)
        while (write(ids, "M", 1) < 0 && errno == EINTR)
            ;
    close(ids);
}

int run_native(const struct policy *p, const struct run_opts *o, char *const *cmd,
               struct run_result *res)
{
    int ready[2], alive[2], filt[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(alive, O_CLOEXEC) != 0 ||
        pipe2(filt, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    struct native_plan plan;
    native_plan(p, &plan);
    struct identity id;
    host_identity(o, &id);
    int ids[2] = {-1, -1};
    int *trees = id.root ? native_trees(&id, &plan, o->may_fall_back) : NULL;
    if (id.root && !trees) {
        identity_release(&id);
        native_plan_free(&plan);
        for (int i = 0; i < 2; i++) {
            close(ready[i]);
            close(alive[i]);
            close(filt[i]);
        }
        return -1;
    }
    if (id.root && pipe2(ids, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    struct native_ctx ctx = {p, &plan, id.uid, id.gid, ready[1], alive[0], filt[0],
                             policy_envp(p), cmd, ids[0], trees};

    arm_signals(o->timeout);
    /* fork-like clone (no new stack): the child is pid 1 of the new pid namespace */
    pid_t pid = (pid_t)syscall(SYS_clone, native_clone_flags(p) | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        reset_signals(true);
        close(ready[0]);
        close(alive[1]);
        close(filt[1]);
        if (ids[1] >= 0)
            close(ids[1]);
        native_child(&ctx);
    }
    int err = errno;
    if (pid > 0)
        child_started(pid);
    else
        sigprocmask(SIG_SETMASK, &mask_before, NULL); /* as before arm_signals() */
    close(ready[1]);
    close(alive[0]);
    close(filt[0]);
    if (ids[0] >= 0)
        close(ids[0]);
    free_trees(trees, &plan);
    if (pid > 0 && id.root)
        map_ids(pid, p, &id, ids[1]);
    else if (ids[1] >= 0)
        close(ids[1]);
    identity_release(&id);
    if (pid < 0) {
        close(ready[0]);
        close(alive[1]);
        close(filt[1]);
        free_envp(ctx.envp);
        native_plan_free(&plan);
        if (o->may_fall_back &&
            (err == EPERM || err == EACCES || err == ENOSPC || err == EUSERS || err == EINVAL))
            return -1;
        res->class = "setup_error";
        res->ended = monotonic_seconds();
        if (!diagnose_userns())
            fprintf(stderr, "sandlot: native backend: cannot create the namespaces: %s\n",
                    strerror(err));
        return EXIT_SANDLOT;
    }
    /* compiled while the sandbox is being built: libseccomp takes a while */
    send_filter(p, filt[1]);
    int status;
    int st = supervise(pid, ready[0], res, &status);
    close(alive[1]);
    free_envp(ctx.envp);
    native_plan_free(&plan);
    return st >= 0 ? st : EXIT_SANDLOT; /* a setup failure: the child said why */
}

int run_unsandboxed(const struct policy *p, const struct run_opts *o, char *const *cmd,
                    struct run_result *res)
{
    /* The environment is still the policy's, never the caller's whole one. */
    char **envp = policy_envp(p);
    struct identity id;
    host_identity(o, &id);
    kill_group = 1;
    pid_t pid = start_child(o->timeout);
    if (pid == 0) {
        setpgid(0, 0);
        run_apply_limits(p);
        /* no sandbox, but still never host root: the same host identity */
        if (id.root)
            become(&id);
        /* No /work without a sandbox: the host work directory, if any, is the cwd. */
        if (p->work_host && chdir(p->work_host) != 0) {
            fprintf(stderr, "sandlot: cannot enter the work directory %s: %s\n", p->work_host,
                    strerror(errno));
            _exit(EXIT_SANDLOT);
        }
        environ = envp;
        execvp(cmd[0], cmd);
        int err = errno;
        fprintf(stderr, "sandlot: %s: %s\n", cmd[0], strerror(err));
        _exit(err == ENOENT || err == ENOTDIR ? EXIT_NOTFOUND : EXIT_NOEXEC);
    }
    res->ready = monotonic_seconds();
    int status = wait_child(pid);
    free_envp(envp);
    return status_to_exit(status, res);
}
