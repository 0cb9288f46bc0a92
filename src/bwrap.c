/* bwrap.c: bwrap command-line builder and trusted lookup; see bwrap.h. */
#include "bwrap.h"
#include "landlock.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELPER "sandlot: exec helper"

static const char *bind_flag(int kind, bool by_fd)
{
    if (kind == MOUNT_RW_BIND)
        return by_fd ? "--bind-fd" : "--bind";
    if (kind == MOUNT_RO_BIND_TRY && !by_fd)
        return "--ro-bind-try";
    return by_fd ? "--ro-bind-fd" : "--ro-bind";
}

/* The options bwrap takes for the whole sandbox, in the order it gets them. */
static void render_process(struct cmdline *c, const struct plan *pl, const struct step *s,
                           const struct bwrap_inputs *in)
{
    char a[32], b[32];
    const char *o = s->origin;
    switch (s->op) {
    case STEP_NAMESPACES:
        cmdline_group(c, o, "--unshare-user", (char *)NULL);
        cmdline_group(c, o, "--unshare-pid", (char *)NULL);
        cmdline_group(c, o, "--unshare-ipc", (char *)NULL);
        cmdline_group(c, o, "--unshare-uts", (char *)NULL);
        cmdline_group(c, o, "--unshare-cgroup", (char *)NULL);
        break;
    case STEP_NETWORK:
        cmdline_group(c, o, pl->network ? "--share-net" : "--unshare-net", (char *)NULL);
        break;
    case STEP_PDEATH: cmdline_group(c, o, "--die-with-parent", (char *)NULL); break;
    case STEP_SESSION: cmdline_group(c, o, "--new-session", (char *)NULL); break;
    case STEP_CAPS: cmdline_group(c, o, "--cap-drop", "ALL", (char *)NULL); break;
    case STEP_CLEARENV: cmdline_group(c, o, "--clearenv", (char *)NULL); break;
    case STEP_SECCOMP:
        if (in->mode == BWRAP_ARGV)
            break;
        snprintf(a, sizeof a, "%d", in->seccomp_fd);
        cmdline_group(c, o, "--seccomp", in->mode == BWRAP_RUN ? a : "<filter>", (char *)NULL);
        break;
    case STEP_MAP_IDS:
        snprintf(a, sizeof a, "%u", pl->uid);
        snprintf(b, sizeof b, "%u", pl->gid);
        cmdline_group(c, o, "--uid", a, (char *)NULL);
        cmdline_group(c, o, "--gid", b, (char *)NULL);
        break;
    default: break;
    }
}

/*
 * One filesystem step.  bwrap makes the root, pivots and brings lo up
 * itself; a bind goes through the descriptor the launch opened without
 * following links, and a file's text (a file mask's empty one) is the
 * launch's memfd, which bwrap copies into a read-only file of its own.
 */
static void render_fs(struct cmdline *c, const struct step *s, const struct source *src,
                      const struct bwrap_inputs *in)
{
    char size[32], fd[16];
    const char *o = s->origin;
    bool open = in->mode == BWRAP_RUN && src && src->state == SOURCE_OPEN;
    if (open)
        snprintf(fd, sizeof fd, "%d", src->fd);
    switch (s->op) {
    case STEP_PROC: cmdline_group(c, o, "--proc", "/proc", (char *)NULL); break;
    case STEP_PROC_RO:
        /* bwrap takes the source from the old root: the host procfs's own knob */
        cmdline_group(c, o, bind_flag(s->kind, false), s->src, s->dst, (char *)NULL);
        break;
    case STEP_DEV: cmdline_group(c, o, "--dev", s->dst, (char *)NULL); break;
    case STEP_TMPFS:
        snprintf(size, sizeof size, "%lld", s->size);
        if (s->size != LIMIT_UNLIMITED)
            cmdline_group(c, o, "--size", size, "--tmpfs", s->dst, (char *)NULL);
        else
            cmdline_group(c, o, "--tmpfs", s->dst, (char *)NULL);
        break;
    case STEP_DIR: cmdline_group(c, o, "--dir", s->dst, (char *)NULL); break;
    case STEP_SYMLINK: cmdline_group(c, o, "--symlink", s->src, s->dst, (char *)NULL); break;
    case STEP_BIND:
        if (in->mode == BWRAP_RUN && src && src->state == SOURCE_ABSENT)
            break; /* an ro_bind_try source that was absent when the launch opened it */
        cmdline_group(c, o, bind_flag(s->kind, open), open ? fd : s->src, s->dst, (char *)NULL);
        break;
    case STEP_MASK:
        cmdline_group(c, o, "--perms", "0555", "--tmpfs", s->dst, "--remount-ro", s->dst,
                      (char *)NULL);
        break;
    case STEP_FILE:
        cmdline_group(c, o, "--perms", "0444", "--ro-bind-data",
                      open ? fd : s->kind == MOUNT_MASK_FILE ? "<empty>" : "<generated>", s->dst,
                      (char *)NULL);
        break;
    case STEP_REMOUNT_RO: cmdline_group(c, o, "--remount-ro", s->dst, (char *)NULL); break;
    case STEP_CHDIR: cmdline_group(c, o, "--chdir", s->dst, (char *)NULL); break;
    default: break;
    }
}

void bwrap_build(const struct plan *pl, const struct bwrap_inputs *in, char *const *cmd,
                 struct cmdline *out)
{
    memset(out, 0, sizeof *out);
    cmdline_group(out, ORIGIN_BASELINE, in->bwrap_path, (char *)NULL);
    /* bwrap's options for the whole sandbox first (the plan has each once), in this order */
    static const enum step_op process[] = {STEP_NAMESPACES, STEP_NETWORK, STEP_PDEATH,
                                           STEP_SESSION,    STEP_CAPS,    STEP_CLEARENV,
                                           STEP_SECCOMP,    STEP_MAP_IDS};
    const struct step *once[STEP_EXEC + 1] = {NULL};
    for (size_t i = 0; i < pl->n; i++)
        once[pl->steps[i].op] = &pl->steps[i];
    for (size_t k = 0; k < sizeof process / sizeof process[0]; k++)
        if (once[process[k]])
            render_process(out, pl, once[process[k]], in);
    /* the filesystem in the plan's order */
    for (size_t i = 0; i < pl->n; i++)
        render_fs(out, &pl->steps[i], in->sources ? &in->sources[i] : NULL, in);
    /* the environment: bwrap applies --setenv after --clearenv, whatever their order */
    for (size_t i = 0; i < pl->n; i++) {
        const struct step *s = &pl->steps[i];
        if (s->op != STEP_SETENV)
            continue;
        const char *val = s->dst ? s->dst : env_lookup(in->host_env, s->src);
        if (val)
            cmdline_group(out, s->origin, "--setenv", s->src, val, (char *)NULL);
    }
    out->options_end = out->nwords;

    cmdline_group(out, ORIGIN_BASELINE, "--", (char *)NULL);
    if (in->mode != BWRAP_ARGV) {
        /* the helper, then the Landlock rules it enforces (the native backend's) */
        char helper[32], ready[16];
        snprintf(helper, sizeof helper, "/proc/self/fd/%d", in->helper_fd);
        snprintf(ready, sizeof ready, "%d", in->ready_fd);
        bool run = in->mode == BWRAP_RUN;
        cmdline_group(out, HELPER, run ? helper : "/proc/self/fd/<sandlot-exec>",
                      run ? ready : "<ready>", (char *)NULL);
        if (pl->egress) {
            char eg[40];
            snprintf(eg, sizeof eg, "--egress-fd=%d", in->egress_fd);
            cmdline_group(out, ORIGIN_EGRESS, run ? eg : "--egress-fd=<egress>", (char *)NULL);
        }
        if (run && in->pty_mask) {
            char sock[16], mask[16];
            snprintf(sock, sizeof sock, "%d", in->pty_sock);
            snprintf(mask, sizeof mask, "%u", in->pty_mask);
            cmdline_group(out, HELPER, "--pty", sock, mask, (char *)NULL);
        }
        for (size_t i = 0; i < pl->n; i++) {
            const struct step *s = &pl->steps[i];
            if (s->op != STEP_RULE)
                continue;
            char *w = xasprintf("%s:%s", ll_class_word((enum ll_class)s->kind), s->dst);
            cmdline_group(out, s->origin, w, (char *)NULL);
            free(w);
        }
        cmdline_group(out, HELPER, "--", (char *)NULL);
    }
    cmdline_command(out, cmd);
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
