/* child.c: between fork and exec; see child.h. */
#include "child.h"
#include "execfail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <termios.h>
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

/* The slave of master: by the master itself (Linux 4.13), else by its number in /dev/pts. */
static int open_slave(int master)
{
    int s = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s >= 0 || (errno != EINVAL && errno != ENOTTY))
        return s;
    unsigned n;
    if (ioctl(master, TIOCGPTN, &n) != 0)
        return -1;
    char path[32];
    snprintf(path, sizeof path, "/dev/pts/%u", n);
    return open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

bool child_send_fd(int sock, int fd, char tag)
{
    struct iovec iov = {&tag, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t w;
    while ((w = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return w == 1;
}

int child_receive_fd(int sock, int flags)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    ssize_t got;
    while ((got = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    struct cmsghdr *c = got == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)) || (msg.msg_flags & MSG_CTRUNC))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* Whether sandlot's one byte on sock is want (false: EOF, sandlot gave up). */
static bool answered(int sock, char want)
{
    char byte = 0;
    ssize_t got;
    while ((got = read(sock, &byte, 1)) < 0 && errno == EINTR)
        ;
    return got == 1 && byte == want;
}

bool child_pty(int sock, unsigned mask, char *err, size_t errlen)
{
    const char *what = "starting a session";
    int master = -1, slave = -1;
    /* bwrap's --new-session made its init the leader: the helper leads one of its own */
    if (getsid(0) != getpid() && setsid() < 0)
        goto failed;
    what = "opening /dev/ptmx";
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        goto failed;
    what = "unlocking the pseudo-terminal";
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0)
        goto failed;
    what = "opening the pseudo-terminal's slave";
    slave = open_slave(master);
    if (slave < 0)
        goto failed;
    what = "making the pseudo-terminal the controlling terminal";
    if (ioctl(slave, TIOCSCTTY, 0) != 0)
        goto failed;
    what = "passing the pseudo-terminal to sandlot";
    if (!child_send_fd(sock, master, 'P'))
        goto failed;
    if (!answered(sock, CHILD_PTY_TAKEN[0])) {
        snprintf(err, errlen, "sandlot did not take the pseudo-terminal");
        close(master);
        close(slave);
        return false;
    }
    close(master);
    master = -1;
    close(sock);
    what = "putting the pseudo-terminal on the standard descriptors";
    for (int fd = 0; fd <= 2; fd++)
        if ((mask & (1u << fd)) && dup2(slave, fd) < 0)
            goto failed;
    close(slave);
    return true;
failed:
    snprintf(err, errlen, "%s: %s", what, strerror(errno));
    if (master >= 0)
        close(master);
    if (slave >= 0)
        close(slave);
    return false;
}

void child_apply_limits(const struct child_limit *limits, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rlimit cur, want;
        const char *what = "read";
        if (getrlimit(limits[i].resource, &cur) == 0) {
            rlim_t r = (rlim_t)limits[i].value;
            if (cur.rlim_max != RLIM_INFINITY && r > cur.rlim_max)
                r = cur.rlim_max;
            want.rlim_cur = want.rlim_max = r;
            what = "set";
            if (setrlimit(limits[i].resource, &want) == 0)
                continue;
        }
        fprintf(stderr, "sandlot: cannot %s limit %s: %s\n", what, limits[i].name,
                strerror(errno));
        _exit(125); /* sandlot failed, nothing ran */
    }
}

void child_exec_failed(const char *name, int err, bool in_sandbox)
{
    if (in_sandbox) /* names a missing interpreter too */
        _exit(execfail_report(name, err));
    fprintf(stderr, "sandlot: %s: %s\n", name, strerror(err));
    _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

bool child_egress_listen(int chan, unsigned port, char *err, size_t errlen)
{
    const char *what = "creating the egress listener";
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        what = "SO_REUSEADDR on the egress listener";
    else if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) != 0)
        what = "binding the egress listener to 127.0.0.1";
    else if (s >= 0 && listen(s, SOMAXCONN) != 0)
        what = "listening on the egress socket";
    else if (s >= 0)
        what = NULL;
    if (!what && !child_send_fd(chan, s, 'L'))
        what = "handing the egress listener to sandlot";
    int e = errno;
    if (s >= 0)
        close(s);
    if (what) {
        snprintf(err, errlen, "%s (port %u): %s", what, port, strerror(e));
        errno = e;
        return false;
    }
    return true;
}

bool child_egress_started(int chan, char *err, size_t errlen)
{
    bool ok = answered(chan, CHILD_EGRESS_STARTED[0]);
    close(chan);
    if (!ok)
        snprintf(err, errlen, "sandlot did not start the egress proxy");
    return ok;
}
