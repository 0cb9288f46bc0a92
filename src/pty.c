/* pty.c: sandlot's side of the stage's pseudo-terminal; see pty.h. */
#include "pty.h"
#include "child.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

/*
 * The relay's state, read by the signal handlers (pty_suspend,
 * pty_resume, SIGWINCH): the master (-1: no relay), the user's terminal
 * (-1: standard input is no terminal), its modes before and in raw mode.
 */
static volatile sig_atomic_t relay_master = -1;
static volatile sig_atomic_t term_fd = -1;
static volatile sig_atomic_t raw_on;
static volatile sig_atomic_t winch;
static struct termios term_saved, term_raw;
static int out_fd;                  /* where the stage's output goes */
static struct sigaction winch_old;  /* SIGWINCH's disposition and mask before the relay */
static sigset_t mask_old;

unsigned pty_mask(enum pty_mode mode)
{
    if (mode == PTY_ON)
        return 7;
    if (mode == PTY_OFF || !isatty(0))
        return 0;
    unsigned mask = 0;
    for (int fd = 0; fd <= 2; fd++)
        if (isatty(fd))
            mask |= 1u << fd;
    return mask;
}

bool pty_hide_terminal(unsigned mask)
{
    if (!(mask & 3))
        return true;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return false;
    bool ok = true;
    for (int fd = 0; fd <= 1 && ok; fd++)
        ok = !(mask & (1u << fd)) || dup2(null, fd) >= 0;
    if (null > 1) /* not one of them (a closed descriptor 0 or 1 is the lowest free) */
        close(null);
    return ok;
}

/* tcsetattr on the user's terminal, also from a background process group. */
static void set_modes(const struct termios *t)
{
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    tcsetattr(term_fd, TCSANOW, t);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The window size of sandlot's terminal onto the master (signal-safe). */
static void copy_size(void)
{
    struct winsize ws;
    int m = relay_master;
    if (m < 0)
        return;
    for (int fd = 0; fd <= 2; fd++)
        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
            ioctl(m, TIOCSWINSZ, &ws);
            return;
        }
}

/* Raw mode on the user's terminal, when it is one and sandlot is its foreground. */
static void go_raw(void)
{
    if (term_fd < 0 || raw_on || tcgetpgrp(term_fd) != getpgrp())
        return;
    set_modes(&term_raw);
    raw_on = 1;
}

void pty_suspend(void)
{
    int saved = errno;
    if (relay_master >= 0 && raw_on) {
        set_modes(&term_saved);
        raw_on = 0;
    }
    errno = saved;
}

void pty_resume(void)
{
    int saved = errno;
    if (relay_master >= 0) {
        go_raw();
        copy_size();
    }
    errno = saved;
}

static void on_winch(int sig)
{
    (void)sig;
    winch = 1;
}

/* A descriptor child_pty sent on sock, or -1. */
static int receive_fd(int sock)
{
    int fd = child_receive_fd(sock, 0);
    if (fd >= 0 && !isatty(fd)) { /* not what child_pty sends */
        close(fd);
        return -1;
    }
    return fd;
}

int pty_take(int sock, unsigned mask)
{
    int master = receive_fd(sock);
    if (master < 0)
        return -1;
    raw_on = 0;
    winch = 0;
    term_fd = (mask & 1) && isatty(0) && tcgetattr(0, &term_saved) == 0 ? 0 : -1;
    if (term_fd >= 0) {
        term_raw = term_saved;
        cfmakeraw(&term_raw);
    }
    /* the slave's output to standard output if it is on the slave, else to the terminal */
    out_fd = mask & 2 ? 1 : mask & 4 ? 2 : 0;
    /* SIGWINCH stays blocked but while the relay waits (ppoll) */
    sigset_t w;
    sigemptyset(&w);
    sigaddset(&w, SIGWINCH);
    sigprocmask(SIG_BLOCK, &w, &mask_old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, &winch_old);
    relay_master = master;
    struct winsize ws = {24, 80, 0, 0}; /* no terminal to copy (--pty on pipes) */
    ioctl(master, TIOCSWINSZ, &ws);
    copy_size();
    go_raw();
    /* a sandbox already gone never reads it: supervise sees the child's end */
    while (send(sock, CHILD_PTY_TAKEN, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
    return master;
}

void pty_end(int master)
{
    if (raw_on)
        set_modes(&term_saved);
    raw_on = 0;
    relay_master = -1;
    term_fd = -1;
    sigaction(SIGWINCH, &winch_old, NULL);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    if (sigismember(&mask_old, SIGWINCH))
        sigaddset(&now, SIGWINCH);
    else
        sigdelset(&now, SIGWINCH);
    sigprocmask(SIG_SETMASK, &now, NULL);
    if (master >= 0)
        close(master);
}


/* Read what the stage wrote and copy it to out (-1: discarded); false at the master's end. */
static bool copy_out(int master, int *out)
{
    char buf[65536];
    ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) /* EIO: no slave is open any more */
        return false;
    if (*out >= 0 && !write_all(*out, buf, (size_t)n))
        *out = -1; /* the reader went away: keep draining, so the stage never blocks */
    return true;
}

void pty_relay(int master, int child)
{
    unsigned char in[4096];
    size_t inlen = 0, inoff = 0;
    int src = 0, out = out_fd;
    bool open_master = true;
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    /* a reader that went away is a write error, not SIGPIPE */
    struct sigaction ign, oldpipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &oldpipe);
    sigset_t waiting;
    sigprocmask(SIG_SETMASK, NULL, &waiting);
    sigdelset(&waiting, SIGWINCH);
    for (;;) {
        if (winch) {
            winch = 0;
            copy_size();
        }
        struct pollfd p[3] = {{child, POLLIN, 0},
                              {open_master ? master : -1, POLLIN | (inlen ? POLLOUT : 0), 0},
                              {src >= 0 && !inlen ? src : -1, POLLIN, 0}};
        int r = ppoll(p, 3, NULL, &waiting);
        if (r < 0 && errno != EINTR)
            break;
        if (r < 0)
            continue;
        if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !copy_out(master, &out))
            open_master = false;
        if (open_master && (p[1].revents & POLLOUT) && inlen) {
            ssize_t w = write(master, in + inoff, inlen - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || inoff == inlen)
                inlen = inoff = 0;
        }
        if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(src, in, sizeof in);
            if (n > 0) {
                inlen = (size_t)n;
                inoff = 0;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                src = -1;
                if (term_fd >= 0) {
                    kill(getpid(), SIGHUP); /* the user's terminal went away */
                } else {
                    /* the end of piped input: the pty's end-of-file character */
                    struct termios t;
                    in[0] = tcgetattr(master, &t) == 0 ? t.c_cc[VEOF] : 4;
                    inlen = 1;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            break;
        if (child < 0 && !open_master) /* no pidfd (Linux < 5.3): the slave's end it is */
            break;
    }
    /* the sandbox has ended: what the stage wrote last */
    while (open_master && copy_out(master, &out)) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 0) != 1)
            break;
    }
    sigaction(SIGPIPE, &oldpipe, NULL);
    pty_end(master);
}
