/*
 * child.h: what runs in a sandbox's process between fork and exec, written
 * once for every launch path: the native backend's command process, the
 * static exec helper under bwrap (sandlot-exec links this file), and the
 * children launch.c forks for bwrap and for --isolate none.
 *
 * Plain libc: no policy model, no Lua, nothing that allocates, so the
 * static helper can link it (with execfail.c).
 */
#ifndef SANDLOT_CHILD_H
#define SANDLOT_CHILD_H

#include <stdbool.h>
#include <stddef.h>

/* The signals sandlot forwards to the sandbox (launch.c) and pid 1 handles. */
extern const int child_forwarded_signals[];
extern const size_t child_nforwarded_signals;

/*
 * Default dispositions for every signal sandlot handles, then an empty
 * mask, so that a signal forwarded before this point (held pending by the
 * mask inherited from launch.c) now takes its default effect.  With hold,
 * the forwarded signals stay blocked: the native pid 1 unblocks them once
 * its own handlers are in place, as a pid namespace's init discards a
 * signal it has no handler for.
 */
void child_reset_signals(bool hold);

/* Close every descriptor above 2 but keep (-1: none): nothing sandlot held
 * open reaches the command. */
void child_close_fds(int keep);

/* The byte the ready pipe gets after the ready byte when exec failed: the
 * 126/127 is sandlot's (launch.c: class "exec_failed"), not the command's. */
#define CHILD_EXEC_FAILED "X"

/*
 * The sandbox's last step: close every descriptor but the ready pipe
 * (made close-on-exec), exec cmd; when exec fails, say so on the pipe,
 * then child_exec_failed (in the sandbox).
 */
__attribute__((noreturn)) void child_exec(int ready_fd, char **cmd);

/* Send fd over the unix socket sock (SCM_RIGHTS) with the one byte tag. */
bool child_send_fd(int sock, int fd, char tag);
/* The descriptor sent on sock (close-on-exec), or -1; flags: recvmsg's. */
int child_receive_fd(int sock, int flags);

/*
 * Allowlist mode, inside the sandbox's network namespace: a listening TCP
 * socket on 127.0.0.1:port (non-blocking), sent over the unix socket chan
 * with SCM_RIGHTS to sandlot, which serves it from the host side; then
 * this side's copy is closed, so the command never holds the listener.
 * chan stays open for child_egress_started.  Returns false with err
 * filled (nothing must run then).
 */
bool child_egress_listen(int chan, unsigned port, char *err, size_t errlen);

/*
 * Allowlist mode, the last step before the ready byte (after child_pty):
 * wait for sandlot's one byte on chan saying its proxy serves the
 * listener, then close chan.  Returns false with err filled when none
 * came (sandlot could not start the proxy): then nothing must run.
 */
bool child_egress_started(int chan, char *err, size_t errlen);

/* The byte sandlot answers child_egress_listen's listener with. */
#define CHILD_EGRESS_STARTED "E"

/*
 * The sandbox side of the stage's pseudo-terminal (launch.c, pty.h): a
 * pair allocated from the sandbox's own devpts instance (/dev/ptmx, which
 * both backends point at /dev/pts/ptmx), the slave made the controlling
 * terminal of a new session led by this process, and put on each standard
 * descriptor whose bit is set in mask (bit n: descriptor n), so no host
 * terminal stays on them.  The master goes out to sandlot over the unix
 * socket sock (SCM_RIGHTS); this side then waits for sandlot's one byte
 * saying it has taken it (and set the window size) before closing its own
 * copy and sock.  Runs after Landlock and seccomp, the last step before
 * the ready byte.  Returns false with err filled: then nothing must run.
 */
bool child_pty(int sock, unsigned mask, char *err, size_t errlen);

/* The byte sandlot answers child_pty's master with. */
#define CHILD_PTY_TAKEN "T"

/* One resource limit to set: RLIMIT_* and its value (soft = hard). */
struct child_limit {
    int resource;
    unsigned long long value;
    const char *name; /* for the message */
};

/*
 * Set the limits, never above the hard limit already in force (only
 * privilege could raise it).  In a child before exec: when one cannot be
 * set, says which on stderr and exits 125 (nothing must run).
 */
void child_apply_limits(const struct child_limit *limits, size_t n);

/*
 * exec failed with errno err for the command name: one line on stderr,
 * then the statuses of DESIGN.md, 127 (not found) or 126 (found, not
 * executable).  in_sandbox: the diagnosis of execfail.h (not found in the
 * sandbox, or which interpreter is missing).
 */
__attribute__((noreturn)) void child_exec_failed(const char *name, int err, bool in_sandbox);

#endif
