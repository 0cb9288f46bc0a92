/*
 * landlock.h: Landlock as sandlot applies it, for both backends.  The
 * rule classes and the rights each grants, the text form of a rule (how
 * bwrap_build hands the rules to the exec helper), and the ruleset built
 * from a list of rules.  It needs nothing beyond libc and the kernel: it
 * is linked into sandlot and into the static exec helper, so the two
 * backends enforce one implementation.
 */
#ifndef SANDLOT_LANDLOCK_H
#define SANDLOT_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

/* What a Landlock rule grants beneath its path. */
enum ll_class {
    LL_LIST, /* list directories (the read-only root) */
    LL_RO,   /* read and execute: read-only binds */
    LL_RW,   /* everything: rw binds, tmpfs, /work, /tmp, /dev */
    LL_PROC, /* read, write, execute and truncate files: /proc */
    /*
     * TCP connect to one port (the egress proxy's): path holds the port's
     * decimal text.  With any such rule, from ABI 4 on, TCP connect is
     * handled, so only the listed ports can be connected to; below ABI 4
     * the rule is skipped (the network namespace still holds).
     */
    LL_TCP_CONNECT
};

/* One rule: a path inside the sandbox and its class.  Strings are borrowed. */
struct ll_rule {
    enum ll_class cls;
    const char *path;
    const char *origin; /* what caused it (explain); NULL where nobody shows it */
};

/* The kernel's Landlock ABI version, 0 when it has none. */
int landlock_abi(void);

/* The Landlock ABI from which TCP connect can be restricted. */
#define LANDLOCK_NET_ABI 4

/* The class's word: "list", "ro", "rw", "proc" or "tcp-connect". */
const char *ll_class_word(enum ll_class c);

/*
 * Parse a rule's text form, CLASS:PATH (ll_class_word, then an absolute
 * path without newline; the path may contain ':', only the first one
 * splits), or tcp-connect:PORT (1 to 65535, decimal).  r->path points into text.  Returns false when it is not one.
 */
bool ll_rule_parse(const char *text, struct ll_rule *r);

/*
 * Create the ruleset for ABI abi (>= 1): every right that ABI knows is
 * handled, abstract unix sockets and signals are scoped from ABI 6, and
 * each rule's path gets its class's rights (a path that does not exist is
 * skipped: a ro_bind_try whose source was absent).  Returns the ruleset's
 * descriptor, or -1 with errno set and a one-line reason in err.
 */
int landlock_ruleset(const struct ll_rule *rules, size_t n, int abi, char *err, size_t errlen);

/*
 * Enforce ruleset rs on this thread and its future children, then close
 * it.  Needs no-new-privs (or CAP_SYS_ADMIN).  Returns 0, or -1 with errno.
 */
int landlock_restrict(int rs);

#endif
