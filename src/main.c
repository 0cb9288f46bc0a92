/*
 * main.c: the command line.  Parses options, asks the Lua layer for the
 * policy, checks the invariants once more in C, then explains or runs.
 * Every failure before the command starts exits 125 and runs nothing.
 */

#include "bwrap.h"
#include "doctor.h"
#include "lua_vm.h"
#include "native.h"
#include "policy.h"
#include "repl.h"
#include "run.h"
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#ifndef SANDLOT_SYSCONFDIR
#define SANDLOT_SYSCONFDIR "/etc"
#endif
#define SYSTEM_POLICY_DIR SANDLOT_SYSCONFDIR "/sandlot/policies.d"

#ifndef SANDLOT_VERSION
#define SANDLOT_VERSION "0.1.0"
#endif

/* Budget of one policy evaluation (all layers of one stage). */
#define POLICY_INSTRUCTIONS 100000000LL
#define POLICY_SECONDS 1.0
#define POLICY_WATCHDOG 2u
#define POLICY_MEMORY ((size_t)SANDLOT_POLICY_MEMORY_MIB << 20)

struct policy *lua_core_policy(lua_State *L, int idx);

enum command { CMD_RUN, CMD_EXPLAIN, CMD_CHECK, CMD_REPL };

struct opts {
    const char **effects;
    size_t neffects;
    const char *effects_json;
    const char **policies;
    size_t npolicies;
    const char *policy_json;
    const char *policy_json_text, *policy_json_label; /* noether-sandbox: read already */
    const char *stage;
    const char *work;
    const char *isolate;
    bool require_isolation, unsafe_no_isolation, no_system_policies, json, print_argv;
    double timeout;
    unsigned host_uid, host_gid; /* --host-id; 0: the default */
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
    "      --policy-json FILE|-   a noether IsolationPolicy (replaces the effect mapping)\n"
    "      --stage NAME           stage name, visible to scripts\n"
    "      --work DIR             bind host DIR at /work instead of a private tmpfs\n"
    "      --isolate MODE         auto|native|bwrap|none   (env SANDLOT_ISOLATION)\n"
    "      --require-isolation    refuse to run unsandboxed (env SANDLOT_REQUIRE_ISOLATION=1)\n"
    "      --unsafe-no-isolation  confirm --isolate none (else it warns loudly)\n"
    "      --timeout DURATION     kill the sandbox after DURATION (2, 2s, 1.5m, 1h), exit 124\n"
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
    "  check   FILE...                         check policy scripts against sample stages\n"
    "  doctor  [--json]                        what this host offers a sandbox, and fixes\n"
    "  noether-sandbox [...] -- COMMAND        noether's sandbox binary, its protocol\n"
    "  version                                 print the version\n"
    "\n"
    "'sandlot COMMAND --help' describes each command.  Exit status: the command's own,\n"
    "128+N when it died of signal N, 124 timeout, 125 sandlot failed (nothing ran),\n"
    "126 not executable, 127 not found.\n";
static const char usage_check[] =
    "usage: sandlot check FILE...\n"
    "Load each policy script after the built-in layer against sample stages and\n"
    "report every error.  Exit status 0 when all are clean, 1 otherwise.\n";

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
           O_TIMEOUT, O_NO_SYSTEM, O_JSON, O_ARGV, O_STATUS_JSON, O_STATUS_FD, O_HOST_ID };
    static const struct option longopts[] = {
        {"effects", required_argument, NULL, 'e'},
        {"effects-json", required_argument, NULL, O_EFFECTS_JSON},
        {"policy", required_argument, NULL, 'p'},
        {"policy-json", required_argument, NULL, O_POLICY_JSON},
        {"stage", required_argument, NULL, O_STAGE},
        {"work", required_argument, NULL, O_WORK},
        {"isolate", required_argument, NULL, O_ISOLATE},
        {"require-isolation", no_argument, NULL, O_REQUIRE},
        {"unsafe-no-isolation", no_argument, NULL, O_UNSAFE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"host-id", required_argument, NULL, O_HOST_ID},
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
    opterr = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "+:e:p:vqh", longopts, NULL)) != -1;) {
        switch (c) {
        case 'e': o->effects = push_str(o->effects, &o->neffects, optarg); break;
        case 'p': o->policies = push_str(o->policies, &o->npolicies, optarg); break;
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
                usage_error(usage, "%s is an option of 'sandlot run'", argv[optind - 1]);
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

/* Directory of the running binary (malloc'd), from /proc/self/exe. */
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
 * The exec helper: installed under PREFIX/libexec/sandlot, or beside the
 * binary in a build tree.  Returns a malloc'd path or NULL.
 */
static char *find_exec_helper(const char *self)
{
    char *dir = xstrdup(self);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    char *cands[] = {xasprintf("%s/../libexec/sandlot/sandlot-exec", dir),
                     xasprintf("%s/sandlot-exec", dir)};
    char *found = NULL;
    for (size_t i = 0; i < 2; i++) {
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

static void set_str(lua_State *L, const char *key, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, key);
    }
}

static void set_list(lua_State *L, const char *key, const char *const *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, key);
}

/* Push require(module)[field] or die. */
static void push_module_fn(lua_State *L, const char *module, const char *field)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (vm_pcall(L, 1, 1) != LUA_OK)
        die("loading the built-in Lua library: %s", lua_tostring(L, -1));
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
}

static void push_sandlot_fn(lua_State *L, const char *field)
{
    push_module_fn(L, "sandlot", field);
}

/*
 * Set opts.system_dir, opts.user_dir and opts.protected (protected_list's)
 * on the table on top.
 */
static void set_layers(lua_State *L, const char *const *protected_paths)
{
    size_t n = 0;
    while (protected_paths[n])
        n++;
    set_list(L, "protected", protected_paths, n);
    set_str(L, "system_dir", SYSTEM_POLICY_DIR);
    char *user_dir = user_policy_dir();
    set_str(L, "user_dir", user_dir);
    free(user_dir);
}

/* Push the options table the Lua build() takes. */
static void push_build_opts(lua_State *L, const struct opts *o, const char *const *protected_paths)
{
    lua_newtable(L);
    set_list(L, "effects", o->effects, o->neffects);
    set_list(L, "policy_files", o->policies, o->npolicies);
    if (o->effects_json) {
        char *t = read_option_file("--effects-json", o->effects_json);
        lua_pushstring(L, t);
        free(t);
        lua_setfield(L, -2, "effects_json");
        lua_pushfstring(L, "--effects-json %s", o->effects_json);
        lua_setfield(L, -2, "effects_json_name");
    }
    if (o->policy_json) {
        char *t = read_option_file("--policy-json", o->policy_json);
        lua_pushstring(L, t);
        free(t);
        lua_setfield(L, -2, "policy_json");
        lua_pushfstring(L, "policy-json:%s", strcmp(o->policy_json, "-") ? o->policy_json
                                                                          : "stdin");
        lua_setfield(L, -2, "policy_json_name");
    }
    if (o->policy_json_text) {
        set_str(L, "policy_json", o->policy_json_text);
        set_str(L, "policy_json_name", o->policy_json_label);
    }
    set_str(L, "stage", o->stage);
    set_str(L, "work", o->work);
    size_t n = 0;
    for (char **a = o->cmd; a && *a; a++)
        n++;
    set_list(L, "argv", (const char *const *)o->cmd, n);
    lua_pushboolean(L, !o->no_system_policies);
    lua_setfield(L, -2, "system_policies");
    set_layers(L, protected_paths);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, getuid());
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, geteuid());
    lua_setfield(L, -2, "euid");
    lua_setfield(L, -2, "ids");
    lua_pushboolean(L, g_verbosity >= 2);
    lua_setfield(L, -2, "verbose");
}

/* Call the function below nargs args under the policy budget; die on error. */
static void budgeted_call(lua_State *L, int nargs, int nresults)
{
    vm_set_memory_limit(L, POLICY_MEMORY);
    vm_budget_start(L, POLICY_INSTRUCTIONS, POLICY_SECONDS, POLICY_WATCHDOG);
    int st = vm_pcall(L, nargs, nresults);
    vm_budget_stop(L);
    vm_set_memory_limit(L, 0);
    if (st != LUA_OK)
        die("%s", lua_tostring(L, -1));
}

enum backend { BACKEND_BWRAP, BACKEND_NATIVE, BACKEND_NONE };

/* Why auto picked its backend (for explain and doctor); empty unless auto chose. */
static char auto_why[256];

/* Only a backend auto picked may fall back (native to bwrap); an explicit one never does. */
static bool picked_by_auto(void)
{
    return auto_why[0] != '\0';
}

/*
 * auto: native where every layer it needs is available, else bwrap.
 * userns_ok is doctor's definitive test where it ran (1/0), else -1: the
 * sysctls decide, and a refused clone falls back to bwrap (run_native).
 */
static enum backend auto_backend(int userns_ok)
{
    char why[200];
    if (userns_ok == 0) {
        snprintf(auto_why, sizeof auto_why,
                 "auto picked bwrap: native is unavailable: this process cannot create user "
                 "namespaces");
        return BACKEND_BWRAP;
    }
    if (native_available(why, sizeof why)) {
        snprintf(auto_why, sizeof auto_why, "auto picked native: %s", why);
        return BACKEND_NATIVE;
    }
    snprintf(auto_why, sizeof auto_why, "auto picked bwrap: native is unavailable: %s", why);
    return BACKEND_BWRAP;
}

static const char *backend_name(enum backend be)
{
    return be == BACKEND_NATIVE ? "native" : be == BACKEND_BWRAP ? "bwrap" : "none";
}

/* Decide the backend from --isolate / SANDLOT_ISOLATION; dies on misuse. */
static enum backend choose_backend(const struct opts *o, const char *usage)
{
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
        return BACKEND_NONE;
    }
    if (strcmp(mode, "auto") == 0)
        return auto_backend(-1);
    if (strcmp(mode, "bwrap") == 0)
        return BACKEND_BWRAP;
    if (strcmp(mode, "native") == 0) {
        char why[200];
        if (!native_available(why, sizeof why))
            die("--isolate native: %s; use --isolate bwrap (or auto, which picks bwrap here)",
                why);
        return BACKEND_NATIVE;
    }
    usage_error(usage, "unknown isolation mode \"%s\" (expected auto, native, bwrap or none)",
                mode);
}

static char *require_bwrap(void)
{
    bool from_path;
    char *bw = bwrap_find(getenv("PATH"), &from_path);
    if (!bw)
        die("bwrap (bubblewrap) not found in /usr/bin, /usr/local/bin, the Nix profiles or PATH; "
            "install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
            "bubblewrap); sandlot never falls back to running unsandboxed");
    if (from_path)
        warnx_("bwrap found through PATH at %s, not in a root-owned location; a writable PATH "
               "entry could replace the sandbox", bw);
    return bw;
}

/* bwrap runs need the exec helper (found next to sandlot, or in ../libexec). */
static void require_helper(const char *helper)
{
    if (!helper)
        die("the exec helper sandlot-exec was not found next to sandlot or in "
            "../libexec/sandlot; reinstall sandlot");
}

/*
 * Print what `explain` shows for the policy at -2 (report at -1): the
 * noether JSON, or the bwrap command with the origin of every flag.
 * *bw is looked up (and kept for the caller to free) when not known yet.
 */
static void print_explain(lua_State *L, const struct policy *p, const struct opts *o,
                          enum backend be, char **bw)
{
    if (!*bw) {
        bool from_path;
        *bw = bwrap_find(getenv("PATH"), &from_path);
    }
    if (o->print_argv) {
        /* Runnable: NUL-terminated words (xargs -0), no exec helper.  Values
         * passed through from the host are left out: explain never prints one. */
        struct cmdline c;
        struct bwrap_inputs in = {*bw ? *bw : "bwrap", -1, -1, -1, NULL, -1, NULL};
        bwrap_build(p, &in, o->cmd, &c);
        for (size_t i = 0; i < c.nwords; i++)
            fwrite(c.words[i], 1, strlen(c.words[i]) + 1, stdout);
        cmdline_free(&c);
        fflush(stdout);
        return;
    }
    if (o->json) {
        push_module_fn(L, "sandlot.noether", "export");
        lua_pushvalue(L, -3); /* the policy */
        if (vm_pcall(L, 1, 1) != LUA_OK)
            die("%s", lua_tostring(L, -1));
        printf("%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        fflush(stdout);
        return;
    }
    if (be == BACKEND_NONE)
        printf("# backend: none (UNSANDBOXED; the bwrap command below is not used)\n");
    else if (be == BACKEND_NATIVE)
        printf("# backend: native (sandlot itself, no bwrap): the steps it takes, in order\n");
    else
        printf("# backend: %s\n", *bw ? *bw : "bwrap (NOT FOUND: run would fail)");
    if (picked_by_auto())
        printf("# %s\n", auto_why);
    push_sandlot_fn(L, "explain_text");
    lua_pushvalue(L, -3); /* the policy */
    lua_newtable(L);
    for (int i = 0; o->cmd[i]; i++) {
        lua_pushstring(L, o->cmd[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, backend_name(be == BACKEND_NATIVE ? BACKEND_NATIVE : BACKEND_BWRAP));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, *bw ? *bw : "bwrap");
    lua_setfield(L, -2, "bwrap");
    lua_pushvalue(L, -5); /* the report */
    if (vm_pcall(L, 4, 1) != LUA_OK)
        die("%s", lua_tostring(L, -1));
    fputs(lua_tostring(L, -1), stdout);
    lua_pop(L, 1);
    fflush(stdout);
}

/* The status report being assembled for this run. */
static struct status_report report = {.class = "setup_error", .status = EXIT_SANDLOT};
static double started;

/* die() before the command started: the report says why. */
static void report_setup_error(const char *msg)
{
    report.class = "setup_error";
    report.status = EXIT_SANDLOT;
    report.message = msg;
    report.setup_seconds = monotonic_seconds() - started;
    status_write(&report);
}

/* sha256 of the effective policy: its canonical JSON (policy at idx). */
static void hash_policy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    push_module_fn(L, "sandlot.noether", "export");
    lua_pushvalue(L, idx);
    if (vm_pcall(L, 1, 1) != LUA_OK)
        die("%s", lua_tostring(L, -1));
    size_t len;
    const char *json = lua_tolstring(L, -1, &len);
    sha256_hex(json, len, report.policy_sha256);
    lua_pop(L, 1);
}

/* Run cmd with the backend chosen. */
static int launch(enum backend be, const struct policy *p, const struct run_opts *ro,
                  char *const *cmd, struct run_result *res)
{
    switch (be) {
    case BACKEND_NONE: return run_unsandboxed(p, ro, cmd, res);
    case BACKEND_NATIVE: {
        int st = run_native(p, ro, cmd, res);
        if (st != -1)
            return st;
        /* auto's native was refused by the kernel before anything ran: bwrap then */
        verbose("auto: the kernel refused the native backend's namespaces; using bwrap");
        report.backend = "bwrap";
        require_helper(ro->exec_helper);
        struct run_opts bro = *ro;
        bro.bwrap_path = require_bwrap();
        st = run_bwrap(p, &bro, cmd, res);
        free((void *)bro.bwrap_path);
        return st;
    }
    case BACKEND_BWRAP: break;
    }
    return run_bwrap(p, ro, cmd, res);
}

/* The modes of the terminal sandlot runs on (the first of stdin, stdout,
 * stderr that is one), saved before a stage so they can be put back. */
struct tty_modes {
    int fd; /* -1: no terminal */
    struct termios t;
};

static void tty_save(struct tty_modes *m)
{
    m->fd = -1;
    for (int fd = 0; fd <= 2 && m->fd < 0; fd++)
        if (isatty(fd) && tcgetattr(fd, &m->t) == 0)
            m->fd = fd;
}

/* Put the saved modes back, also from a background process group (with
 * SIGTTOU blocked the kernel lets tcsetattr through instead of stopping us). */
static void tty_restore(const struct tty_modes *m)
{
    if (m->fd < 0)
        return;
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    tcsetattr(m->fd, TCSANOW, &m->t);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/*
 * launch(), and whatever ended the stage (its exit, a signal, --timeout),
 * the terminal gets back the modes it had before: a stage that ran
 * `stty raw -echo` does not leave the invoker's terminal so.
 */
static int run_backend(enum backend be, const struct policy *p, const struct run_opts *ro,
                       char *const *cmd, struct run_result *res)
{
    struct tty_modes modes;
    tty_save(&modes);
    int status = launch(be, p, ro, cmd, res);
    tty_restore(&modes);
    return status;
}

/* What the REPL's run{} needs: how to launch, with which backend. */
struct repl_run {
    struct run_opts ro;
    enum backend be;
};

/* run(policy, {cmd, arg...}) -> exit status; upvalue: struct repl_run */
static int l_repl_run(lua_State *L)
{
    const struct repl_run *rr = lua_touserdata(L, lua_upvalueindex(1));
    struct policy *p = lua_core_policy(L, 1);
    if (!p)
        return luaL_argerror(L, 1, "expected a policy");
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1 || n > 100000)
        return luaL_argerror(L, 2, "expected a command");
    char **argv = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *argv, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        argv[i - 1] = (char *)lua_tostring(L, -1); /* anchored by the table */
        lua_pop(L, 1);
        if (!argv[i - 1])
            return luaL_argerror(L, 2, "command words must be strings");
    }
    argv[n] = NULL;
    if (rr->be == BACKEND_BWRAP && (!rr->ro.bwrap_path || !rr->ro.exec_helper))
        return luaL_error(L, "run: bwrap or sandlot's exec helper is missing");
    fflush(NULL);
    struct run_result res = {0};
    int status = run_backend(rr->be, p, &rr->ro, argv, &res);
    repl_signals();
    lua_pushinteger(L, status);
    return 1;
}

/* run, explain or repl with the options parsed (o's lists are freed). */
static int run_or_explain(struct opts o, enum command cmd)
{
    if (status_wanted())
        die_hook = report_setup_error;
    enum backend be = choose_backend(&o, cmd == CMD_RUN    ? usage_run
                                         : cmd == CMD_REPL ? usage_repl
                                                           : usage_explain);
    char *bw = NULL;
    char *self = self_path();
    /*
     * The helper belongs to the installation whatever the backend: it is
     * looked up every time so the protected list (invariant 6) holds it, and
     * a native or explain run checks the same invariants as a bwrap run.
     */
    char *helper = find_exec_helper(self);
    if (be == BACKEND_BWRAP && cmd == CMD_RUN) {
        bw = require_bwrap();
        require_helper(helper);
    } else if (be == BACKEND_BWRAP && cmd == CMD_REPL) {
        bool from_path; /* the REPL works without it; run{} says what is missing */
        bw = bwrap_find(getenv("PATH"), &from_path);
    }
    const char *dev = dev_source_dir(self);
    char *user_dir = user_policy_dir();
    const char **protected_paths =
        protected_list(self, helper, dev, user_dir, o.policies, o.npolicies);

    lua_State *L = vm_open(dev);
    push_sandlot_fn(L, "build");
    push_build_opts(L, &o, protected_paths);
    if (cmd == CMD_REPL) { /* keep the options: the REPL rebuilds with them */
        lua_pushvalue(L, -1);
        lua_insert(L, -3);
    }
    budgeted_call(L, 1, 2);
    struct policy *p = lua_core_policy(L, -2);
    if (!p)
        die("internal error: the policy layer returned no policy");
    /* The invariants once more, in C, whatever the Lua layer did. */
    struct sl_err e;
    if (!policy_check_invariants(p, protected_paths, &e))
        die("invariant: %s", e.msg);
    policy_place_masks(p); /* again in C, whatever the Lua layer did */

    int status;
    if (cmd == CMD_EXPLAIN) {
        print_explain(L, p, &o, be, &bw);
        status = 0;
    } else if (cmd == CMD_REPL) {
        /* stack: opts, policy, report -> session(opts, policy, report, info) */
        static struct repl_run rr;
        rr.ro = (struct run_opts){bw, helper, o.timeout, picked_by_auto(), o.host_uid, o.host_gid};
        rr.be = be;
        push_module_fn(L, "sandlot.repl", "session");
        lua_insert(L, -4);
        lua_createtable(L, 0, 2);
        if (bw) {
            lua_pushstring(L, bw);
            lua_setfield(L, -2, "bwrap");
        }
        lua_pushstring(L, backend_name(be == BACKEND_NATIVE ? BACKEND_NATIVE : BACKEND_BWRAP));
        lua_setfield(L, -2, "backend");
        lua_pushlightuserdata(L, &rr);
        lua_pushcclosure(L, l_repl_run, 1);
        lua_setfield(L, -2, "run");
        if (vm_pcall(L, 4, 1) != LUA_OK)
            die("%s", lua_tostring(L, -1));
        char banner[160];
        snprintf(banner, sizeof banner, "sandlot %s repl (%s): help() lists the helpers, "
                 "Ctrl-D leaves", SANDLOT_VERSION, LUA_RELEASE);
        status = repl_main(L, isatty(STDIN_FILENO), banner);
    } else {
        struct run_opts ro = {bw, helper, o.timeout, picked_by_auto(), o.host_uid, o.host_gid};
        struct run_result res = {0};
        report.backend = backend_name(be);
        lua_getfield(L, -1, "stage");
        report.stage = lua_tostring(L, -1); /* anchored by the report table */
        lua_pop(L, 1);
        if (status_wanted())
            hash_policy(L, -2);
        fflush(NULL);
        status = run_backend(be, p, &ro, o.cmd, &res);
        report.class = res.class;
        report.status = status;
        report.exit_code = res.exit_code;
        report.signal = res.signal;
        double ready = res.ready > 0 ? res.ready : res.ended;
        report.setup_seconds = ready - started;
        report.command_seconds = res.ready > 0 ? res.ended - res.ready : 0;
        if (strcmp(res.class, "setup_error") == 0)
            report.message = "the sandbox could not be set up (see stderr)";
        die_hook = NULL;
        status_write(&report);
    }
    vm_close(L);
    free(protected_paths);
    free(user_dir);
    free(bw);
    free(helper);
    free(self);
    free(o.effects);
    free(o.policies);
    return status;
}

static int cmd_run_or_explain(int argc, char **argv, enum command cmd)
{
    struct opts o;
    started = monotonic_seconds();
    parse_opts(argc, argv, cmd, &o);
    return run_or_explain(o, cmd);
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
static void noether_die(const char *msg)
{
    (void)msg;
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
    started = monotonic_seconds();
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
    int status = run_or_explain(o, CMD_RUN);
    free(text);
    free(label);
    /* the sandbox could not be set up: nothing ran, noether's status for that */
    return strcmp(report.class, "setup_error") == 0 ? 2 : status;
}

static int cmd_check(int argc, char **argv)
{
    if (argc < 2)
        usage_error(usage_check, "check needs at least one policy script");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_check, stdout);
        return 0;
    }
    char *self = self_path();
    const char *dev = dev_source_dir(self);
    char *user_dir = user_policy_dir();
    /* check runs each script against sample stages that may write where it
     * lives: the scripts themselves are not in this list */
    const char **protected_paths = protected_list(self, NULL, dev, user_dir, NULL, 0);
    lua_State *L = vm_open(dev);
    push_sandlot_fn(L, "check");
    lua_newtable(L);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_newtable(L);
    set_layers(L, protected_paths);
    budgeted_call(L, 2, 1);
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        fprintf(stderr, "sandlot: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (g_verbosity >= 1)
        printf("%d script%s checked, %d problem%s\n", argc - 1, argc == 2 ? "" : "s", (int)n,
               n == 1 ? "" : "s");
    vm_close(L);
    free(protected_paths);
    free(user_dir);
    free(self);
    return n ? 1 : 0;
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
    struct check c[CHECK_COUNT];
    doctor_run(c);
    enum backend be = auto_backend(c[CHECK_USERNS].ok);
    /* the native backend needs no bwrap: then its absence is a gap, not a failure */
    if (be == BACKEND_NATIVE)
        c[CHECK_BWRAP].required = false;
    bool usable = true;
    for (int i = 0; i < CHECK_COUNT; i++)
        usable = usable && (c[i].ok || !c[i].required);
    const char *auto_name = usable ? backend_name(be) : NULL;
    if (json) {
        printf("{\"usable\":%s,\"auto_backend\":%s%s%s,\"auto_reason\":",
               usable ? "true" : "false", auto_name ? "\"" : "", auto_name ? auto_name : "null",
               auto_name ? "\"" : "");
        json_write_str(stdout, auto_why);
        printf(",\"checks\":[");
        for (int i = 0; i < CHECK_COUNT; i++) {
            printf("%s{\"name\":\"%s\",\"ok\":%s,\"required\":%s,\"detail\":", i ? "," : "",
                   c[i].name, c[i].ok ? "true" : "false", c[i].required ? "true" : "false");
            json_write_str(stdout, c[i].detail);
            printf(",\"fix\":");
            json_write_str(stdout, c[i].fix);
            putchar('}');
        }
        puts("]}");
    } else {
        for (int i = 0; i < CHECK_COUNT; i++) {
            printf("%-5s %-9s %s\n", c[i].ok ? "ok" : c[i].required ? "FAIL" : "gap", c[i].name,
                   c[i].detail);
            if (!c[i].ok)
                printf("      %-9s fix: %s\n", "", c[i].fix);
        }
        if (usable)
            printf("auto backend: %s (%s)\n", auto_name, auto_why);
        else
            printf("auto backend: none available: run would exit 125 (%s)\n", auto_why);
    }
    return usable ? 0 : 1;
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
    if (strcmp(c, "version") == 0 || strcmp(c, "--version") == 0) {
        printf("sandlot %s (%s)\n", SANDLOT_VERSION, LUA_RELEASE);
        return 0;
    }
    if (strcmp(c, "help") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    usage_error(usage_main, "unknown command \"%s\"", c);
}
