/*
 * pty.h: sandlot's side of the stage's pseudo-terminal.
 *
 * When sandlot's standard input is a terminal (or with --pty), the stage
 * gets a pseudo-terminal of its own, allocated inside the sandbox from the
 * sandbox's devpts instance (child_pty, child.h), so no host terminal is
 * ever handed to the sandbox.  The master comes out to sandlot over a unix
 * socket; sandlot puts the user's terminal in raw mode, gives the pty the
 * terminal's window size (again on each SIGWINCH) and relays bytes both
 * ways until the sandbox ends, then drains the output and puts the
 * terminal's modes back.  Pipes and files are never relayed: a descriptor
 * that is not a terminal passes through as before (unless --pty).
 */
#ifndef SANDLOT_PTY_H
#define SANDLOT_PTY_H

#include <stdbool.h>

enum pty_mode {
    PTY_AUTO, /* a pty when standard input is a terminal */
    PTY_ON,   /* --pty: always, on all three standard descriptors */
    PTY_OFF   /* --no-pty: the descriptors pass through as they are */
};

/*
 * Which of sandlot's standard descriptors the stage's slave replaces (bit
 * n: descriptor n); 0: no pty.  PTY_AUTO: when standard input is a
 * terminal, each of 0, 1, 2 that is one (a redirected one streams as
 * before); PTY_ON: all three.
 */
unsigned pty_mask(enum pty_mode mode);

/*
 * In a child about to become the sandbox (bwrap, or the native pid 1):
 * standard input and output, where the slave is to replace them, become
 * /dev/null, so neither bwrap (its /dev/console) nor the sandbox's init
 * holds the host terminal on them.  Standard error stays, for setup
 * messages (launch gives bwrap a pipe there; the native pid 1 drops it
 * once the command runs).  Returns false (errno set) when /dev/null cannot
 * be opened.
 */
bool pty_hide_terminal(unsigned mask);

/*
 * Take the master child_pty sends on sock: raw mode on the user's
 * terminal (when standard input is one and sandlot is in the foreground),
 * the window size copied onto the master, then child_pty's answer.
 * Returns the master, or -1 when none came (the sandbox failed first and
 * said why).
 */
int pty_take(int sock, unsigned mask);

/*
 * Relay between sandlot's standard descriptors and master until the
 * process behind pidfd child ends, then drain what the stage wrote, put
 * the terminal's modes back and close master.  Input at EOF: a terminal
 * that went away sends the stage SIGHUP (sandlot forwards it); a pipe's
 * end is typed as the pty's end-of-file character.  Never busy-waits.
 */
void pty_relay(int master, int child);

/* Put the terminal's modes back and close master, when no relay runs. */
void pty_end(int master);

/*
 * Async-signal-safe, for sandlot's SIGTSTP and SIGCONT handlers: the
 * user's terminal modes back before sandlot stops; raw mode again (when in
 * the foreground) and the window size after it continues.  No-ops when no
 * relay runs.
 */
void pty_suspend(void);
void pty_resume(void);

#endif
