/* cmdline.c: a command line as flag groups; see cmdline.h. */
#include "cmdline.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/*
 * The words' text, copied into blocks that never move (a command line is
 * a few hundred short words: a handful of allocations, not one each).
 */
struct cmdline_block {
    struct cmdline_block *next;
    size_t used, size;
    char text[];
};

#define BLOCK_BYTES 4096

static char *copy_word(struct cmdline *c, const char *w)
{
    size_t n = strlen(w) + 1;
    struct cmdline_block *b = c->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > BLOCK_BYTES ? n : BLOCK_BYTES;
        b = xmalloc(sizeof *b + size);
        b->used = 0;
        b->size = size;
        b->next = c->blocks;
        c->blocks = b;
    }
    char *at = b->text + b->used;
    memcpy(at, w, n);
    b->used += n;
    return at;
}

static void push_word(struct cmdline *c, const char *w)
{
    if (c->nwords + 1 >= c->capwords) {
        c->capwords = c->capwords ? c->capwords * 2 : 256;
        c->words = xrealloc(c->words, c->capwords * sizeof *c->words);
    }
    c->words[c->nwords++] = copy_word(c, w);
    c->words[c->nwords] = NULL;
}

void cmdline_vgroup(struct cmdline *c, const char *origin, va_list ap)
{
    if (c->ngroups == c->capgroups) {
        c->capgroups = c->capgroups ? c->capgroups * 2 : 128;
        c->groups = xrealloc(c->groups, c->capgroups * sizeof *c->groups);
    }
    struct group *g = &c->groups[c->ngroups++];
    g->start = c->nwords;
    g->origin = copy_word(c, origin ? origin : "policy");
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
    for (struct cmdline_block *b = c->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(c->words);
    free(c->groups);
    memset(c, 0, sizeof *c);
}
