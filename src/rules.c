/* rules.c: the Landlock rules of a policy; see rules.h. */
#include "rules.h"
#include "util.h"

#include <stdlib.h>

#define SKELETON "sandlot: baseline"

/* The rule mirroring policy mount m, if it has one (directories and symlinks have none). */
static void add_mount(struct ll_rule *r, size_t *n, const struct mount *m)
{
    if (m->kind == MOUNT_DIR || m->kind == MOUNT_SYMLINK)
        return;
    r[(*n)++] = (struct ll_rule){m->kind == MOUNT_TMPFS || m->kind == MOUNT_RW_BIND ? LL_RW : LL_RO,
                                 m->dst, m->origin};
}

struct ll_rule *policy_rules(const struct policy *p, size_t *n)
{
    struct ll_rule *r = xcalloc(p->nmounts + 6, sizeof *r);
    *n = 0;
    r[(*n)++] = (struct ll_rule){LL_LIST, "/", SKELETON};
    r[(*n)++] = (struct ll_rule){LL_PROC, "/proc", SKELETON};
    r[(*n)++] = (struct ll_rule){LL_RW, "/dev", SKELETON};
    r[(*n)++] = (struct ll_rule){LL_RW, "/tmp", p->limit[LIMIT_TMP] != LIMIT_UNLIMITED
                                                    ? p->limit_origin[LIMIT_TMP]
                                                    : SKELETON};
    size_t *order = xcalloc(p->nmounts + 1, sizeof *order), before_work;
    size_t nordered = policy_mount_order(p, order, &before_work);
    for (size_t k = 0; k < before_work; k++)
        add_mount(r, n, &p->mounts[order[k]]);
    const char *work = p->work_host ? p->work_origin
                       : p->limit[LIMIT_WORK] != LIMIT_UNLIMITED ? p->limit_origin[LIMIT_WORK]
                       : p->work_origin ? p->work_origin : SKELETON;
    r[(*n)++] = (struct ll_rule){LL_RW, "/work", work};
    for (size_t k = before_work; k < nordered; k++)
        add_mount(r, n, &p->mounts[order[k]]);
    free(order);
    /* allowlist mode: TCP connect only to the proxy's port (from Landlock ABI 4) */
    if (policy_egress_mode(p) == EGRESS_ALLOWLIST)
        r[(*n)++] = (struct ll_rule){LL_TCP_CONNECT, EGRESS_PORT_TEXT, ORIGIN_EGRESS};
    return r;
}
