/* plan.c: the policy as one ordered list of steps; see plan.h. */
#include "plan.h"
#include "rules.h"
#include "util.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

static struct step *add(struct plan *pl, enum step_op op, const char *origin)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 64;
        pl->steps = xrealloc(pl->steps, pl->cap * sizeof *pl->steps);
    }
    struct step *s = &pl->steps[pl->n++];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->origin = origin ? origin : "policy";
    s->size = LIMIT_UNLIMITED;
    return s;
}

/* One policy mount as a step. */
static void add_mount(struct plan *pl, const struct mount *m)
{
    enum step_op op = STEP_BIND;
    switch (m->kind) {
    case MOUNT_TMPFS: op = STEP_TMPFS; break;
    case MOUNT_DIR: op = STEP_DIR; break;
    case MOUNT_SYMLINK: op = STEP_SYMLINK; break;
    case MOUNT_MASK_DIR: op = STEP_MASK; break;
    case MOUNT_MASK_FILE: op = STEP_FILE; break;
    case MOUNT_RO_BIND:
    case MOUNT_RW_BIND:
    case MOUNT_RO_BIND_TRY: break;
    }
    struct step *s = add(pl, op, m->origin);
    s->kind = (int)m->kind;
    s->src = m->kind == MOUNT_MASK_FILE ? "" : m->src;
    s->dst = m->dst;
}

/* Name resolution from the generated files alone; hosts also through DNS (the network). */
static const char nsswitch[] = "passwd: files\n"
                               "group: files\n"
                               "shadow: files\n"
                               "hosts: files dns\n";

/*
 * The sandbox user's name: the policy's USER when it forces one that
 * passwd can hold (a portable user name, not root's), else "nobody".
 */
static const char *user_name(const struct policy *p)
{
    const struct envvar *v = policy_find_env(p, "USER");
    const char *name = v ? v->value : NULL;
    if (!name || !name[0] || name[0] == '-' || strlen(name) > 32 || strcmp(name, "root") == 0 ||
        name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")])
        return "nobody";
    return name;
}

/*
 * /etc/passwd, /etc/group and a files-only /etc/nsswitch.conf, so whoami,
 * id, getpwuid and the tools built on them name the sandbox user (home
 * /work) and root, and nothing else of the host's accounts shows.  A pure
 * function of the policy: its ids and its USER.
 */
static void add_identity(struct plan *pl, const struct policy *p)
{
    const char *user = user_name(p);
    const char *group = strcmp(user, "nobody") == 0 ? "nogroup" : user;
    pl->passwd = xasprintf("root:x:0:0:root:/root:/bin/sh\n%s:x:%u:%u:%s:/work:/bin/sh\n", user,
                           p->uid, p->gid, user);
    pl->group = xasprintf("root:x:0:\n%s:x:%u:\n", group, p->gid);
    const char *const files[][2] = {{"/etc/passwd", pl->passwd},
                                    {"/etc/group", pl->group},
                                    {"/etc/nsswitch.conf", nsswitch}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct step *s = add(pl, STEP_FILE, ORIGIN_BASELINE);
        s->dst = files[i][0];
        s->src = files[i][1];
    }
}

/* A tmpfs at dst sized by limit l: the limit's origin when sized, else unsized's. */
static void add_sized(struct plan *pl, const struct policy *p, enum limit l, const char *dst,
                      const char *unsized)
{
    struct step *s = add(pl, STEP_TMPFS, p->limit[l] != LIMIT_UNLIMITED ? p->limit_origin[l]
                                                                        : unsized);
    s->dst = dst;
    s->size = p->limit[l];
}

#define PROXY_URL "http://127.0.0.1:" EGRESS_PORT_TEXT
#define SOCKS_URL "socks5h://127.0.0.1:" EGRESS_PORT_TEXT
#define NO_PROXY "localhost,127.0.0.1"
const struct egress_var plan_egress_vars[] = {
    {"HTTPS_PROXY", PROXY_URL}, {"https_proxy", PROXY_URL}, {"HTTP_PROXY", PROXY_URL},
    {"http_proxy", PROXY_URL},  {"ALL_PROXY", SOCKS_URL},   {"all_proxy", SOCKS_URL},
    {"NO_PROXY", NO_PROXY},     {"no_proxy", NO_PROXY},
};
const size_t plan_negress_vars = sizeof plan_egress_vars / sizeof plan_egress_vars[0];

/* Whether name is one of the variables allowlist mode sets. */
static bool egress_var(const char *name)
{
    for (size_t i = 0; i < plan_negress_vars; i++)
        if (strcmp(name, plan_egress_vars[i].name) == 0)
            return true;
    return false;
}

size_t plan_limits(const struct policy *p, struct child_limit out[LIMIT_COUNT])
{
    static const struct {
        enum limit l;
        int resource;
    } map[] = {{LIMIT_NOFILE, RLIMIT_NOFILE}, {LIMIT_NPROC, RLIMIT_NPROC},
               {LIMIT_AS, RLIMIT_AS},         {LIMIT_DATA, RLIMIT_DATA},
               {LIMIT_CPU, RLIMIT_CPU},       {LIMIT_FSIZE, RLIMIT_FSIZE},
               {LIMIT_CORE, RLIMIT_CORE}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (p->limit[map[i].l] != LIMIT_UNLIMITED)
            out[n++] = (struct child_limit){map[i].resource,
                                            (unsigned long long)p->limit[map[i].l],
                                            limit_name(map[i].l)};
    return n;
}

void plan_build(const struct policy *p, struct plan *pl)
{
    memset(pl, 0, sizeof *pl);
    /* room for every step at once: the fixed ones, each mount and its rule, each variable */
    pl->cap = 64 + 2 * p->nmounts + p->nenv;
    pl->steps = xmalloc(pl->cap * sizeof *pl->steps);
    pl->nlimits = plan_limits(p, pl->limits);
    pl->network = p->network;
    pl->egress = policy_egress_mode(p) == EGRESS_ALLOWLIST;
    pl->uid = p->uid;
    pl->gid = p->gid;

    /* Invariants 1 and 2: nothing a script did changes these. */
    add(pl, STEP_NAMESPACES, ORIGIN_INVARIANT);
    add(pl, STEP_NETWORK, p->network ? p->network_origin : ORIGIN_INVARIANT);
    /* Invariant 3: uid/gid are never 0 (policy_set_ids refused it). */
    add(pl, STEP_MAP_IDS, p->id_origin ? p->id_origin : ORIGIN_BASELINE);

    add(pl, STEP_ROOT, ORIGIN_BASELINE);
    add(pl, STEP_PROC, ORIGIN_BASELINE);
    /* the kernel's knobs read-only, whatever the identity */
    for (const struct proc_cover *pc = policy_proc_covers; pc->path; pc++) {
        struct step *c = add(pl, STEP_PROC_RO, ORIGIN_INVARIANT);
        c->src = c->dst = pc->path;
        c->kind = pc->optional ? MOUNT_RO_BIND_TRY : MOUNT_RO_BIND;
    }
    add(pl, STEP_DEV, ORIGIN_BASELINE)->dst = "/dev";
    /* /dev/shm a sized tmpfs of its own, the rest of /dev read-only */
    struct step *shm = add(pl, STEP_TMPFS, p->limit_origin[LIMIT_SHM] ? p->limit_origin[LIMIT_SHM]
                                                                      : ORIGIN_BASELINE);
    shm->dst = "/dev/shm";
    shm->size = p->limit[LIMIT_SHM];
    add(pl, STEP_REMOUNT_RO, ORIGIN_INVARIANT)->dst = "/dev";
    add_sized(pl, p, LIMIT_TMP, "/tmp", ORIGIN_BASELINE);
    /* under every policy mount: a bind of /etc or of one of them shows the host's instead */
    add_identity(pl, p);

    /* Mount order: policy_mount_order's (parents first), /work where its depth puts it. */
    size_t *order = xcalloc(p->nmounts + 1, sizeof *order), before_work;
    size_t nordered = policy_mount_order(p, order, &before_work);
    for (size_t k = 0; k < before_work; k++)
        add_mount(pl, &p->mounts[order[k]]);
    if (p->work_host) {
        struct step *s = add(pl, STEP_BIND, p->work_origin);
        s->kind = MOUNT_RW_BIND;
        s->src = p->work_host;
        s->dst = "/work";
    } else {
        add_sized(pl, p, LIMIT_WORK, "/work", p->work_origin ? p->work_origin : ORIGIN_BASELINE);
    }
    for (size_t k = before_work; k < nordered; k++)
        add_mount(pl, &p->mounts[order[k]]);
    free(order);

    add(pl, STEP_REMOUNT_RO, ORIGIN_INVARIANT)->dst = "/";
    add(pl, STEP_PIVOT, ORIGIN_BASELINE);
    if (!p->network)
        add(pl, STEP_LOOPBACK, ORIGIN_BASELINE);
    if (pl->egress)
        add(pl, STEP_EGRESS, ORIGIN_EGRESS);
    add(pl, STEP_CHDIR, ORIGIN_BASELINE)->dst = "/work";

    add(pl, STEP_SESSION, ORIGIN_INVARIANT);
    add(pl, STEP_PDEATH, ORIGIN_INVARIANT);
    add(pl, STEP_LANDLOCK, ORIGIN_INVARIANT);
    size_t nrules;
    struct ll_rule *rules = policy_rules(p, &nrules);
    for (size_t i = 0; i < nrules; i++) {
        struct step *s = add(pl, STEP_RULE, rules[i].origin);
        s->kind = (int)rules[i].cls;
        s->dst = rules[i].path;
    }
    free(rules);
    for (size_t i = 0; i < pl->n; i++)
        if (pl->steps[i].op == STEP_FILE && pl->steps[i].kind != MOUNT_MASK_FILE) {
            struct step *s = add(pl, STEP_RULE, ORIGIN_BASELINE);
            s->kind = LL_RO;
            s->dst = pl->steps[i].dst;
        }
    add(pl, STEP_NNP, ORIGIN_INVARIANT);
    add(pl, STEP_CAPS, ORIGIN_INVARIANT);
    add(pl, STEP_RESTRICT, ORIGIN_INVARIANT);
    add(pl, STEP_SECCOMP, p->seccomp_strict ? p->seccomp_origin : ORIGIN_INVARIANT);
    add(pl, STEP_CLEARENV, ORIGIN_INVARIANT);
    for (size_t i = 0; i < p->nenv; i++) {
        if (pl->egress && egress_var(p->env[i].name))
            continue; /* the C core's own value below */
        struct step *s = add(pl, STEP_SETENV, p->env[i].origin);
        s->src = p->env[i].name;
        s->dst = p->env[i].value;
    }
    for (size_t i = 0; pl->egress && i < plan_negress_vars; i++) {
        /* a seal holds against sandlot's own variables too (invariant 11):
         * without them a client finds no proxy, and still reaches nothing */
        if (policy_env_sealed(p, plan_egress_vars[i].name))
            continue;
        struct step *s = add(pl, STEP_SETENV, ORIGIN_EGRESS);
        s->src = plan_egress_vars[i].name;
        s->dst = plan_egress_vars[i].value;
    }
    add(pl, STEP_EXEC, ORIGIN_BASELINE);
}

void plan_free(struct plan *pl)
{
    free(pl->steps);
    free(pl->passwd);
    free(pl->group);
    memset(pl, 0, sizeof *pl);
}
