/* cmdline.c: a command line as flag groups; see cmdline.h. */
#include "cmdline.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void push_word(struct cmdline *c, const char *w)
{
    if (c->nwords + 1 >= c->capwords) {
        c->capwords = c->capwords ? c->capwords * 2 : 64;
        c->words = xrealloc(c->words, c->capwords * sizeof *c->words);
    }
    c->words[c->nwords++] = xstrdup(w);
    c->words[c->nwords] = NULL;
}

void cmdline_vgroup(struct cmdline *c, const char *origin, va_list ap)
{
    if (c->ngroups == c->capgroups) {
        c->capgroups = c->capgroups ? c->capgroups * 2 : 64;
        c->groups = xrealloc(c->groups, c->capgroups * sizeof *c->groups);
    }
    struct group *g = &c->groups[c->ngroups++];
    g->start = c->nwords;
    g->origin = xstrdup(origin ? origin : "policy");
    for (const char *w; (w = va_arg(ap, const char *));)
        push_word(c, w);
    g->count = c->nwords - g->start;
}

void cmdline_group(struct cmdline *c, const char *origin, ...)
{
    va_list ap;
    va_start(ap, origin);
    cmdline_vgroup(c, origin, ap);
    va_end(ap);
}

void cmdline_command(struct cmdline *c, char *const *cmd)
{
    /* The command itself is one group, of however many words it has. */
    cmdline_group(c, "command", (char *)NULL);
    for (char *const *a = cmd; a && *a; a++)
        push_word(c, *a);
    c->groups[c->ngroups - 1].count = c->nwords - c->groups[c->ngroups - 1].start;
}

void cmdline_free(struct cmdline *c)
{
    for (size_t i = 0; i < c->nwords; i++)
        free(c->words[i]);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i].origin);
    free(c->words);
    free(c->groups);
    memset(c, 0, sizeof *c);
}
