/*
 * fuzz_argv: build a policy from a byte-driven sequence of operations
 * (mounts of every kind, env, network, ids, limits, seccomp), check the
 * invariants, then the plan rendered as the bwrap command line.
 * Properties of any accepted policy's command: it starts with the bwrap
 * path; every invariant flag is present; --share-net appears exactly when
 * the network is on, and --unshare-net otherwise; "--" comes right before
 * the command, which is intact; the policy's rw binds come before its ro
 * binds, and both before /work, for targets outside /work.
 */
#include "bwrap.h"
#include "policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

struct input {
    const uint8_t *p;
    size_t n;
};

static int byte(struct input *in)
{
    if (!in->n)
        return -1;
    in->n--;
    return *in->p++;
}

/* A string: length byte, then that many bytes (clipped). */
static size_t str(struct input *in, char *buf, size_t cap)
{
    int len = byte(in);
    size_t n = len < 0 ? 0 : (size_t)len;
    if (n > in->n)
        n = in->n;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(buf, in->p, n);
    buf[n] = '\0';
    in->p += n;
    in->n -= n;
    return n;
}

/* A policy mount as bwrap_build rendered it: its group, whether read-only, its target. */
struct entry {
    size_t g;
    bool ro;
    const char *dst;
};

static bool has(const struct cmdline *c, const char *w)
{
    for (size_t i = 0; i < c->nwords; i++)
        if (strcmp(c->words[i], w) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct policy *p = policy_new();
    struct sl_err e;
    char a[256], b[256];
    for (int op; (op = byte(&in)) >= 0;) {
        size_t la = str(&in, a, sizeof a), lb = str(&in, b, sizeof b);
        switch (op % 8) {
        case 0: case 1: case 2:
            policy_add_mount(p, (enum mount_kind)(op / 8 % 6), a, la, b, lb, "fuzz", &e);
            break;
        case 3: policy_set_env(p, a, la, lb ? b : NULL, lb, "fuzz", &e); break;
        case 4: policy_set_network(p, la & 1, "fuzz", &e); break;
        case 5: policy_set_ids(p, (long)la * 1000 - 1, (long)lb * 1000 - 1, "fuzz", &e); break;
        case 6: policy_set_limit(p, (enum limit)(la % LIMIT_COUNT), (long long)lb * 4096 - 1,
                                 "fuzz", &e); break;
        case 7: policy_set_work(p, la ? a : NULL, la, "fuzz", &e); break;
        }
    }
    const char *protected_paths[] = {"/etc/sandlot/policies.d", NULL};
    if (policy_check_invariants(p, protected_paths, &e)) {
        char *cmd[] = {(char *)"prog", (char *)"--", (char *)"arg", NULL};
        char *env[] = {(char *)"PATH=/usr/bin", NULL};
        struct bwrap_inputs bi = {BWRAP_ARGV, "/usr/bin/bwrap", -1, -1, -1, NULL, env, -1, -1, 0};
        struct cmdline c;
        struct plan pl;
        plan_build(p, &pl);
        bwrap_build(&pl, &bi, cmd, &c);
        plan_free(&pl);
        CHECK(c.nwords >= 4 && strcmp(c.words[0], "/usr/bin/bwrap") == 0);
        static const char *const inv[] = {"--unshare-user", "--unshare-pid", "--unshare-ipc",
                                          "--unshare-uts", "--unshare-cgroup", "--die-with-parent",
                                          "--new-session", "--clearenv", "--remount-ro"};
        for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++)
            CHECK(has(&c, inv[i]));
        CHECK(has(&c, "--share-net") == p->network && has(&c, "--unshare-net") == !p->network);
        CHECK(strcmp(c.words[c.nwords - 4], "--") == 0);
        CHECK(strcmp(c.words[c.nwords - 3], "prog") == 0 && strcmp(c.words[c.nwords - 1], "arg") == 0);
        /*
         * order (DESIGN.md, mount precedence): parents first; at one target
         * rw before ro; /work after the top-level entries, before deeper ones
         */
        size_t work = 0, n = 0;
        struct entry m[512];
        for (size_t g = 0; g < c.ngroups; g++) {
            if (strcmp(c.groups[g].origin, "sandlot: invariant") == 0)
                continue; /* the skeleton's own binds (the /proc covers) are not the policy's */
            const char *f = c.words[c.groups[g].start];
            const char *dst = c.groups[g].count >= 3 ? c.words[c.groups[g].start + 2] : "";
            if ((strcmp(f, "--tmpfs") == 0 && c.groups[g].count == 2) || strcmp(f, "--dir") == 0)
                dst = c.words[c.groups[g].start + 1];
            else if (strcmp(f, "--size") == 0)
                dst = c.words[c.groups[g].start + 3];
            if (strcmp(dst, "/work") == 0) {
                work = g;
                continue;
            }
            bool ro = strcmp(f, "--ro-bind") == 0 || strcmp(f, "--ro-bind-try") == 0;
            /* the policy's mounts (a sized /dev/shm is the skeleton's, with the limit's origin) */
            if (strcmp(c.groups[g].origin, "fuzz") == 0 && dst[0] == '/' && n < 512 &&
                !path_within(dst, "/dev") &&
                (ro || strcmp(f, "--bind") == 0 || strcmp(f, "--tmpfs") == 0 ||
                 strcmp(f, "--size") == 0 || strcmp(f, "--dir") == 0 || strcmp(f, "--symlink") == 0))
                m[n++] = (struct entry){g, ro, dst};
        }
        CHECK(work > 0);
        for (size_t i = 0; i < n; i++) {
            bool top = strchr(m[i].dst + 1, '/') == NULL;
            CHECK(top ? m[i].g < work : m[i].g > work);
            for (size_t j = i + 1; j < n; j++) {
                bool same = strcmp(m[i].dst, m[j].dst) == 0;
                CHECK(same || !path_within(m[i].dst, m[j].dst)); /* no child before its parent */
                CHECK(!same || !m[i].ro || m[j].ro);             /* read-only wins at one target */
            }
        }
        cmdline_free(&c);
    }
    policy_free(p);
    return 0;
}
