/* bwrap.c: bwrap command-line builder and trusted lookup; see bwrap.h. */
#include "bwrap.h"
#include "rules.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INVARIANT "sandlot: invariant"
#define SKELETON "sandlot: baseline"
#define HELPER "sandlot: exec helper"

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

const char *env_lookup(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static const char *bind_flag(enum mount_kind k)
{
    switch (k) {
    case MOUNT_RO_BIND: return "--ro-bind";
    case MOUNT_RW_BIND: return "--bind";
    case MOUNT_RO_BIND_TRY: return "--ro-bind-try";
    case MOUNT_TMPFS: return "--tmpfs";
    case MOUNT_DIR: return "--dir";
    case MOUNT_SYMLINK: return "--symlink";
    case MOUNT_MASK_DIR:
    case MOUNT_MASK_FILE: break; /* emit_mask */
    }
    return NULL;
}

/*
 * A mask: an empty read-only directory (a tmpfs of mode 0555, remounted
 * read-only) or an empty read-only file (bwrap copies the empty descriptor
 * run.c made into a file of its own and binds it read-only; without one,
 * for explain, a placeholder).
 */
static void emit_mask(struct cmdline *c, const struct mount *m, int fd)
{
    char num[16];
    if (m->kind == MOUNT_MASK_DIR) {
        cmdline_group(c, m->origin, "--perms", "0555", "--tmpfs", m->dst, "--remount-ro", m->dst,
                      (char *)NULL);
        return;
    }
    snprintf(num, sizeof num, "%d", fd);
    cmdline_group(c, m->origin, "--perms", "0444", "--ro-bind-data", fd >= 0 ? num : "<empty>",
                  m->dst, (char *)NULL);
}

/* Emit mount i of the policy. */
static void emit_mount(struct cmdline *c, const struct policy *p, size_t i, const int *bind_fds)
{
    const struct mount *m = &p->mounts[i];
    if (m->kind == MOUNT_MASK_DIR || m->kind == MOUNT_MASK_FILE) {
        emit_mask(c, m, bind_fds ? bind_fds[i] : -1);
        return;
    }
    if (bind_fds && bind_fds[i] == -2)
        return; /* an ro_bind_try source that was absent when run.c opened it */
    if (bind_fds && bind_fds[i] >= 0) {
        /* bound through the descriptor run.c opened without following links */
        char fd[16];
        snprintf(fd, sizeof fd, "%d", bind_fds[i]);
        cmdline_group(c, m->origin, m->kind == MOUNT_RW_BIND ? "--bind-fd" : "--ro-bind-fd", fd,
                      m->dst, (char *)NULL);
    } else if (m->src)
        cmdline_group(c, m->origin, bind_flag(m->kind), m->src, m->dst, (char *)NULL);
    else
        cmdline_group(c, m->origin, bind_flag(m->kind), m->dst, (char *)NULL);
}

void bwrap_build(const struct policy *p, const struct bwrap_inputs *in, char *const *cmd,
                 struct cmdline *out)
{
    char uid[16], gid[16], helper[32], ready[16], filter[16];
    memset(out, 0, sizeof *out);
    cmdline_group(out, SKELETON, in->bwrap_path, (char *)NULL);

    /* Invariants 1 and 2: these do not depend on anything a script did. */
    cmdline_group(out, INVARIANT, "--unshare-user", (char *)NULL);
    cmdline_group(out, INVARIANT, "--unshare-pid", (char *)NULL);
    cmdline_group(out, INVARIANT, "--unshare-ipc", (char *)NULL);
    cmdline_group(out, INVARIANT, "--unshare-uts", (char *)NULL);
    cmdline_group(out, INVARIANT, "--unshare-cgroup", (char *)NULL);
    if (p->network)
        cmdline_group(out, p->network_origin, "--share-net", (char *)NULL);
    else
        cmdline_group(out, INVARIANT, "--unshare-net", (char *)NULL);
    cmdline_group(out, INVARIANT, "--die-with-parent", (char *)NULL);
    cmdline_group(out, INVARIANT, "--new-session", (char *)NULL);
    cmdline_group(out, INVARIANT, "--cap-drop", "ALL", (char *)NULL);
    cmdline_group(out, INVARIANT, "--clearenv", (char *)NULL);
    if (in->seccomp_fd != -1) {
        snprintf(filter, sizeof filter, "%d", in->seccomp_fd);
        cmdline_group(out, p->seccomp_strict ? p->seccomp_origin : INVARIANT, "--seccomp",
              in->seccomp_fd >= 0 ? filter : "<filter>", (char *)NULL);
    }

    /* Invariant 3: uid/gid are never 0 (policy_set_ids refused it). */
    snprintf(uid, sizeof uid, "%u", p->uid);
    snprintf(gid, sizeof gid, "%u", p->gid);
    const char *ido = p->id_origin ? p->id_origin : SKELETON;
    cmdline_group(out, ido, "--uid", uid, (char *)NULL);
    cmdline_group(out, ido, "--gid", gid, (char *)NULL);

    cmdline_group(out, SKELETON, "--proc", "/proc", (char *)NULL);
    /*
     * The kernel knobs of /proc read-only whoever runs bwrap (bwrap covers
     * them itself only where it can write them).  bwrap takes a bind's
     * source from the old root: these are the host procfs's own files,
     * which read per the reader's namespaces like the new /proc's.
     */
    for (const struct proc_cover *pc = policy_proc_covers; pc->path; pc++)
        cmdline_group(out, INVARIANT, pc->optional ? "--ro-bind-try" : "--ro-bind", pc->path,
                      pc->path, (char *)NULL);
    cmdline_group(out, SKELETON, "--dev", "/dev", (char *)NULL);
    char size[32];
    /* /dev/shm a sized tmpfs of its own, the rest of /dev read-only */
    snprintf(size, sizeof size, "%lld", p->limit[LIMIT_SHM]);
    if (p->limit[LIMIT_SHM] != LIMIT_UNLIMITED)
        cmdline_group(out, p->limit_origin[LIMIT_SHM] ? p->limit_origin[LIMIT_SHM] : SKELETON,
                      "--size", size, "--tmpfs", "/dev/shm", (char *)NULL);
    else
        cmdline_group(out, p->limit_origin[LIMIT_SHM], "--tmpfs", "/dev/shm", (char *)NULL);
    cmdline_group(out, INVARIANT, "--remount-ro", "/dev", (char *)NULL);
    if (p->limit[LIMIT_TMP] != LIMIT_UNLIMITED) {
        snprintf(size, sizeof size, "%lld", p->limit[LIMIT_TMP]);
        cmdline_group(out, p->limit_origin[LIMIT_TMP], "--size", size, "--tmpfs", "/tmp", (char *)NULL);
    } else {
        cmdline_group(out, SKELETON, "--tmpfs", "/tmp", (char *)NULL);
    }

    /* Mount order: policy_mount_order's (noether's contract). */
    size_t *order = xcalloc(p->nmounts + 1, sizeof *order), before_work;
    policy_mount_order(p, order, &before_work);
    for (size_t k = 0; k < before_work; k++)
        emit_mount(out, p, order[k], in->bind_fds);
    if (p->work_host && in->work_fd >= 0) {
        char fd[16];
        snprintf(fd, sizeof fd, "%d", in->work_fd);
        cmdline_group(out, p->work_origin, "--bind-fd", fd, "/work", (char *)NULL);
    } else if (p->work_host)
        cmdline_group(out, p->work_origin, "--bind", p->work_host, "/work", (char *)NULL);
    else if (p->limit[LIMIT_WORK] != LIMIT_UNLIMITED) {
        snprintf(size, sizeof size, "%lld", p->limit[LIMIT_WORK]);
        cmdline_group(out, p->limit_origin[LIMIT_WORK], "--size", size, "--tmpfs", "/work", (char *)NULL);
    } else {
        cmdline_group(out, p->work_origin ? p->work_origin : SKELETON, "--tmpfs", "/work", (char *)NULL);
    }
    for (size_t k = before_work; k < p->nmounts; k++)
        emit_mount(out, p, order[k], in->bind_fds);
    free(order);
    cmdline_group(out, INVARIANT, "--remount-ro", "/", (char *)NULL);
    cmdline_group(out, SKELETON, "--chdir", "/work", (char *)NULL);

    for (size_t i = 0; i < p->nenv; i++) {
        const struct envvar *v = &p->env[i];
        const char *val = v->value ? v->value : env_lookup(in->host_env, v->name);
        if (val)
            cmdline_group(out, v->origin, "--setenv", v->name, val, (char *)NULL);
    }
    out->options_end = out->nwords;

    cmdline_group(out, SKELETON, "--", (char *)NULL);
    if (in->helper_fd != -1) {
        /* the helper, then the Landlock rules it enforces (the native backend's) */
        if (in->helper_fd >= 0) {
            snprintf(helper, sizeof helper, "/proc/self/fd/%d", in->helper_fd);
            snprintf(ready, sizeof ready, "%d", in->ready_fd);
        }
        cmdline_group(out, HELPER, in->helper_fd >= 0 ? helper : "/proc/self/fd/<sandlot-exec>",
                      in->helper_fd >= 0 ? ready : "<ready>", (char *)NULL);
        size_t n;
        struct ll_rule *rules = policy_rules(p, &n);
        for (size_t i = 0; i < n; i++) {
            char *w = xasprintf("%s:%s", ll_class_word(rules[i].cls), rules[i].path);
            cmdline_group(out, rules[i].origin, w, (char *)NULL);
            free(w);
        }
        free(rules);
        cmdline_group(out, HELPER, "--", (char *)NULL);
    }
    cmdline_command(out, cmd);
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

const char *const bwrap_trusted_paths[] = {
    "/usr/bin/bwrap",
    "/usr/local/bin/bwrap",
    "/run/current-system/sw/bin/bwrap",
    "/nix/var/nix/profiles/default/bin/bwrap",
    NULL,
};

static bool is_exec_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

char *bwrap_find(const char *path_env, bool *from_path)
{
    *from_path = false;
    for (const char *const *t = bwrap_trusted_paths; *t; t++)
        if (is_exec_file(*t))
            return xstrdup(*t);
    if (!path_env)
        return NULL;
    char *copy = xstrdup(path_env), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue; /* a relative PATH entry would depend on the working directory */
        char *cand = xasprintf("%s/bwrap", dir);
        if (is_exec_file(cand)) {
            free(copy);
            *from_path = true;
            return cand;
        }
        free(cand);
    }
    free(copy);
    return NULL;
}
