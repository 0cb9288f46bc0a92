/* launch.c: the gate of every launch; start and supervise the sandbox; see launch.h. */

#include "launch.h"
#include "bwrap.h"
#include "child.h"
#include "doctor.h"
#include "egress.h"
#include "filter.h"
#include "identity.h"
#include "landlock.h"
#include "native.h"
#include "plan.h"
#include "pty.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <linux/mount.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t timed_out;
static volatile sig_atomic_t kill_group; /* signal -pid (unsandboxed: own group) */
static volatile sig_atomic_t got_signal; /* a terminating signal was forwarded */
static volatile sig_atomic_t stopping;   /* the grace period runs: SIGKILL when it ends */
static volatile sig_atomic_t killed;     /* the grace ended: the sandbox was SIGKILLed */
/* How deep below sandlot's child the stage's processes start: 1 for native
 * (its child is the sandbox's pid 1), 2 for bwrap (bwrap, then its init). */
static volatile sig_atomic_t stage_depth;
static double kill_after; /* the grace, seconds */

/* Append the decimal n to s at *at (signal-safe). */
static void put_num(char *s, size_t *at, unsigned n)
{
    char digits[16];
    int nd = 0;
    do
        digits[nd++] = (char)('0' + n % 10);
    while (n /= 10);
    while (nd > 0)
        s[(*at)++] = digits[--nd];
}

/* Append the text t to s at *at. */
static void put_str(char *s, size_t *at, const char *t)
{
    while (*t)
        s[(*at)++] = *t++;
}

/* The children of one thread tid of pid, appended to out (up to max). */
static int thread_children(pid_t pid, pid_t tid, pid_t *out, int n, int max)
{
    char path[80], buf[2048];
    size_t at = 0;
    put_str(path, &at, "/proc/");
    put_num(path, &at, (unsigned)pid);
    put_str(path, &at, "/task/");
    put_num(path, &at, (unsigned)tid);
    put_str(path, &at, "/children");
    path[at] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return n;
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    long v = -1;
    for (ssize_t i = 0; i < r && n < max; i++) {
        if (buf[i] >= '0' && buf[i] <= '9') {
            v = (v < 0 ? 0 : v * 10) + (buf[i] - '0');
        } else if (v >= 0) { /* "PID PID ": a number cut short is left out */
            out[n++] = (pid_t)v;
            v = -1;
        }
    }
    return n;
}

/*
 * The children of pid, of every one of its threads, into out; returns how
 * many.  Only system calls (getdents64, not opendir) and hand parsing:
 * this runs in signal handlers.
 */
static int children_of(pid_t pid, pid_t *out, int max)
{
    char path[48], ents[2048];
    size_t at = 0;
    put_str(path, &at, "/proc/");
    put_num(path, &at, (unsigned)pid);
    put_str(path, &at, "/task");
    path[at] = '\0';
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return 0;
    int n = 0;
    long got;
    while (n < max && (got = syscall(SYS_getdents64, dir, ents, sizeof ents)) > 0) {
        for (long off = 0; off < got;) {
            /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
            unsigned short reclen;
            memcpy(&reclen, ents + off + 16, sizeof reclen);
            const char *name = ents + off + 19;
            long tid = 0;
            for (; *name >= '0' && *name <= '9'; name++)
                tid = tid * 10 + (*name - '0');
            if (*name == '\0' && tid > 0)
                n = thread_children(pid, (pid_t)tid, out, n, max);
            off += reclen;
        }
    }
    close(dir);
    return n;
}

/* Send sig to every process below pid from depth `from` on, parents first. */
static bool signal_below(pid_t pid, int depth, int from, int sig)
{
    pid_t kids[128];
    int n = children_of(pid, kids, 128);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (depth + 1 >= from) {
            kill(kids[i], sig);
            any = true;
        }
        if (depth < 16 && signal_below(kids[i], depth + 1, from, sig))
            any = true;
    }
    return any;
}

/*
 * sig to the stage: every process of the sandbox but sandlot's own
 * (bwrap, the sandbox's init); unsandboxed, the command's process group.
 * Returns false when the stage has no process yet.
 */
static bool signal_stage(int sig)
{
    if (child_pid <= 0)
        return false;
    if (kill_group)
        return kill(-child_pid, sig) == 0;
    return signal_below(child_pid, 0, stage_depth, sig);
}

/* The grace is over (or none was left): the whole sandbox goes at once. */
static void kill_sandbox(void)
{
    killed = 1;
    if (child_pid > 0)
        kill(kill_group ? -child_pid : child_pid, SIGKILL);
}

/*
 * Stop the stage gracefully: sig to its processes, and SIGKILL to the
 * whole sandbox once the grace (--kill-after) is over.  Before the stage
 * has a process (the sandbox is being built) the signal goes to sandlot's
 * child, which ends the sandbox at once: nothing of the stage ran.
 */
static void stop_stage(int sig)
{
    if (!stopping) {
        stopping = 1;
        if (kill_after <= 0) {
            kill_sandbox();
            return;
        }
        struct itimerval it = {{0, 0}, {(time_t)kill_after,
                                        (suseconds_t)((kill_after - (double)(time_t)kill_after) *
                                                      1e6)}};
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
            it.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &it, NULL);
    }
    if (signal_stage(sig))
        signal_stage(SIGCONT); /* a stopped process acts on it only once continued */
    else if (child_pid > 0)
        kill(child_pid, sig);
}

/* A terminating signal to sandlot: the stage gets it first. */
static void forward(int sig)
{
    int saved = errno;
    got_signal = sig;
    stop_stage(sig);
    errno = saved;
}

/* SIGALRM: the --timeout (SIGTERM, then the grace), or the end of the grace. */
static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    if (stopping) {
        kill_sandbox();
    } else {
        timed_out = 1;
        stop_stage(SIGTERM);
    }
    errno = saved;
}

/* SIGTSTP: the whole stage stops (SIGSTOP: its processes have no terminal
 * of their own to stop on), then sandlot, the user's terminal back in its
 * own modes; SIGCONT continues the stage (and the pty's raw mode). */
static void on_tstp(int sig)
{
    (void)sig;
    int saved = errno;
    pty_suspend();
    signal_stage(SIGSTOP);
    kill(getpid(), SIGSTOP);
    errno = saved;
}

static void on_cont(int sig)
{
    (void)sig;
    int saved = errno;
    signal_stage(SIGCONT);
    pty_resume();
    errno = saved;
}

static void install_handlers(double timeout)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* one handler at a time: each reads and sets the state above */
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaddset(&sa.sa_mask, SIGTSTP);
    sigaddset(&sa.sa_mask, SIGCONT);
    for (size_t i = 0; i < child_nforwarded_signals; i++)
        sigaddset(&sa.sa_mask, child_forwarded_signals[i]);
    sa.sa_handler = forward;
    for (size_t i = 0; i < child_nforwarded_signals; i++)
        sigaction(child_forwarded_signals[i], &sa, NULL);
    sa.sa_handler = on_tstp;
    sigaction(SIGTSTP, &sa, NULL);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    if (timeout > 0) {
        struct itimerval it = {{0, 0}, {(time_t)timeout,
                                        (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)}};
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
            it.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

/*
 * A setup error: one line "sandlot: MSG" on stderr, the result says so;
 * returns 125 (nothing ran).
 */
PRINTF_LIKE(2, 3) static int setup_error(struct run_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandlot: %s\n", res->message);
    res->class = "setup_error";
    res->ended = monotonic_seconds();
    return EXIT_SANDLOT;
}

/* The signals whose handlers name child_pid: the forwarded ones and SIGALRM. */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < child_nforwarded_signals; i++)
        sigaddset(set, child_forwarded_signals[i]);
    sigaddset(set, SIGALRM);
    sigaddset(set, SIGTSTP);
    sigaddset(set, SIGCONT);
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
 * In the parent, once fork or clone has returned: name the child the
 * handlers signal (its own process group first when kill_group), then
 * restore the mask, which delivers and forwards what came meanwhile.
 * pid < 0 (no child): only the mask.
 */
static void child_started(pid_t pid)
{
    if (pid > 0 && kill_group)
        setpgid(pid, pid);
    if (pid > 0)
        child_pid = pid;
    sigprocmask(SIG_SETMASK, &mask_before, NULL);
}

/*
 * Arm forwarding and the timeout, then fork.  Returns the child's pid in
 * the parent, where the handlers already reach it (-1 with errno: no
 * child), and 0 in the child, whose signals are back to defaults.
 */
static pid_t start_child(double timeout)
{
    arm_signals(timeout);
    pid_t pid = fork();
    if (pid == 0) {
        child_reset_signals(false);
        return 0;
    }
    int err = errno;
    child_started(pid);
    errno = err;
    return pid;
}

/* Wait for the child, retrying on EINTR; returns the wait status. */
static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) { /* not our child any more: nothing to report but a failure */
            fprintf(stderr, "sandlot: waitpid: %s\n", strerror(errno));
            status = EXIT_SANDLOT << 8;
            break;
        }
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
            fprintf(stderr, "sandlot: the --timeout expired: the stage was sent SIGTERM%s "
                            "(exit 124)\n", killed ? ", and SIGKILL after the grace" : "");
        return EXIT_TIMEOUT;
    }
    if (killed && got_signal) { /* the stage outlived the grace: it ends of the signal */
        res->class = "signaled";
        res->signal = got_signal;
        return 128 + got_signal;
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
        res->class = res->exec_failed ? "exec_failed" : "exited";
        res->exit_code = code;
    }
    return code;
}

/*
 * Explain why the sandbox may have failed: when unprivileged user
 * namespaces are unavailable, print the cause and the fix and return true.
 */
static bool diagnose_userns(void)
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
 * A bind source (bind_source_open): SOURCE_OPEN, or SOURCE_ABSENT for an
 * absent ro_bind_try source; false with e set when it cannot be opened.
 */
static bool open_source(const char *path, enum mount_kind k, struct source *out,
                        struct sl_err *e)
{
    int fd = bind_source_open(path, k, e);
    if (fd < 0 && e->msg[0])
        return false;
    *out = (struct source){fd < 0 ? SOURCE_ABSENT : SOURCE_OPEN, fd};
    return true;
}

/* Close what the sources hold and free them. */
static void free_sources(struct source *src, size_t n)
{
    for (size_t i = 0; src && i < n; i++)
        if (src[i].state == SOURCE_OPEN)
            close(src[i].fd);
    free(src);
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
static int refused_tree(const struct sl_err *e, struct run_result *res)
{
    if (errno == EPERM && diagnose_userns()) {
        res->class = "setup_error";
        res->ended = monotonic_seconds();
        return EXIT_SANDLOT;
    }
    return setup_error(res, "%s", e->msg);
}

/*
 * Root invoker, bwrap: replace each bind source's descriptor by an
 * idmapped clone of its tree (identity_tree), so bwrap, run as the
 * sandbox's unprivileged host identity, binds root's files as that
 * identity's.  bwrap 0.8 refuses a detached tree, so the child attaches
 * each one first (attach_trees).  Returns 0, or 125 (a setup error).
 */
static int idmap_sources(struct identity *id, const struct plan *pl, struct source *src,
                         struct run_result *res)
{
    struct sl_err e;
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        if (s->op != STEP_BIND || src[i].state != SOURCE_OPEN)
            continue; /* nothing, or a file's memfd: no tree to map */
        int tree = identity_tree(id, src[i].fd, s->src, s->kind == MOUNT_RW_BIND, 0, &e);
        if (tree < 0)
            return refused_tree(&e, res);
        close(src[i].fd);
        src[i].fd = tree;
    }
    return 0;
}

/*
 * In bwrap's child, root invoker: a private mount namespace of sandlot's
 * own, where each idmapped tree is attached at a place of its own on a
 * fresh tmpfs over /tmp, so bwrap (0.8 refuses a detached tree) can bind
 * it by descriptor.  Attached there, no tree lands inside another one that
 * bwrap binds recursively; nothing here reaches the host's mount table,
 * and bwrap's own scratch directory goes to that tmpfs, not the host's
 * /tmp.  Every bind source is a tree by then, so hiding /tmp hides none.
 */
static void attach_trees(const struct plan *pl, const struct source *src)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("sandlot-binds", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1m") != 0) {
        fprintf(stderr, "sandlot: a private mount namespace for the binds: %s\n", strerror(errno));
        _exit(EXIT_SANDLOT);
    }
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        if (s->op != STEP_BIND || src[i].state != SOURCE_OPEN)
            continue;
        int tree = src[i].fd;
        char at[64];
        struct stat st;
        snprintf(at, sizeof at, "/tmp/.sandlot-bind-%zu", i);
        int made = fstat(tree, &st) != 0 ? -1
                   : S_ISDIR(st.st_mode) ? mkdir(at, 0700)
                                         : mknod(at, S_IFREG | 0600, 0);
        if (made != 0 || syscall(SYS_move_mount, tree, "", AT_FDCWD, at,
                                 MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            fprintf(stderr, "sandlot: attaching the idmapped tree of %s: %s\n", s->src,
                    strerror(errno));
            _exit(EXIT_SANDLOT);
        }
    }
}

/* What bwrap wrote on its standard-error pipe, onto sandlot's; closes fd. */
static void copy_messages(int fd)
{
    char buf[4096];
    ssize_t n;
    fcntl(fd, F_SETFL, O_NONBLOCK); /* everything that held the pipe has gone: no waiting */
    while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        for (ssize_t off = 0; n > 0 && off < n;) {
            ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                break;
            off += w > 0 ? w : 0;
        }
    close(fd);
}

/* Clear FD_CLOEXEC so fd survives into bwrap. */
static void keep_open(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
        _exit(EXIT_SANDLOT);
}


/* --- egress (allowlist mode) ----------------------------------------------- */

/*
 * The proxy's side of one launch in allowlist mode.  The sandbox creates
 * the listening socket in its own network namespace and sends it over
 * chan (child_egress_listen); once it has come, sandlot forks the proxy
 * on the host side, as the sandbox's host identity, and answers on chan
 * (child_egress_started), which the sandbox waits for before its ready
 * byte: no command runs without its proxy.  sandlot stops the proxy when
 * the stage has ended, whatever ended it.
 */
struct egress_run {
    bool on;
    int chan[2];          /* unix socketpair: [0] sandlot's end, [1] the sandbox's */
    int audit;            /* memfd the proxy writes its JSON lines to */
    pid_t proxy;          /* 0: not started */
    const struct egress_rules *rules;
    bool drop;            /* root invoker: the proxy becomes uid/gid */
    unsigned uid, gid;
};

#define EGRESS_OFF {false, {-1, -1}, -1, 0, NULL, false, 0, 0}

/* How long the proxy has to write its last audit lines after SIGTERM. */
#define PROXY_GRACE_MS 2000
/* The most of the audit the status report carries. */
#define AUDIT_MAX ((size_t)16 << 20)

/*
 * Allowlist mode: the socketpair and the audit memfd, and the host
 * identity the proxy runs as (id's, dropped to when root invoked).
 * Returns true (also when the mode is not allowlist: eg->on false), false
 * with res set.
 */
static bool egress_prepare(struct egress_run *eg, const struct plan *pl, const struct policy *p,
                           const struct identity *id, struct run_result *res)
{
    *eg = (struct egress_run)EGRESS_OFF;
    if (!pl->egress)
        return true;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, eg->chan) != 0) {
        setup_error(res, "egress: socketpair: %s", strerror(errno));
        return false;
    }
    eg->audit = memfd_create("sandlot-egress-audit", MFD_CLOEXEC);
    if (eg->audit < 0) {
        setup_error(res, "egress: memfd_create: %s", strerror(errno));
        close(eg->chan[0]);
        close(eg->chan[1]);
        return false;
    }
    eg->on = true;
    eg->rules = &p->egress;
    eg->drop = id->root;
    eg->uid = id->uid;
    eg->gid = id->gid;
    return true;
}

/* The sandbox's end, once the sandbox holds its own copy. */
static void egress_close_child_end(struct egress_run *eg)
{
    if (eg->on && eg->chan[1] >= 0) {
        close(eg->chan[1]);
        eg->chan[1] = -1;
    }
}

/* Everything of eg that is still open (the proxy stopped first). */
static void egress_release(struct egress_run *eg)
{
    if (!eg->on)
        return;
    egress_close_child_end(eg);
    if (eg->chan[0] >= 0)
        close(eg->chan[0]);
    if (eg->audit >= 0)
        close(eg->audit);
    eg->chan[0] = eg->audit = -1;
    eg->on = false;
}

/* The listener the sandbox sent, or -1 (none came: the sandbox ended first, or it sent another
 * thing). */
static int egress_receive(struct egress_run *eg)
{
    int fd = child_receive_fd(eg->chan[0], 0);
    if (fd < 0)
        return -1;
    /* what child_egress_listen makes: a listening TCP socket on 127.0.0.1:EGRESS_PORT */
    int type = 0, listening = 0;
    struct sockaddr_in a;
    socklen_t len = sizeof type, alen = sizeof a;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
        (len = sizeof listening, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) != 0 ||
        !listening || getsockname(fd, (struct sockaddr *)&a, &alen) != 0 ||
        alen != sizeof a || a.sin_family != AF_INET || ntohs(a.sin_port) != EGRESS_PORT ||
        ntohl(a.sin_addr.s_addr) != INADDR_LOOPBACK) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * In the proxy's process: no privilege it does not need, nothing of
 * sandlot's but the listener (fd 3), the audit memfd (4) and, with -v,
 * stderr; then serve until SIGTERM.  Never returns.
 */
__attribute__((noreturn)) static void proxy_main(const struct egress_run *eg, int listener,
                                                 pid_t parent)
{
    child_reset_signals(false);
    /* the terminal's signals are the stage's, not the proxy's: sandlot stops it */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    setsid();
    bool logs = g_verbosity >= 2;
    int l = fcntl(listener, F_DUPFD_CLOEXEC, 10), a = fcntl(eg->audit, F_DUPFD_CLOEXEC, 10);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (l < 0 || a < 0 || null < 0 || dup2(l, 3) != 3 || dup2(a, 4) != 4 ||
        dup2(null, 0) != 0 || dup2(null, 1) != 1 || (!logs && dup2(null, 2) != 2) ||
        syscall(SYS_close_range, 5, ~0u, 0) != 0)
        _exit(EXIT_SANDLOT);
    if (eg->drop && !identity_become(eg->uid, eg->gid, false))
        _exit(EXIT_SANDLOT);
    /* after the change of ids, which clears it */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        _exit(EXIT_SANDLOT);
    struct proxy_config cfg = {
        .listen_fd = 3,
        .rules = eg->rules,
        .audit_fd = 4,
        .log_fd = logs ? 2 : -1,
        .max_conns = 256,
        .idle_timeout = 300,
        .connect_timeout = 30,
    };
    _exit(proxy_serve(&cfg) == 0 ? 0 : EXIT_SANDLOT);
}

/*
 * The sandbox has handed out the listener: fork the proxy that serves it
 * (closes listener).  False with res->message set when it cannot start
 * (the caller ends the sandbox, which waits for the proxy before its
 * ready byte: nothing ran).
 */
static bool egress_start(struct egress_run *eg, int listener, struct run_result *res)
{
    pid_t parent = getpid();
    /* sandlot's handlers signal the stage: none of them may run in the proxy */
    sigset_t handled, old;
    handled_signals(&handled);
    sigprocmask(SIG_BLOCK, &handled, &old);
    pid_t pid = fork();
    if (pid == 0)
        proxy_main(eg, listener, parent); /* resets dispositions, then the mask */
    int err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(listener);
    if (pid < 0) {
        snprintf(res->message, sizeof res->message, "egress: starting the proxy: %s",
                 strerror(err));
        return false;
    }
    eg->proxy = pid;
    while (send(eg->chan[0], CHILD_EGRESS_STARTED, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
    int abi = landlock_abi();
    verbose("egress: proxy pid %d serves 127.0.0.1:%d inside the sandbox; %s", (int)pid,
            EGRESS_PORT, abi >= LANDLOCK_NET_ABI
                             ? "Landlock limits TCP connect inside to that port"
                             : "Landlock has no network rules here (ABI below 4): the network "
                               "namespace alone keeps connections in");
    return true;
}

/* Wait for pid for up to ms milliseconds; true when it was reaped. */
static bool reap_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 10) {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            return true;
        if (waited >= ms)
            return false;
        struct timespec ten = {0, 10 * 1000 * 1000};
        nanosleep(&ten, NULL);
    }
}

/*
 * The audit lines as a JSON array, or NULL when none could be read.  Each
 * line the proxy wrote is one JSON object; a line that is not (cut short,
 * or garbled) is left out rather than break the report.
 */
static char *read_audit(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NULL;
    size_t size = st.st_size > 0 ? (size_t)st.st_size : 0;
    if (size > AUDIT_MAX)
        size = AUDIT_MAX;
    char *buf = xmalloc(size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    char *out = xmalloc(got + 3);
    size_t at = 0;
    out[at++] = '[';
    for (char *line = buf, *nl; line < buf + got; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + got - line));
        if (!nl)
            break; /* the last line, cut short */
        size_t len = (size_t)(nl - line);
        bool ok = len >= 2 && line[0] == '{' && line[len - 1] == '}';
        for (size_t i = 0; ok && i < len; i++)
            ok = (unsigned char)line[i] >= 0x20;
        if (!ok)
            continue;
        if (at > 1)
            out[at++] = ',';
        memcpy(out + at, line, len);
        at += len;
    }
    out[at++] = ']';
    out[at] = '\0';
    free(buf);
    return out;
}

/*
 * The stage has ended: stop the proxy (SIGTERM, then SIGKILL after a
 * short grace), put its audit in res->egress, release the rest.
 */
static void egress_finish(struct egress_run *eg, struct run_result *res)
{
    if (!eg->on)
        return;
    if (eg->proxy > 0) {
        kill(eg->proxy, SIGTERM);
        if (!reap_within(eg->proxy, PROXY_GRACE_MS)) {
            kill(eg->proxy, SIGKILL);
            while (waitpid(eg->proxy, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        eg->proxy = 0;
    }
    free(res->egress);
    res->egress = read_audit(eg->audit);
    egress_release(eg);
}

/*
 * Wait until fd is readable or the child behind pidfd child ended; true
 * when fd is.  Without pidfd (Linux < 5.3): true, fd alone is read.
 */
static bool wait_readable(int fd, int child)
{
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {child, POLLIN, 0}};
    while (child >= 0 && poll(fds, 2, -1) < 0 && errno == EINTR)
        ;
    return child < 0 || (fds[0].revents & (POLLIN | POLLHUP));
}

/*
 * Wait for the sandbox: in allowlist mode, its listener first, served by
 * the proxy before the sandbox may go on (egress_start); with a pty
 * (pty_sock >= 0, pty_mask), its master; the ready byte (the command is
 * about to start; EOF: setup ended first); then the child's end, relaying
 * the pty meanwhile, and the proxy stopped (egress_finish).  Returns
 * sandlot's exit status, or -1 when the sandbox ended before the command
 * started (a setup failure, res->class set; *status is the wait status).
 */
static int supervise(pid_t pid, int ready_rd, int pty_sock, unsigned pty_mask,
                     struct egress_run *eg, struct run_result *res, int *status)
{
    /*
     * Watch the child as well as the pipe: a process it left behind (bwrap's
     * init, when a signal kills bwrap before the init runs) may hold the
     * pipe's write end forever.  Without pidfd (Linux < 5.3): the pipe alone.
     */
    int child = (int)syscall(SYS_pidfd_open, pid, 0);
    int listener = eg->on && wait_readable(eg->chan[0], child) ? egress_receive(eg) : -1;
    if (listener >= 0 && !egress_start(eg, listener, res)) {
        /* the sandbox waits for the proxy, and goes at once: nothing ran */
        kill(pid, SIGKILL);
        if (pty_sock >= 0)
            close(pty_sock);
        if (child >= 0)
            close(child);
        wait_child(pid);
        close(ready_rd);
        egress_finish(eg, res);
        char msg[sizeof res->message];
        memcpy(msg, res->message, sizeof msg);
        return setup_error(res, "%s", msg);
    }
    if (eg->on && !eg->proxy) { /* no listener came: no answer either, the sandbox stops */
        close(eg->chan[0]);
        eg->chan[0] = -1;
    }
    int master = -1;
    if (pty_sock >= 0 && wait_readable(pty_sock, child))
        master = pty_take(pty_sock, pty_mask);
    if (pty_sock >= 0)
        close(pty_sock);
    if (!wait_readable(ready_rd, child)) /* the child ended first */
        fcntl(ready_rd, F_SETFL, O_NONBLOCK);
    char byte;
    ssize_t got;
    do
        got = read(ready_rd, &byte, 1);
    while (got < 0 && errno == EINTR);
    if (got == 1)
        res->ready = monotonic_seconds();
    if (master >= 0 && got == 1)
        pty_relay(master, child);
    else if (master >= 0)
        pty_end(master);
    if (child >= 0)
        close(child);
    *status = wait_child(pid);
    egress_finish(eg, res);
    /* after the ready byte: CHILD_EXEC_FAILED when exec failed, else EOF (the sandbox is gone) */
    char failed = 0;
    fcntl(ready_rd, F_SETFL, O_NONBLOCK);
    if (got == 1 && read(ready_rd, &failed, 1) == 1 && failed == CHILD_EXEC_FAILED[0])
        res->exec_failed = true;
    close(ready_rd);
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

/* Descriptors a launch holds, closed together (an error path, or once passed on). */
struct fdset {
    int fd[12];
    size_t n;
};

static int hold(struct fdset *h, int fd)
{
    if (fd >= 0)
        h->fd[h->n++] = fd;
    return fd;
}

static void close_all(struct fdset *h)
{
    for (size_t i = 0; i < h->n; i++)
        close(h->fd[i]);
    h->n = 0;
}

/*
 * The stage's pty (o->pty, pty.h): *mask, the standard descriptors its
 * slave replaces, and when there are any the unix socketpair the master
 * comes out on (pty[0] sandlot's end, pty[1] the sandbox's; both -1
 * otherwise), held in h.  False with res set and h closed.
 */
static bool pty_channel(const struct launch_opts *o, unsigned *mask, int pty[2], struct fdset *h,
                        struct run_result *res)
{
    *mask = pty_mask(o->pty);
    pty[0] = pty[1] = -1;
    if (*mask && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pty) != 0) {
        int err = errno;
        close_all(h);
        setup_error(res, "socketpair: %s", strerror(err));
        return false;
    }
    hold(h, pty[0]);
    hold(h, pty[1]);
    return true;
}

/*
 * Every bind source of the plan through the opener both backends share
 * (bwrap binds what sandlot opened), and a memfd holding each file's text
 * (a file mask's is empty), which bwrap copies into its read-only file.  Returns the sources
 * (per step), or NULL with res set (a setup error).
 */
static struct source *open_sources(const struct plan *pl, struct run_result *res)
{
    struct source *src = xcalloc(pl->n + 1, sizeof *src);
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        struct sl_err e;
        if (s->op == STEP_BIND && !open_source(s->src, (enum mount_kind)s->kind, &src[i], &e)) {
            free_sources(src, i);
            setup_error(res, "%s", e.msg);
            return NULL;
        }
        if (s->op == STEP_FILE) {
            int fd = memfd_create("sandlot-file", MFD_CLOEXEC);
            size_t len = strlen(s->src);
            if (fd < 0 || write(fd, s->src, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
                int err = errno;
                if (fd >= 0)
                    close(fd);
                free_sources(src, i);
                setup_error(res, "the file %s in a memfd: %s", s->dst, strerror(err));
                return NULL;
            }
            src[i] = (struct source){SOURCE_OPEN, fd};
        }
    }
    return src;
}

/*
 * Options travel in a memfd (--args), off the host's process list.
 * Returns it, or -1 with res set (a setup error).
 */
static int args_memfd(const struct cmdline *c, struct run_result *res)
{
    int args = memfd_create("sandlot-bwrap-args", MFD_CLOEXEC);
    const char *what = "memfd_create";
    for (size_t i = 1; args >= 0 && i < c->options_end; i++) {
        size_t n = strlen(c->words[i]) + 1;
        for (size_t off = 0; off < n;) {
            ssize_t w = write(args, c->words[i] + off, n - off);
            if (w < 0 && errno != EINTR) {
                what = "writing bwrap arguments";
                goto failed;
            }
            off += w > 0 ? (size_t)w : 0;
        }
    }
    if (args >= 0 && lseek(args, 0, SEEK_SET) == 0)
        return args;
    what = args < 0 ? what : "lseek";
failed:
    setup_error(res, "%s: %s", what, strerror(errno));
    if (args >= 0)
        close(args);
    return -1;
}

static int run_bwrap(const struct plan *pl, const struct policy *p, const struct launch_opts *o,
                     char *const *cmd, struct run_result *res)
{
    res->backend = backend_name(BACKEND_BWRAP);
    struct fdset h = {{0}, 0};
    int ready[2], pty[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        return setup_error(res, "pipe: %s", strerror(errno));
    hold(&h, ready[0]);
    hold(&h, ready[1]);
    unsigned pty_mask;
    if (!pty_channel(o, &pty_mask, pty, &h, res))
        return EXIT_SANDLOT;
    int pty_rd = pty[0]; /* sandlot's end: supervise reads it, then closes it */
    /*
     * With the terminal on the pty, bwrap's own standard error (its
     * messages, and the terminal its init would hold on to) is a pipe
     * whose text sandlot copies out once the sandbox has ended.
     */
    int errp[2] = {-1, -1};
    if ((pty_mask & 4) && pipe2(errp, O_CLOEXEC) != 0) {
        int err = errno;
        close_all(&h);
        return setup_error(res, "pipe: %s", strerror(err));
    }
    int err_rd = hold(&h, errp[0]);
    hold(&h, errp[1]);
    /* The helper runs from this descriptor inside (/proc/self/fd/N): no bind. */
    int helper = hold(&h, open(o->exec_helper, O_RDONLY | O_CLOEXEC));
    if (helper < 0) {
        int err = errno;
        close_all(&h);
        return setup_error(res, "cannot open the exec helper %s: %s", o->exec_helper,
                           strerror(err));
    }
    struct sl_err e;
    int filter = hold(&h, seccomp_program_fd(p, &e));
    if (filter < 0) {
        close_all(&h);
        return setup_error(res, "%s", e.msg);
    }
    struct source *src = open_sources(pl, res);
    if (!src) {
        close_all(&h);
        return EXIT_SANDLOT;
    }
    struct identity id;
    if (!identity_init(&id, o->host_uid, o->host_gid, &e)) {
        free_sources(src, pl->n);
        close_all(&h);
        return setup_error(res, "%s", e.msg);
    }
    int st = id.root ? idmap_sources(&id, pl, src, res) : 0;
    struct egress_run eg = EGRESS_OFF;
    if (!st && !egress_prepare(&eg, pl, p, &id, res))
        st = EXIT_SANDLOT;
    struct cmdline c;
    struct bwrap_inputs in = {BWRAP_RUN, o->bwrap_path, helper, ready[1], filter, src, environ,
                              eg.on ? eg.chan[1] : -1, pty[1], pty_mask};
    bwrap_build(pl, &in, cmd, &c);
    int args = st ? -1 : hold(&h, args_memfd(&c, res));
    if (st || args < 0) {
        egress_release(&eg);
        identity_release(&id);
        cmdline_free(&c);
        free_sources(src, pl->n);
        close_all(&h);
        return EXIT_SANDLOT;
    }

    char argsfd[16];
    snprintf(argsfd, sizeof argsfd, "%d", args);
    size_t tail = c.nwords - c.options_end;
    char **argv = xcalloc(tail + 4, sizeof *argv);
    argv[0] = c.words[0];
    argv[1] = (char *)"--args";
    argv[2] = argsfd;
    memcpy(argv + 3, c.words + c.options_end, tail * sizeof *argv);

    pid_t pid = -1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        st = setup_error(res, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    else if ((pid = start_child(o->timeout)) < 0)
        st = setup_error(res, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Every descriptor bwrap inherits: ours, and each source's. */
        keep_open(ready[1]);
        keep_open(args);
        keep_open(helper);
        keep_open(filter);
        if (eg.on)
            keep_open(eg.chan[1]);
        if (pty_mask) {
            keep_open(pty[1]);
            close(pty_rd);
            /* non-blocking: a bwrap with more to say than the pipe holds never hangs */
            if (errp[1] >= 0 && (fcntl(errp[1], F_SETFL, O_NONBLOCK) != 0 ||
                                 dup2(errp[1], STDERR_FILENO) < 0))
                _exit(EXIT_SANDLOT);
            /* bwrap binds its standard output's terminal at /dev/console: none */
            if (!pty_hide_terminal(pty_mask))
                _exit(EXIT_SANDLOT);
        }
        for (size_t i = 0; i < pl->n; i++)
            if (src[i].state == SOURCE_OPEN)
                keep_open(src[i].fd);
        child_apply_limits(pl->limits, pl->nlimits);
        if (id.root) {
            /* bwrap runs as the sandbox's host identity, never as host root */
            attach_trees(pl, src);
            become(&id);
        }
        /* bwrap gets an empty environment: --setenv carries the policy's. */
        char *empty[] = {NULL};
        execve(argv[0], argv, empty);
        fprintf(stderr, "sandlot: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(EXIT_SANDLOT);
    }
    int ready_rd = ready[0];
    for (size_t i = 1; i < h.n; i++) /* not ready[0] nor pty_rd (supervise's), nor err_rd */
        if (h.fd[i] != pty_rd && h.fd[i] != err_rd)
            close(h.fd[i]);
    free_sources(src, pl->n);
    identity_release(&id);
    egress_close_child_end(&eg);
    if (pid < 0) {
        egress_release(&eg);
        close(ready_rd);
        if (pty_rd >= 0)
            close(pty_rd);
        if (err_rd >= 0)
            close(err_rd);
        free(argv);
        cmdline_free(&c);
        return st;
    }
    int status;
    st = supervise(pid, ready_rd, pty_rd, pty_mask, &eg, res, &status);
    kill_orphans(); /* the proxy has been stopped and reaped by then */
    if (err_rd >= 0)
        copy_messages(err_rd);
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

/*
 * The plan's environment (its STEP_SETENV steps, egress's variables
 * included) as an environ-style list (malloc'd strings), as bwrap's
 * --setenv list renders it.
 */
static char **plan_envp(const struct plan *pl)
{
    char **envp = xcalloc(pl->n + 1, sizeof *envp);
    size_t n = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        if (s->op != STEP_SETENV)
            continue;
        const char *v = s->dst ? s->dst : env_lookup(environ, s->src);
        if (v)
            envp[n++] = xasprintf("%s=%s", s->src, v);
    }
    return envp;
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

/* run_native's answer when auto's native was refused before anything ran: use bwrap. */
#define FALL_BACK (-1)

/* Write n bytes of buf to the sandbox's pipe fd; false when it refused, *gone
 * when because the sandbox had closed its end (EPIPE). */
static bool pass_bytes(int fd, const void *buf, size_t n, bool *gone)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *gone = w < 0 && errno == EPIPE;
            return false;
        }
        off += (size_t)w;
    }
    return true;
}

/*
 * Copy the seccomp program for p into fd (a pipe), its length first
 * (NATIVE_FILTER_HEADER), then close it.  The sandbox loads nothing short
 * of that length: a copy cut off midway (sandlot failed) stops it as EOF
 * before any byte does, and nothing runs.  Returns false with e set when
 * sandlot failed (not when the sandbox had already gone: supervise()
 * reports that).
 */
static bool send_filter(const struct policy *p, int fd, struct sl_err *e)
{
    int prog = seccomp_program_fd(p, e);
    if (prog < 0) {
        close(fd);
        return false;
    }
    /* a sandbox that already failed has closed its end: EPIPE, not SIGPIPE */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    struct stat st;
    bool gone = false, ok = fstat(prog, &st) == 0;
    e->msg[0] = '\0';
    if (!ok)
        snprintf(e->msg, sizeof e->msg, "seccomp filter: %s", strerror(errno));
    else if (st.st_size <= 0 || st.st_size > NATIVE_FILTER_MAX)
        snprintf(e->msg, sizeof e->msg, "seccomp filter: %lld bytes", (long long)st.st_size);
    ok = ok && !e->msg[0];
    uint32_t len = ok ? (uint32_t)st.st_size : 0;
    ok = ok && pass_bytes(fd, &len, sizeof len, &gone);
    char buf[8192];
    for (uint32_t done = 0; ok && done < len;) {
        ssize_t n = read(prog, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(e->msg, sizeof e->msg, "seccomp filter: %s",
                     n < 0 ? strerror(errno) : "cut short");
            ok = false;
            break;
        }
        ok = pass_bytes(fd, buf, (size_t)n, &gone);
        done += (uint32_t)n;
    }
    if (!ok && gone)
        ok = true; /* supervise() reports the sandbox's failure */
    else if (!ok && !e->msg[0])
        snprintf(e->msg, sizeof e->msg, "passing the seccomp filter: %s", strerror(errno));
    sigaction(SIGPIPE, &old, NULL);
    close(prog);
    close(fd);
    return ok;
}

/*
 * Root invoker, native: every bind source opened here, as root, and
 * cloned into an idmapped tree with its flags set (identity_tree); the
 * child, which by then is the unprivileged host identity, only attaches
 * them.  Returns one source per plan step; NULL with *st 125 (a setup
 * error, res set) or, when auto may fall back and the clone was refused,
 * FALL_BACK.
 */
static struct source *native_trees(struct identity *id, const struct plan *pl,
                                   bool may_fall_back, struct run_result *res, int *st)
{
    struct source *trees = xcalloc(pl->n + 1, sizeof *trees);
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        if (s->op != STEP_BIND)
            continue;
        struct sl_err e;
        struct source src;
        if (!open_source(s->src, (enum mount_kind)s->kind, &src, &e)) {
            free_sources(trees, pl->n);
            *st = setup_error(res, "%s", e.msg);
            return NULL;
        }
        if (src.state == SOURCE_ABSENT) {
            trees[i] = src;
            continue;
        }
        int tree = identity_tree(id, src.fd, s->src, s->kind == MOUNT_RW_BIND,
                                 native_bind_attrs(s->kind), &e);
        close(src.fd);
        if (tree >= 0) {
            trees[i] = (struct source){SOURCE_OPEN, tree};
            continue;
        }
        int err = errno;
        free_sources(trees, pl->n);
        errno = err;
        /* auto: as a refused clone, bwrap then */
        *st = err == EPERM && may_fall_back ? FALL_BACK : refused_tree(&e, res);
        return NULL;
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
static void map_ids(pid_t pid, const struct plan *pl, const struct identity *id, int ids)
{
    char dir[32], umap[64], gmap[64];
    const char *failed;
    snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
    snprintf(umap, sizeof umap, "%u %u 1\n", pl->uid, id->uid);
    snprintf(gmap, sizeof gmap, "%u %u 1\n", pl->gid, id->gid);
    bool ok = identity_write_maps(dir, umap, gmap, false, &failed);
    if (!ok)
        fprintf(stderr, "sandlot: native backend: mapping the sandbox onto host uid %u gid %u "
                        "(writing %s/%s): %s%s\n", id->uid, id->gid, dir, failed, strerror(errno),
                errno == EPERM ? " (root inside a user namespace where they are not mapped: "
                                 "run sandlot as an ordinary user)" : "");
    if (ok)
        while (write(ids, "M", 1) < 0 && errno == EINTR)
            ;
    close(ids);
}

/*
 * The native backend (native.h), same statuses as run_bwrap.  With
 * o->may_fall_back, a kernel that refuses the namespaces returns FALL_BACK
 * before anything ran, so auto can use bwrap instead.
 */
static int run_native(const struct plan *pl, const struct policy *p, const struct launch_opts *o,
                      char *const *cmd, struct run_result *res)
{
    res->backend = backend_name(BACKEND_NATIVE);
    struct fdset h = {{0}, 0};
    int ready[2], alive[2], filt[2], ids[2] = {-1, -1}, pty[2];
    for (int i = 0; i < 3; i++) {
        int *pp = i == 0 ? ready : i == 1 ? alive : filt;
        if (pipe2(pp, O_CLOEXEC) != 0) {
            close_all(&h);
            return setup_error(res, "pipe: %s", strerror(errno));
        }
        hold(&h, pp[0]);
        hold(&h, pp[1]);
    }
    unsigned pty_mask;
    if (!pty_channel(o, &pty_mask, pty, &h, res))
        return EXIT_SANDLOT;
    struct identity id;
    struct sl_err e;
    if (!identity_init(&id, o->host_uid, o->host_gid, &e)) {
        close_all(&h);
        return setup_error(res, "%s", e.msg);
    }
    int st = 0;
    struct source *trees = id.root ? native_trees(&id, pl, o->may_fall_back, res, &st) : NULL;
    if (id.root && trees && pipe2(ids, O_CLOEXEC) != 0)
        st = setup_error(res, "pipe: %s", strerror(errno));
    struct egress_run eg = EGRESS_OFF;
    if (!st && !egress_prepare(&eg, pl, p, &id, res))
        st = EXIT_SANDLOT;
    if (st) {
        identity_release(&id);
        free_sources(trees, pl->n);
        close_all(&h);
        return st;
    }
    struct native_ctx ctx = {pl,      id.uid, id.gid, ready[1],           alive[0], filt[0],
                             plan_envp(pl), cmd, ids[0], trees, eg.on ? eg.chan[1] : -1,
                             pty[1],  pty_mask};

    stage_depth = 1;
    arm_signals(o->timeout);
    /* fork-like clone (no new stack): the child is pid 1 of the new pid namespace */
    pid_t pid = (pid_t)syscall(SYS_clone, native_clone_flags(p) | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        child_reset_signals(true); /* pid 1 unblocks them once its handlers are in */
        close(ready[0]);
        close(alive[1]);
        close(filt[1]);
        if (ids[1] >= 0)
            close(ids[1]);
        if (eg.on)
            close(eg.chan[0]);
        if (pty_mask) {
            close(pty[0]);
            /* like bwrap's: the sandbox's pid 1 holds no host terminal either */
            if (!pty_hide_terminal(pty_mask))
                _exit(EXIT_SANDLOT);
        }
        native_child(&ctx);
    }
    int err = errno; /* clone's, before any other call: auto's fallback is decided on it */
    egress_close_child_end(&eg);
    child_started(pid);
    close(ready[1]);
    close(alive[0]);
    close(filt[0]);
    if (ids[0] >= 0)
        close(ids[0]);
    if (pty[1] >= 0)
        close(pty[1]);
    free_sources(trees, pl->n);
    if (pid > 0 && id.root)
        map_ids(pid, pl, &id, ids[1]);
    else if (ids[1] >= 0)
        close(ids[1]);
    identity_release(&id);
    if (pid < 0) {
        egress_release(&eg);
        close(ready[0]);
        close(alive[1]);
        close(filt[1]);
        if (pty[0] >= 0)
            close(pty[0]);
        free_envp(ctx.envp);
        if (o->may_fall_back &&
            (err == EPERM || err == EACCES || err == ENOSPC || err == EUSERS || err == EINVAL))
            return FALL_BACK;
        res->class = "setup_error";
        res->ended = monotonic_seconds();
        if (!diagnose_userns())
            fprintf(stderr, "sandlot: native backend: cannot create the namespaces: %s\n",
                    strerror(err));
        return EXIT_SANDLOT;
    }
    /* compiled while the sandbox is being built: libseccomp takes a while */
    bool sent = send_filter(p, filt[1], &e);
    int status;
    st = supervise(pid, ready[0], pty[0], pty_mask, &eg, res, &status);
    close(alive[1]);
    free_envp(ctx.envp);
    if (!sent) /* the sandbox saw EOF and stopped: nothing ran */
        return setup_error(res, "%s", e.msg);
    return st >= 0 ? st : EXIT_SANDLOT; /* a setup failure: the child said why */
}

/* Run cmd with no sandbox (explicit opt-in), environment per policy. */
static int run_unsandboxed(const struct policy *p, const struct launch_opts *o, char *const *cmd,
                           struct run_result *res)
{
    res->backend = backend_name(BACKEND_NONE);
    if (policy_egress_mode(p) == EGRESS_ALLOWLIST)
        warnx_("--isolate none: the egress allowlist is not enforced, the command shares the "
               "host's network");
    struct identity id;
    struct sl_err e;
    if (!identity_init(&id, o->host_uid, o->host_gid, &e))
        return setup_error(res, "%s", e.msg);
    /* The environment is still the policy's, never the caller's whole one. */
    char **envp = policy_envp(p);
    struct child_limit limits[LIMIT_COUNT];
    size_t nlimits = plan_limits(p, limits);
    pid_t pid = start_child(o->timeout);
    if (pid == 0) {
        setpgid(0, 0);
        child_apply_limits(limits, nlimits);
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
        child_exec_failed(cmd[0], errno, false);
    }
    identity_release(&id);
    if (pid < 0) {
        free_envp(envp);
        return setup_error(res, "fork: %s", strerror(errno));
    }
    res->ready = monotonic_seconds();
    int status = wait_child(pid);
    free_envp(envp);
    return status_to_exit(status, res);
}

const char *backend_name(enum backend be)
{
    return be == BACKEND_NATIVE ? "native" : be == BACKEND_BWRAP ? "bwrap" : "none";
}

const char launch_no_helper[] =
    "the exec helper sandlot-exec was not found next to sandlot or in the LIBEXECDIR/sandlot "
    "sandlot was installed with; reinstall sandlot (sandlot doctor checks it)";

char *launch_find_bwrap(struct sl_err *e)
{
    bool from_path;
    char *bw = bwrap_find(getenv("PATH"), &from_path);
    if (!bw) {
        snprintf(e->msg, sizeof e->msg,
                 "bwrap (bubblewrap) not found in /usr/bin, /usr/local/bin, the Nix profiles or "
                 "PATH; install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf "
                 "install bubblewrap); sandlot never falls back to running unsandboxed");
        return NULL;
    }
    if (from_path)
        warnx_("bwrap found through PATH at %s, not in a root-owned location; a writable PATH "
               "entry could replace the sandbox", bw);
    return bw;
}

/* The bwrap backend, with bwrap looked up when the caller did not. */
static int launch_bwrap(const struct plan *pl, const struct policy *p,
                        const struct launch_opts *o, char *const *cmd, struct run_result *res)
{
    res->backend = backend_name(BACKEND_BWRAP);
    stage_depth = 2;
    if (!o->exec_helper)
        return setup_error(res, "%s", launch_no_helper);
    if (o->bwrap_path)
        return run_bwrap(pl, p, o, cmd, res);
    struct sl_err e;
    struct launch_opts bo = *o;
    char *bw = launch_find_bwrap(&e);
    if (!bw)
        return setup_error(res, "%s", e.msg);
    bo.bwrap_path = bw;
    int st = run_bwrap(pl, p, &bo, cmd, res);
    free(bw);
    return st;
}

static int dispatch(const struct policy *p, const struct launch_opts *o, char *const *cmd,
                    struct run_result *res)
{
    /* a launch starts afresh (the REPL launches many) */
    timed_out = 0;
    got_signal = 0;
    stopping = 0;
    killed = 0;
    kill_after = o->kill_after;
    kill_group = o->backend == BACKEND_NONE; /* unsandboxed: its own process group */
    stage_depth = 2; /* run_native makes it 1 */
    if (o->backend == BACKEND_NONE)
        return run_unsandboxed(p, o, cmd, res);
    struct plan pl;
    plan_build(p, &pl);
    int st;
    if (o->backend == BACKEND_NATIVE && (st = run_native(&pl, p, o, cmd, res)) != FALL_BACK) {
        plan_free(&pl);
        return st;
    }
    if (o->backend == BACKEND_NATIVE) /* auto's native was refused before anything ran */
        verbose("auto: the kernel refused the native backend's namespaces; using bwrap");
    st = launch_bwrap(&pl, p, o, cmd, res);
    plan_free(&pl);
    return st;
}

/* The modes of the terminal sandlot runs on (the first of stdin, stdout,
 * stderr that is one), saved before a stage so they can be put back. */
struct tty_modes {
    int fd; /* -1: no terminal */
    struct termios t;
};

static void tty_save(struct tty_modes *m)
{
    m->fd = -1;
    for (int fd = 0; fd <= 2 && m->fd < 0; fd++)
        if (isatty(fd) && tcgetattr(fd, &m->t) == 0)
            m->fd = fd;
}

/* Put the saved modes back, also from a background process group (with
 * SIGTTOU blocked the kernel lets tcsetattr through instead of stopping us). */
static void tty_restore(const struct tty_modes *m)
{
    if (m->fd < 0)
        return;
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    tcsetattr(m->fd, TCSANOW, &m->t);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int launch(struct policy *p, const struct launch_opts *o, char *const *cmd,
           struct run_result *res)
{
    memset(res, 0, sizeof *res);
    res->backend = backend_name(o->backend);
    /* The invariants once more, in C, whatever the caller or the Lua layer did. */
    struct sl_err e;
    if (!policy_check_invariants(p, o->protected_paths, &e))
        return setup_error(res, "invariant: %s", e.msg);
    policy_place_masks(p);
    /*
     * Whatever ended the stage (its exit, a signal, --timeout), the
     * terminal gets back the modes it had before: a stage that ran `stty
     * raw -echo` does not leave the invoker's terminal so.
     */
    struct tty_modes modes;
    tty_save(&modes);
    fflush(NULL);
    int status = dispatch(p, o, cmd, res);
    tty_restore(&modes);
    return status;
}
