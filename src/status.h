/*
 * status.h: the status report of --status-json FILE / --status-fd N: one
 * JSON object written when the stage ends, whatever ended it.
 */
#ifndef SANDLOT_STATUS_H
#define SANDLOT_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct status_report {
    const char *class;  /* "exited", "exec_failed", "signaled", "timeout", "setup_error" */
    int status;         /* what sandlot exits with */
    int exit_code;      /* exited: the command's status */
    int signal;         /* signaled: the signal */
    const char *backend;
    const char *stage;
    char policy_sha256[65]; /* "" when unknown (a setup error before the policy) */
    double setup_seconds, command_seconds;
    const char *message; /* setup_error: why */
    const char *egress;  /* allowlist mode: the proxy's audit, a JSON array of objects
                            (host, port, allowed, bytes each way ...); NULL: left out */
};

/* Write s to f as a JSON string (quoted, escaped). */
void json_write_str(FILE *f, const char *s);

/* sha256 of data as lower-case hex (Nettle). */
bool sha256_hex(const void *data, size_t len, char out[65]);

/* Where the report goes: a file whose directory is opened now (so a bad
 * path fails before anything runs; the file itself is replaced atomically at
 * the end, never opened, never followed) or a descriptor the caller passed.
 * Dies on error. */
void status_open_file(const char *path);
void status_use_fd(const char *spec);
bool status_wanted(void);

/* Write the report (once; later calls do nothing). */
void status_write(const struct status_report *r);

#endif
