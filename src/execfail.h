/*
 * execfail: say why exec failed, inside the sandbox, after execvp
 * returned.  libc only: it is linked into sandlot (the native backend's
 * child) and into the static exec helper sandlot-exec (bwrap).
 */
#ifndef SANDLOT_EXECFAIL_H
#define SANDLOT_EXECFAIL_H

/*
 * Print "sandlot: CMD: why" on stderr for execvp(cmd) failing with err,
 * and return the exit status: 127 not found, 126 found but not
 * executable.  ENOENT on a file that exists means its interpreter is
 * missing: the message names it (the ELF PT_INTERP, or the #! line).
 */
int execfail_report(const char *cmd, int err);

#endif
