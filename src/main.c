/*
 * main.c: the command line.  Parses options, asks the Lua layer for the
 * policy, checks the invariants once more in C, then explains or runs.
 * Every failure before the command starts exits 125 and runs nothing.
 */

#include "bwrap.h"
#include "doctor.h"
#include "launch.h"
#include "lua_main.h"
#include "native.h"
#include "plan.h"
#include "policy.h"
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SANDLOT_SYSCONFDIR
#define SANDLOT_SYSCONFDIR "/etc"
#endif
#define SYSTEM_POLICY_DIR SANDLOT_SYSCONFDIR "/sandlot/policies.d"
/* Where `make install` puts the binary and the exec helper (Makefile). */
#ifndef SANDLOT_BINDIR
#define SANDLOT_BINDIR "/usr/local/bin"
#endif
#ifndef SANDLOT_LIBEXECDIR
#define SANDLOT_LIBEXECDIR "/usr/local/libexec"
#endif

#ifndef SANDLOT_VERSION
#define SANDLOT_VERSION "0.1.0"
#endif

/* The grace before SIGKILL when the stage is stopped (--kill-after). */
#define KILL_AFTER_DEFAULT 10.0

enum command { CMD_RUN, CMD_EXPLAIN, CMD_CHECK, CMD_REPL };

struct opts {
    const char **effects;
    size_t neffects;
    const char *effects_json;
    const char **policies;
    size_t npolicies;
    const char **env; /* --env NAME[=VALUE], in order */
    size_t nenv;
    const char *policy_json;
    const char *policy_json_text, *policy_json_label; /* noether-sandbox: read already */
    const char *stage;
    const char *work;
    const char *isolate;
    bool require_isolation, unsafe_no_isolation, no_system_policies, json, print_argv;
    double timeout;
    double kill_after; /* KILL_AFTER_DEFAULT unless --kill-after */
    unsigned host_uid, host_gid; /* --host-id; 0: the default */
    enum pty_mode pty; /* --pty, --no-pty; PTY_AUTO: when stdin is a terminal */
    char **cmd;
};

static const char usage_run[] =
    "usage: sandlot run [OPTIONS] -- COMMAND [ARG...]\n"
    "Run COMMAND in a sandbox whose policy the policy layers build from its effects.\n";
static const char usage_explain[] =
    "usage: sandlot explain [OPTIONS] [--json | --argv] [-- COMMAND [ARG...]]\n"
    "Print the sandbox, one bwrap flag or native step per line with the script:line\n"
    "that caused it, and which backend auto picks and why; --json prints the policy\n"
    "as noether's IsolationPolicy JSON; --argv prints the runnable bwrap command as\n"
    "NUL-terminated words, with real values (whatever the backend).\n";
static const char usage_repl[] =
    "usage: sandlot repl [OPTIONS]\n"
    "An interactive Lua session with `policy` bound to the policy the options build\n"
    "and `stage` to the stage; help() lists the helpers (explain, run, reload...).\n"
    "With standard input not a terminal, reads statements silently and exits 1 if\n"
    "any failed.\n";
static const char usage_options[] =
    "\n"
    "  -e, --effects LIST         effects, comma-separated; repeatable: pure, fallible,\n"
    "                             network, fs-read:PATH, fs-write:PATH, llm[:MODEL],\n"
    "                             non-deterministic, process, cost[:CENTS], unknown\n"
    "      --effects-json FILE|-  noether EffectSet JSON\n"
    "  -p, --policy FILE          a policy script run after policies.d; repeatable\n"
    "      --env NAME[=VALUE]     pass the host's NAME (when set), or set NAME=VALUE;\n"
    "                             repeatable; applied after every policy layer, with the\n"
    "                             same name checks and seals as scripts\n"
    "      --policy-json FILE|-   a noether IsolationPolicy (replaces the effect mapping)\n"
    "      --stage NAME           stage name, visible to scripts\n"
    "      --work DIR             bind host DIR at /work instead of a private tmpfs\n"
    "      --isolate MODE         auto|native|bwrap|none   (env SANDLOT_ISOLATION)\n"
    "      --require-isolation    refuse to run unsandboxed (env SANDLOT_REQUIRE_ISOLATION=1)\n"
    "      --unsafe-no-isolation  confirm --isolate none (else it warns loudly)\n"
    "      --timeout DURATION     stop the stage after DURATION (2, 2s, 1.5m, 1h): SIGTERM,\n"
    "                             SIGKILL after the grace; exit 124\n"
    "      --kill-after DURATION  the grace between SIGTERM (or SIGINT, SIGHUP, SIGQUIT\n"
    "                             sandlot got and passed on) and SIGKILL; default 10s\n"
    "      --pty                  give the stage a terminal of its own, which sandlot\n"
    "                             relays, even when standard input is not a terminal\n"
    "                             (when it is, that is the default)\n"
    "      --no-pty               hand the stage sandlot's descriptors as they are\n"
    "      --host-id UID[:GID]    root invokers: the unprivileged host ids the sandbox runs\n"
    "                             as (default 65534:65534; never 0)\n"
    "      --status-json FILE     write a JSON status report when the stage ends (run)\n"
    "      --status-fd N          the same, to descriptor N\n"
    "      --no-system-policies   only the built-in layer and --policy files\n"
    "  -v, --verbose / -q, --quiet\n"
    "  -h, --help\n";
static const char usage_main[] =
    "usage: sandlot COMMAND [OPTIONS]\n"
    "\n"
    "  run     [OPTIONS] -- COMMAND [ARG...]   run a command in a sandbox\n"
    "  explain [OPTIONS] [--json] [-- CMD...]  show the sandbox and why each part exists\n"
    "  repl    [OPTIONS]                       try policies interactively\n"
    "  check   [-e EFFECTS]... FILE...         check policy scripts against sample stages\n"
    "  doctor  [--json]                        what this host offers a sandbox, and fixes\n"
    "  noether-sandbox [...] -- COMMAND        noether's sandbox binary, its protocol\n"
    "  version                                 print the version\n"
    "\n"
    "'sandlot COMMAND --help' describes each command.  Exit status: the command's own,\n"
    "128+N when it died of signal N, 124 timeout, 125 sandlot failed (nothing ran),\n"
    "126 not executable, 127 not found.\n";
static const char usage_check[] =
    "usage: sandlot check [-e EFFECTS]... [--effects-json FILE|-]... FILE...\n"
    "Load each policy script after the built-in layer against sample stages and\n"
    "report every error.  Each -e and each --effects-json is one stage to check\n"
    "against (default: pure; network; unknown; llm,cost,fallible; fs-read,fs-write).\n"
    "A script's own error(\"...\") is a refusal of that stage, listed on stdout,\n"
    "not a problem.  Exit status 0 when all are clean, 1 otherwise, 125 on bad usage.\n"
    "  -e, --effects LIST         one sample stage's effects, comma-separated\n"
    "      --effects-json FILE|-  one sample stage's noether EffectSet JSON\n"
    "  -q, --quiet                no summary line\n";

static void usage_error(const char *usage, const char *fmt, ...) PRINTF_LIKE(2, 3);
__attribute__((noreturn)) static void usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandlot: %s\n", msg);
    fputs(usage, stderr);
    fputs("Try 'sandlot --help'.\n", stderr);
    exit(EXIT_SANDLOT);
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

static const char **push_str(const char **list, size_t *n, const char *s)
{
    list = xrealloc(list, (*n + 1) * sizeof *list);
    list[(*n)++] = s;
    return list;
}

/* One id of --host-id: decimal, non-zero, not (uid_t)-1. */
static bool parse_id(const char *s, const char **end, unsigned *out)
{
    char *e;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &e, 10);
    if (errno || v == 0 || v >= 4294967295UL)
        return false;
    *out = (unsigned)v;
    *end = e;
    return true;
}

/* --host-id UID[:GID]; GID defaults to UID. */
static bool parse_host_id(const char *s, unsigned *uid, unsigned *gid)
{
    const char *end;
    if (!parse_id(s, &end, uid))
        return false;
    if (*end == '\0') {
        *gid = *uid;
        return true;
    }
    return *end == ':' && parse_id(end + 1, &end, gid) && *end == '\0';
}

static void parse_opts(int argc, char **argv, enum command cmd, struct opts *o)
{
    enum { O_EFFECTS_JSON = 256, O_POLICY_JSON, O_STAGE, O_WORK, O_ISOLATE, O_REQUIRE, O_UNSAFE,
           O_TIMEOUT, O_NO_SYSTEM, O_JSON, O_ARGV, O_STATUS_JSON, O_STATUS_FD, O_HOST_ID, O_ENV, O_KILL_AFTER,
           O_PTY, O_NO_PTY };
    static const struct option longopts[] = {
        {"effects", required_argument, NULL, 'e'},
        {"effects-json", required_argument, NULL, O_EFFECTS_JSON},
        {"policy", required_argument, NULL, 'p'},
        {"policy-json", required_argument, NULL, O_POLICY_JSON},
        {"env", required_argument, NULL, O_ENV},
        {"stage", required_argument, NULL, O_STAGE},
        {"work", required_argument, NULL, O_WORK},
        {"isolate", required_argument, NULL, O_ISOLATE},
        {"require-isolation", no_argument, NULL, O_REQUIRE},
        {"unsafe-no-isolation", no_argument, NULL, O_UNSAFE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"kill-after", required_argument, NULL, O_KILL_AFTER},
        {"host-id", required_argument, NULL, O_HOST_ID},
        {"pty", no_argument, NULL, O_PTY},
        {"no-pty", no_argument, NULL, O_NO_PTY},
        {"no-system-policies", no_argument, NULL, O_NO_SYSTEM},
        {"json", no_argument, NULL, O_JSON},
        {"argv", no_argument, NULL, O_ARGV},
        {"status-json", required_argument, NULL, O_STATUS_JSON},
        {"status-fd", required_argument, NULL, O_STATUS_FD},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = cmd == CMD_RUN ? usage_run : cmd == CMD_REPL ? usage_repl : usage_explain;
    memset(o, 0, sizeof *o);
    o->kill_after = KILL_AFTER_DEFAULT;
    opterr = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "+:e:p:vqh", longopts, NULL)) != -1;) {
        switch (c) {
        case 'e': o->effects = push_str(o->effects, &o->neffects, optarg); break;
        case 'p': o->policies = push_str(o->policies, &o->npolicies, optarg); break;
        case O_ENV: o->env = push_str(o->env, &o->nenv, optarg); break;
        case O_EFFECTS_JSON: o->effects_json = optarg; break;
        case O_POLICY_JSON: o->policy_json = optarg; break;
        case O_STAGE: o->stage = optarg; break;
        case O_WORK: o->work = optarg; break;
        case O_ISOLATE: o->isolate = optarg; break;
        case O_REQUIRE: o->require_isolation = true; break;
        case O_UNSAFE: o->unsafe_no_isolation = true; break;
        case O_NO_SYSTEM: o->no_system_policies = true; break;
        case O_JSON:
            if (cmd != CMD_EXPLAIN)
                usage_error(usage, "--json is an option of 'sandlot explain'");
            o->json = true;
            break;
        case O_STATUS_JSON:
        case O_STATUS_FD:
            if (cmd != CMD_RUN)
                usage_error(usage, "%s is an option of 'sandlot run'",
                            c == O_STATUS_JSON ? "--status-json" : "--status-fd");
            if (c == O_STATUS_JSON)
                status_open_file(optarg);
            else
                status_use_fd(optarg);
            break;
        case O_ARGV:
            if (cmd != CMD_EXPLAIN)
                usage_error(usage, "--argv is an option of 'sandlot explain'");
            o->print_argv = true;
            break;
        case O_TIMEOUT: {
            double t;
            if (!parse_duration(optarg, &t) || !(t > 0) || t > 31536000.0)
                usage_error(usage, "--timeout: expected a positive duration up to a year, as "
                                   "timeout(1) takes it (2, 2s, 1.5m, 1h, 1d), got \"%s\"",
                            optarg);
            o->timeout = t;
            break;
        }
        case O_KILL_AFTER: {
            double t;
            if (!parse_duration(optarg, &t) || t < 0 || t > 31536000.0)
                usage_error(usage, "--kill-after: expected a duration up to a year, as "
                                   "timeout(1) takes it (0, 2, 2s, 1.5m), got \"%s\"", optarg);
            o->kill_after = t;
            break;
        }
        case O_PTY:
        case O_NO_PTY:
            if (cmd == CMD_EXPLAIN)
                usage_error(usage, "%s is an option of 'sandlot run' and 'sandlot repl'",
                            argv[optind - 1]);
            o->pty = c == O_PTY ? PTY_ON : PTY_OFF;
            break;
        case O_HOST_ID:
            if (!parse_host_id(optarg, &o->host_uid, &o->host_gid))
                usage_error(usage, "--host-id: expected UID or UID:GID, non-zero numbers below "
                                   "4294967295, got \"%s\"", optarg);
            break;
        case 'v': g_verbosity = 2; break;
        case 'q': g_verbosity = 0; break;
        case 'h':
            fputs(usage, stdout);
            fputs(usage_options, stdout);
            exit(0);
        case ':':
            usage_error(usage, "option %s needs an argument", argv[optind - 1]);
        default:
            usage_error(usage, "unknown option \"%s\"", argv[optind - 1]);
        }
    }
    o->cmd = argv + optind;
    if (cmd == CMD_RUN && !o->cmd[0])
        usage_error(usage, "missing command after --");
    if (cmd == CMD_REPL && o->cmd[0])
        usage_error(usage, "repl takes no command (use run{...} inside): \"%s\"", o->cmd[0]);
}

/* Path of the running binary (malloc'd), from /proc/self/exe. */
static char *self_path(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        die("cannot find the sandlot binary: readlink /proc/self/exe: %s", strerror(errno));
    buf[n] = '\0';
    return xstrdup(buf);
}

/*
 * The exec helper, where `make install` put it (BINDIR and LIBEXECDIR as
 * configured, compiled in): beside the binary in a build tree first (an
 * installed bin directory has no sandlot-exec), then LIBEXECDIR/sandlot
 * under the same root as the binary (DESTDIR, a staged or relocated
 * tree: the binary's directory ends in BINDIR), then LIBEXECDIR/sandlot
 * itself.  Returns a malloc'd path or NULL.
 */
static char *find_exec_helper(const char *self)
{
    char *dir = xstrdup(self);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    size_t dlen = strlen(dir), blen = strlen(SANDLOT_BINDIR);
    bool staged = blen > 0 && dlen >= blen && strcmp(dir + dlen - blen, SANDLOT_BINDIR) == 0;
    char *cands[] = {xasprintf("%s/sandlot-exec", dir),
                     staged ? xasprintf("%.*s%s/sandlot/sandlot-exec", (int)(dlen - blen), dir,
                                        SANDLOT_LIBEXECDIR)
                            : NULL,
                     xstrdup(SANDLOT_LIBEXECDIR "/sandlot/sandlot-exec")};
    char *found = NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        char real[PATH_MAX];
        struct stat st;
        if (!found && realpath(cands[i], real) && stat(real, &st) == 0 && S_ISREG(st.st_mode) &&
            access(real, X_OK) == 0)
            found = xstrdup(real);
        free(cands[i]);
    }
    free(dir);
    return found;
}

/*
 * SANDLOT_SOURCE_DIR replaces the Lua library and built-in policies, the
 * loader that runs /etc/sandlot/policies.d included, so it could bypass an
 * administrator's seals.  It is honoured only for a binary whose directory
 * the invoking user can write (a build tree): whoever can do that could
 * replace the binary anyway.  Returns the dir or NULL; dies when refused.
 */
static const char *dev_source_dir(const char *self)
{
    const char *dev = getenv("SANDLOT_SOURCE_DIR");
    if (!dev || !*dev)
        return NULL;
    if (dev[0] != '/')
        die("SANDLOT_SOURCE_DIR must be an absolute path, got \"%s\"", dev);
    char *dir = xstrdup(self);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    bool writable = access(dir, W_OK) == 0;
    if (!writable)
        die("SANDLOT_SOURCE_DIR is honoured only for a sandlot in a directory you can write (a "
            "build tree); %s is installed in %s", self, dir);
    free(dir);
    return dev;
}

/* The user layer: $XDG_CONFIG_HOME/sandlot/policies.d (an absolute one),
 * else ~/.config/sandlot/policies.d; NULL when neither is known.  Malloc'd. */
static char *user_policy_dir(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/sandlot/policies.d", xdg);
    if (home && home[0] == '/')
        return xasprintf("%s/.config/sandlot/policies.d", home);
    return NULL;
}

/*
 * Host paths that must never become writable inside (invariant 6): the
 * binary, its exec helper, the checkout it loads from, both policy layer
 * directories and each --policy script.  The C core owns this list: the
 * Lua layer gets it as opts.protected, and the final C check uses it.
 * Returns a NULL-terminated array of borrowed strings; free the array.
 */
static const char **protected_list(const char *self, const char *helper, const char *dev,
                                   const char *user_dir, const char *const *policies,
                                   size_t npolicies)
{
    const char **list = xcalloc(npolicies + 6, sizeof *list);
    size_t n = 0;
    list[n++] = self;
    if (helper)
        list[n++] = helper;
    if (dev)
        list[n++] = dev;
    list[n++] = SYSTEM_POLICY_DIR;
    if (user_dir)
        list[n++] = user_dir;
    for (size_t i = 0; i < npolicies; i++)
        list[n++] = policies[i];
    return list;
}

/* Read a JSON option's file, or die naming it. */
static char *read_option_file(const char *opt, const char *path)
{
    const char *err;
    char *text = read_whole_file(path, NULL, &err);
    if (!text)
        die("%s %s: cannot read: %s", opt, path, err);
    return text;
}

/* The backend a command uses, as a value: which, and whether auto chose it, why. */
struct backend_choice {
    enum backend kind;
    bool by_auto;   /* only a backend auto picked may fall back (native to bwrap) */
    char why[256];  /* auto's reason (explain, doctor); empty unless auto chose */
};

/*
 * auto: native where every layer it needs is available, else bwrap.
 * userns_ok is doctor's definitive test where it ran (1/0), else -1: the
 * sysctls decide, and a refused clone falls back to bwrap (launch.c).
 */
static void auto_backend(int userns_ok, struct backend_choice *c)
{
    char why[200];
    c->by_auto = true;
    if (userns_ok == 0) {
        c->kind = BACKEND_BWRAP;
        snprintf(c->why, sizeof c->why,
                 "auto picked bwrap: native is unavailable: this process cannot create user "
                 "namespaces");
    } else if (native_available(why, sizeof why)) {
        c->kind = BACKEND_NATIVE;
        snprintf(c->why, sizeof c->why, "auto picked native: %s", why);
    } else {
        c->kind = BACKEND_BWRAP;
        snprintf(c->why, sizeof c->why, "auto picked bwrap: native is unavailable: %s", why);
    }
}

/* Decide the backend from --isolate / SANDLOT_ISOLATION; dies on misuse. */
static void choose_backend(const struct opts *o, const char *usage, struct backend_choice *c)
{
    memset(c, 0, sizeof *c);
    const char *mode = o->isolate ? o->isolate : getenv("SANDLOT_ISOLATION");
    if (!mode || !*mode)
        mode = "auto";
    bool require = o->require_isolation || env_true("SANDLOT_REQUIRE_ISOLATION");
    if (strcmp(mode, "none") == 0) {
        if (require)
            die("--isolate none conflicts with --require-isolation (or "
                "SANDLOT_REQUIRE_ISOLATION=1): refusing to run unsandboxed");
        if (!o->unsafe_no_isolation)
            fprintf(stderr, "sandlot: WARNING: --isolate none: the command runs UNSANDBOXED "
                            "with your full privileges (only the environment is filtered); "
                            "pass --unsafe-no-isolation to confirm this is intended\n");
        if (o->pty == PTY_ON)
            usage_error(usage, "--pty needs a sandbox to make the terminal in: with --isolate "
                               "none the command gets sandlot's descriptors as they are");
        c->kind = BACKEND_NONE;
    } else if (strcmp(mode, "auto") == 0) {
        auto_backend(-1, c);
    } else if (strcmp(mode, "bwrap") == 0) {
        c->kind = BACKEND_BWRAP;
    } else if (strcmp(mode, "native") == 0) {
        char why[200];
        if (!native_available(why, sizeof why))
            die("--isolate native: %s; use --isolate bwrap (or auto, which picks bwrap here)",
                why);
        c->kind = BACKEND_NATIVE;
    } else {
        usage_error(usage, "unknown isolation mode \"%s\" (expected auto, native, bwrap or none)",
                    mode);
    }
    if (!c->by_auto)
        snprintf(c->why, sizeof c->why, "asked for with %s",
                 o->isolate ? "--isolate" : "SANDLOT_ISOLATION");
}

static char *require_bwrap(void)
{
    struct sl_err e;
    char *bw = launch_find_bwrap(&e);
    if (!bw)
        die("%s", e.msg);
    return bw;
}

/* bwrap runs need the exec helper (found next to sandlot, or in ../libexec). */
static void require_helper(const char *helper)
{
    if (!helper)
        die("%s", launch_no_helper);
}

/* One `run` or `explain --argv`: what the stage needs once the policy is built. */
struct stage_run {
    const struct opts *o;
    const struct launch_opts *lo;
    const char *bwrap_path;      /* explain --argv: argv[0] */
    struct status_report report; /* run: assembled as the stage goes */
    double started;
};

/* die() before the command started: the report says why. */
static void report_setup_error(const char *msg, void *arg)
{
    struct stage_run *sr = arg;
    sr->report.class = "setup_error";
    sr->report.status = EXIT_SANDLOT;
    sr->report.message = msg;
    sr->report.setup_seconds = monotonic_seconds() - sr->started;
    status_write(&sr->report);
}

/* explain --argv: runnable NUL-terminated words (xargs -0), no exec helper.  Values
 * passed through from the host are left out: explain never prints one. */
static int print_argv(void *ctx, const struct lua_built *b)
{
    const struct stage_run *sr = ctx;
    struct cmdline c;
    struct plan pl;
    struct bwrap_inputs in = {BWRAP_ARGV, sr->bwrap_path, -1, -1, -1, NULL, NULL, -1, -1, 0};
    plan_build(b->policy, &pl);
    bwrap_build(&pl, &in, sr->o->cmd, &c);
    plan_free(&pl);
    for (size_t i = 0; i < c.nwords; i++)
        fwrite(c.words[i], 1, strlen(c.words[i]) + 1, stdout);
    cmdline_free(&c);
    fflush(stdout);
    return 0;
}

/* run: launch the stage through the gate, then write the status report. */
static int run_stage(void *ctx, const struct lua_built *b)
{
    struct stage_run *sr = ctx;
    struct status_report *r = &sr->report;
    r->stage = b->stage;
    if (b->sha256)
        memcpy(r->policy_sha256, b->sha256, sizeof r->policy_sha256);
    struct run_result res;
    double built = monotonic_seconds();
    verbose("policy built in %.1f ms (policy sha256 %s)", (built - sr->started) * 1e3,
            b->sha256 ? b->sha256 : "?");
    int status = launch(b->policy, sr->lo, sr->o->cmd, &res);
    if (res.ready > 0)
        verbose("sandbox set up in %.1f ms; the command ran %.3f s and ended: %s, status %d",
                (res.ready - built) * 1e3, res.ended - res.ready, res.class, status);
    r->backend = res.backend;
    r->class = res.class;
    r->status = status;
    r->exit_code = res.exit_code;
    r->signal = res.signal;
    double ready = res.ready > 0 ? res.ready : res.ended;
    r->setup_seconds = ready - sr->started;
    r->command_seconds = res.ready > 0 ? res.ended - res.ready : 0;
    if (strcmp(res.class, "setup_error") == 0)
        r->message = res.message[0] ? res.message : "the sandbox could not be set up (see stderr)";
    r->egress = res.egress;
    die_hook = NULL;
    status_write(r);
    r->egress = NULL;
    free(res.egress);
    return status;
}

/* explain's first lines: the backend, and auto's reason. */
static char *explain_header(const struct backend_choice *be, const char *bw)
{
    const char *what =
        be->kind == BACKEND_NONE     ? "none (UNSANDBOXED; the bwrap command below is not used)"
        : be->kind == BACKEND_NATIVE ? "native (sandlot itself, no bwrap): the steps it takes, "
                                       "in order"
        : bw                         ? bw
                                     : "bwrap (NOT FOUND: run would fail)";
    return be->by_auto ? xasprintf("# backend: %s\n# %s\n", what, be->why)
                       : xasprintf("# backend: %s\n", what);
}

/*
 * run, explain or repl with parsed options (parse_opts', or another
 * front end's mapped onto them); started: when sandlot started, for the
 * status report.  *setup_error (if not NULL): the sandbox could not be
 * set up, nothing ran.
 */
static int stage_main(enum command cmd, const struct opts *op, double started, bool *setup_error)
{
    struct opts o = *op;
    struct stage_run sr = {.o = &o, .report = {.class = "setup_error", .status = EXIT_SANDLOT}};
    sr.started = started;
    sr.report.stage = o.stage; /* the name given, even when the setup fails */
    if (status_wanted()) {
        die_hook = report_setup_error;
        die_hook_arg = &sr;
    }
    struct backend_choice be;
    choose_backend(&o, cmd == CMD_RUN    ? usage_run
                       : cmd == CMD_REPL ? usage_repl
                                         : usage_explain, &be);
    char *bw = NULL;
    char *self = self_path();
    /*
     * The helper belongs to the installation whatever the backend: it is
     * looked up every time so the protected list (invariant 6) holds it, and
     * a native or explain run checks the same invariants as a bwrap run.
     */
    char *helper = find_exec_helper(self);
    if (be.kind == BACKEND_BWRAP && cmd == CMD_RUN) {
        bw = require_bwrap();
        require_helper(helper);
    } else if (cmd != CMD_RUN) {
        /* the REPL works without it (run{} says what is missing); explain names it */
        bool from_path;
        if (be.kind == BACKEND_BWRAP || cmd == CMD_EXPLAIN)
            bw = bwrap_find(getenv("PATH"), &from_path);
    }
    const char *dev = dev_source_dir(self);
    char *user_dir = user_policy_dir();
    const char **protected_paths =
        protected_list(self, helper, dev, user_dir, o.policies, o.npolicies);
    char *effects_json = o.effects_json ? read_option_file("--effects-json", o.effects_json)
                                        : NULL;
    char *policy_json = o.policy_json_text  ? xstrdup(o.policy_json_text)
                        : o.policy_json ? read_option_file("--policy-json", o.policy_json)
                                        : NULL;
    char *effects_json_name = o.effects_json ? xasprintf("--effects-json %s", o.effects_json)
                                             : NULL;
    char *policy_json_name =
        o.policy_json_text ? xstrdup(o.policy_json_label)
        : o.policy_json    ? xasprintf("policy-json:%s", strcmp(o.policy_json, "-") ? o.policy_json
                                                                                : "stdin")
                           : NULL;
    struct launch_opts lo = {be.kind,   be.by_auto,   bw,         helper,    protected_paths,
                             o.timeout, o.kill_after, o.host_uid, o.host_gid, o.pty};
    sr.lo = &lo;
    sr.bwrap_path = bw ? bw : "bwrap";
    if (cmd == CMD_RUN)
        verbose("backend %s%s%s: %s", backend_name(be.kind), bw ? " " : "", bw ? bw : "",
                be.why);
    sr.report.backend = backend_name(be.kind);
    char banner[160];
    snprintf(banner, sizeof banner, "sandlot %s repl (%s): help() lists the helpers, "
             "Ctrl-D leaves", SANDLOT_VERSION, lua_main_release());
    char *header = cmd == CMD_EXPLAIN ? explain_header(&be, bw) : NULL;

    struct lua_front f = {
        .task = cmd == CMD_REPL      ? LUA_TASK_REPL
                : cmd == CMD_RUN     ? LUA_TASK_POLICY
                : o.print_argv       ? LUA_TASK_POLICY
                : o.json             ? LUA_TASK_JSON
                                     : LUA_TASK_EXPLAIN,
        .dev_dir = dev,
        .system_dir = SYSTEM_POLICY_DIR,
        .user_dir = user_dir,
        .protected_paths = protected_paths,
        .stage = {o.effects, o.neffects, effects_json, effects_json_name, policy_json,
                  policy_json_name, o.policies, o.npolicies, o.stage, o.work, o.env, o.nenv, o.cmd,
                  !o.no_system_policies},
        .check_invariants = cmd != CMD_RUN, /* a run: launch() is the gate */
        .backend = backend_name(be.kind == BACKEND_NATIVE ? BACKEND_NATIVE : BACKEND_BWRAP),
        .bwrap_path = bw,
        .explain_header = header,
        .banner = banner,
        .launch = &lo,
        .want_hash = cmd == CMD_RUN && (status_wanted() || g_verbosity >= 2),
        .with_policy = cmd == CMD_RUN ? run_stage : print_argv,
        .ctx = &sr,
    };
    char *error = NULL;
    if (cmd == CMD_RUN)
        fflush(NULL);
    int status = lua_main(&f, &error);
    if (status < 0)
        die("%s", error);
    if (setup_error)
        *setup_error = strcmp(sr.report.class, "setup_error") == 0;
    free(header);
    free(effects_json);
    free(policy_json);
    free(effects_json_name);
    free(policy_json_name);
    free(protected_paths);
    free(user_dir);
    free(bw);
    free(helper);
    free(self);
    return status;
}

static int cmd_run_or_explain(int argc, char **argv, enum command cmd)
{
    double started = monotonic_seconds();
    struct opts o;
    parse_opts(argc, argv, cmd, &o);
    int status = stage_main(cmd, &o, started, NULL);
    free(o.effects);
    free(o.policies);
    free(o.env);
    return status;
}

/*
 * The noether-sandbox personality: noether's binary of that name
 * (crates/noether-sandbox), its arguments, environment and exit statuses,
 * mapped onto `sandlot run`.  Its own errors exit 2, as noether's do.
 */
#define NOETHER_POLICY_MAX ((size_t)1 << 20)
static const char usage_noether[] =
    "usage: noether-sandbox [--isolate=auto|bwrap|none] [--require-isolation]\n"
    "                       [--policy-file PATH] -- COMMAND [ARG...]\n"
    "Run COMMAND in a sandbox built from a noether IsolationPolicy JSON: read from\n"
    "standard input (at most 1 MiB; COMMAND then inherits the drained input), or\n"
    "from PATH with --policy-file (COMMAND then gets standard input).  An empty\n"
    "policy is noether's default, the pure effect's.  --isolate MODE also works;\n"
    "environment: NOETHER_ISOLATION, NOETHER_REQUIRE_ISOLATION=1.\n"
    "Exit status: COMMAND's, 128+N when it died of signal N, 127 not found, 126 not\n"
    "executable, 2 for an argument or policy error or a sandbox that cannot be set\n"
    "up (nothing ran).\n"
    "This is sandlot (sandlot noether-sandbox ...), not noether's binary.  It differs:\n"
    "auto never runs COMMAND unsandboxed: with no usable sandbox it exits 2 and says\n"
    "why; --isolate=native is accepted too; sandlot's system policy layers, seals and\n"
    "invariants still apply (read-only root, LD_* refused, binds never follow links:\n"
    "the host's merged-usr links are recreated as links).\n";

static void noether_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
__attribute__((noreturn)) static void noether_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("noether-sandbox: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fputs(usage_noether, stderr);
    exit(2);
}

/* die() in the personality: the message is out, the status is noether's. */
static void noether_die(const char *msg, void *arg)
{
    (void)msg;
    (void)arg;
    exit(2);
}

/* The policy text: PATH, or standard input up to NOETHER_POLICY_MAX. */
static char *noether_policy(const char *path)
{
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0)
        noether_error("--policy-file %s: %s", path, strerror(errno));
    char *buf = xmalloc(NOETHER_POLICY_MAX + 2);
    size_t n = 0;
    while (n <= NOETHER_POLICY_MAX) {
        ssize_t r = read(fd, buf + n, NOETHER_POLICY_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            noether_error("reading the policy from %s: %s", path ? path : "stdin",
                          strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (path)
        close(fd);
    if (n > NOETHER_POLICY_MAX)
        noether_error("the policy on %s is larger than 1 MiB", path ? path : "stdin");
    if (memchr(buf, '\0', n))
        noether_error("the policy on %s contains a NUL byte", path ? path : "stdin");
    buf[n] = '\0';
    return buf;
}

static int cmd_noether(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    o.kill_after = KILL_AFTER_DEFAULT;
    double started = monotonic_seconds();
    const char *isolate = getenv("NOETHER_ISOLATION"), *policy_file = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--isolate=", 10) == 0)
            isolate = a + 10;
        else if (strcmp(a, "--isolate") == 0 && i + 1 < argc)
            isolate = argv[++i];
        else if (strncmp(a, "--policy-file=", 14) == 0)
            policy_file = a + 14;
        else if (strcmp(a, "--policy-file") == 0 && i + 1 < argc)
            policy_file = argv[++i];
        else if (strcmp(a, "--require-isolation") == 0)
            o.require_isolation = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_noether, stdout);
            return 0;
        } else if (strcmp(a, "--isolate") == 0 || strcmp(a, "--policy-file") == 0)
            noether_error("missing value for %s", a);
        else
            noether_error("unknown argument `%s` before `--`", a);
    }
    if (i == argc)
        noether_error("missing `--` separator before the command");
    o.cmd = argv + i + 1;
    if (!o.cmd[0])
        noether_error("empty inner command after `--`");
    if (!isolate || !*isolate)
        isolate = "auto";
    if (strcmp(isolate, "auto") && strcmp(isolate, "bwrap") && strcmp(isolate, "none") &&
        strcmp(isolate, "native"))
        noether_error("unknown isolation mode \"%s\" (expected auto, bwrap or none; or native)",
                      isolate);
    o.isolate = isolate;
    o.unsafe_no_isolation = true; /* none is the caller's explicit choice, as in noether */
    o.require_isolation = o.require_isolation || env_true("NOETHER_REQUIRE_ISOLATION");
    char *text = noether_policy(policy_file);
    size_t blank = strspn(text, " \t\r\n");
    char *label = NULL;
    if (text[blank] == '\0') {
        /* noether: IsolationPolicy::from_effects(&EffectSet::pure()) */
        o.effects = push_str(o.effects, &o.neffects, "pure");
    } else {
        label = policy_file ? xasprintf("policy-file:%s", policy_file) : xstrdup("policy:stdin");
        o.policy_json_text = text;
        o.policy_json_label = label;
    }
    die_hook = noether_die;
    bool setup_error;
    int status = stage_main(CMD_RUN, &o, started, &setup_error);
    free(text);
    free(label);
    free(o.effects);
    /* the sandbox could not be set up: nothing ran, noether's status for that */
    return setup_error ? 2 : status;
}

static int cmd_check(int argc, char **argv)
{
    enum { O_EFFECTS_JSON = 256 };
    static const struct option longopts[] = {
        {"effects", required_argument, NULL, 'e'},
        {"effects-json", required_argument, NULL, O_EFFECTS_JSON},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct lua_stage *stages = NULL;
    size_t nstages = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "+:e:vqh", longopts, NULL)) != -1;) {
        if (c == 'h') {
            fputs(usage_check, stdout);
            return 0;
        }
        if (c == 'v' || c == 'q') {
            g_verbosity = c == 'v' ? 2 : 0;
            continue;
        }
        if (c == ':')
            usage_error(usage_check, "%s needs a value", argv[optind - 1]);
        if (c != 'e' && c != O_EFFECTS_JSON)
            usage_error(usage_check, "unknown option %s", argv[optind - 1]);
        stages = xrealloc(stages, (nstages + 1) * sizeof *stages);
        struct lua_stage *st = &stages[nstages++];
        memset(st, 0, sizeof *st);
        if (c == 'e') {
            st->effects = (const char *const *)&argv[optind - 1];
            st->neffects = 1;
        } else {
            st->effects_json = read_option_file("--effects-json", optarg);
            st->effects_json_name = xasprintf("--effects-json %s", optarg);
        }
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    if (optind >= argc)
        usage_error(usage_check, "check needs at least one policy script");
    char *self = self_path();
    const char *dev = dev_source_dir(self);
    char *user_dir = user_policy_dir();
    /* check runs each script against sample stages that may write where it
     * lives: the scripts themselves are not in this list */
    const char **protected_paths = protected_list(self, NULL, dev, user_dir, NULL, 0);
    struct lua_front f = {.task = LUA_TASK_CHECK,
                          .dev_dir = dev,
                          .system_dir = SYSTEM_POLICY_DIR,
                          .user_dir = user_dir,
                          .protected_paths = protected_paths,
                          .check_files = argv + optind,
                          .check_stages = stages,
                          .ncheck_stages = nstages};
    char *error = NULL;
    int status = lua_main(&f, &error);
    if (status < 0)
        die("%s", error);
    for (size_t i = 0; i < nstages; i++) {
        free((char *)stages[i].effects_json);
        free((char *)stages[i].effects_json_name);
    }
    free(stages);
    free(protected_paths);
    free(user_dir);
    free(self);
    return status;
}

/* sandlot doctor [--json]: exit 0 when every required check passes, else 1. */
static int cmd_doctor(int argc, char **argv)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        puts("usage: sandlot doctor [--json]\nReport what this host offers a sandbox (bwrap, "
             "user namespaces, seccomp,\nLandlock, cgroup v2 delegation) and how to close each "
             "gap.  Exit status 1\nwhen a required check fails.");
        return 0;
    }
    if (argc > (json ? 2 : 1))
        usage_error("usage: sandlot doctor [--json]\n", "unknown argument \"%s\"",
                    argv[json ? 2 : 1]);
    struct check c[CHECK_COUNT + 1];
    doctor_run(c);
    char *self = self_path();
    char *helper = find_exec_helper(self);
    doctor_helper(&c[CHECK_COUNT], helper);
    free(helper);
    free(self);
    const int nchecks = CHECK_COUNT + 1;
    struct backend_choice auto_be;
    auto_backend(c[CHECK_USERNS].ok, &auto_be);
    enum backend be = auto_be.kind;
    /* the native backend needs no bwrap: then its absence is a gap, not a failure */
    if (be == BACKEND_NATIVE)
        c[CHECK_BWRAP].required = false;
    bool usable = true;
    for (int i = 0; i < nchecks; i++)
        usable = usable && (c[i].ok || !c[i].required);
    const char *auto_name = usable ? backend_name(be) : NULL;
    if (json) {
        printf("{\"usable\":%s,\"auto_backend\":%s%s%s,\"auto_reason\":",
               usable ? "true" : "false", auto_name ? "\"" : "", auto_name ? auto_name : "null",
               auto_name ? "\"" : "");
        json_write_str(stdout, auto_be.why);
        printf(",\"checks\":[");
        for (int i = 0; i < nchecks; i++) {
            printf("%s{\"name\":\"%s\",\"ok\":%s,\"required\":%s,\"detail\":", i ? "," : "",
                   c[i].name, c[i].ok ? "true" : "false", c[i].required ? "true" : "false");
            json_write_str(stdout, c[i].detail);
            printf(",\"fix\":");
            json_write_str(stdout, c[i].fix);
            putchar('}');
        }
        puts("]}");
    } else {
        for (int i = 0; i < nchecks; i++) {
            printf("%-5s %-9s %s\n", c[i].ok ? "ok" : c[i].required ? "FAIL" : "gap", c[i].name,
                   c[i].detail);
            if (!c[i].ok)
                printf("      %-9s fix: %s\n", "", c[i].fix);
        }
        if (usable)
            printf("auto backend: %s (%s)\n", auto_name, auto_be.why);
        else
            printf("auto backend: none available: run would exit 125 (%s)\n", auto_be.why);
    }
    return usable ? 0 : 1;
}

/*
 * sandlot version: the version, the Lua release, and the backends this host
 * offers, from doctor's checks (a user-namespace test, bwrap --version):
 * one line each, "native:" and "bwrap:" saying available or why not, then
 * the backend auto would pick.  `sandlot doctor` tells how to close a gap.
 */
static int cmd_version(int argc, char **argv)
{
    static const char usage[] = "usage: sandlot version\n";
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage, stdout);
        puts("Print the version, the Lua release and the backends this host offers.");
        return 0;
    }
    if (argc > 1)
        usage_error(usage, "unknown argument \"%s\"", argv[1]);
    struct check c[CHECK_COUNT];
    doctor_run(c);
    char why[sizeof c[0].detail];
    bool native = c[CHECK_USERNS].ok && native_available(why, sizeof why);
    if (!c[CHECK_USERNS].ok)
        snprintf(why, sizeof why, "%s", c[CHECK_USERNS].detail);
    printf("sandlot %s\n%s\n", SANDLOT_VERSION, lua_main_release());
    printf("native: %s (%s)\n", native ? "available" : "unavailable", why);
    printf("bwrap:  %s%s\n", c[CHECK_BWRAP].ok ? "available: " : "unavailable: ",
           c[CHECK_BWRAP].detail);
    if (native || c[CHECK_BWRAP].ok)
        printf("auto:   %s\n", native ? "native" : "bwrap");
    else
        printf("auto:   none: run would exit 125 (see sandlot doctor)\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (argc > 0 && strcmp(base ? base + 1 : argv[0], "noether-sandbox") == 0)
        return cmd_noether(argc, argv);
    if (argc < 2)
        usage_error(usage_main, "missing command");
    const char *c = argv[1];
    if (strcmp(c, "run") == 0)
        return cmd_run_or_explain(argc - 1, argv + 1, CMD_RUN);
    if (strcmp(c, "explain") == 0)
        return cmd_run_or_explain(argc - 1, argv + 1, CMD_EXPLAIN);
    if (strcmp(c, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(c, "repl") == 0)
        return cmd_run_or_explain(argc - 1, argv + 1, CMD_REPL);
    if (strcmp(c, "doctor") == 0)
        return cmd_doctor(argc - 1, argv + 1);
    if (strcmp(c, "noether-sandbox") == 0)
        return cmd_noether(argc - 1, argv + 1);
    if (strcmp(c, "version") == 0 || strcmp(c, "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (strcmp(c, "help") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    usage_error(usage_main, "unknown command \"%s\"", c);
}
