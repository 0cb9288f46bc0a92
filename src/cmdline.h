/*
 * cmdline.h: a command line as flag groups.  Each group is one flag (or
 * one step) with its words and the origin ("script:line", "sandlot:
 * invariant") that caused it, so `explain` prints one per line with its
 * cause.  Both renderings of the plan fill one: bwrap's argv (bwrap.h)
 * and the native backend's steps (native.h).
 */
#ifndef SANDLOT_CMDLINE_H
#define SANDLOT_CMDLINE_H

#include <stdarg.h>
#include <stddef.h>

struct group {
    size_t start, count; /* words[start .. start+count) */
    char *origin;
};

struct cmdline_block; /* where the words' text lives (cmdline.c) */

struct cmdline {
    char **words;       /* NULL-terminated; each valid until cmdline_free */
    size_t nwords, capwords;
    struct group *groups;
    size_t ngroups, capgroups;
    size_t options_end; /* words before this index are the backend's options */
    struct cmdline_block *blocks;
};

/* Append one group: the words given (NULL-terminated) with their origin. */
void cmdline_group(struct cmdline *c, const char *origin, ...);
void cmdline_vgroup(struct cmdline *c, const char *origin, va_list ap);
/* Append the command's words as one group, origin "command". */
void cmdline_command(struct cmdline *c, char *const *cmd);
void cmdline_free(struct cmdline *c);

#endif
