/* lua_main.c: the command line's protected entry into the Lua layer; see lua_main.h. */
#include "lua_main.h"
#include "lua_vm.h"
#include "repl.h"
#include "status.h"
#include "util.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Budget of one policy evaluation (all layers of one stage). */
#define POLICY_INSTRUCTIONS 100000000LL
#define POLICY_SECONDS 1.0
#define POLICY_WATCHDOG 2u
#define POLICY_MEMORY ((size_t)SANDLOT_POLICY_MEMORY_MIB << 20)

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

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* Call the function below nargs arguments; its error becomes ours (with traceback). */
static void call(lua_State *L, int nargs, int nresults)
{
    if (vm_pcall(L, nargs, nresults) != LUA_OK)
        lua_error(L);
}

/* Push require(module)[field]. */
static void push_module_fn(lua_State *L, const char *module, const char *field)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (vm_pcall(L, 1, 1) != LUA_OK)
        luaL_error(L, "loading the built-in Lua library: %s", lua_tostring(L, -1));
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
}

/* opts.protected, opts.system_dir and opts.user_dir on the table on top. */
static void set_layers(lua_State *L, const struct lua_front *f)
{
    set_list(L, "protected", f->protected_paths, count(f->protected_paths));
    set_str(L, "system_dir", f->system_dir);
    set_str(L, "user_dir", f->user_dir);
}

/* Push the options table the Lua build() takes. */
static void push_build_opts(lua_State *L, const struct lua_front *f)
{
    const struct lua_stage *s = &f->stage;
    lua_newtable(L);
    set_list(L, "effects", s->effects, s->neffects);
    set_list(L, "policy_files", s->policy_files, s->npolicy_files);
    set_str(L, "effects_json", s->effects_json);
    set_str(L, "effects_json_name", s->effects_json_name);
    set_str(L, "policy_json", s->policy_json);
    set_str(L, "policy_json_name", s->policy_json_name);
    set_str(L, "stage", s->stage);
    set_str(L, "work", s->work);
    set_list(L, "env", s->env, s->nenv);
    set_list(L, "argv", (const char *const *)s->cmd, count((const char *const *)s->cmd));
    lua_pushboolean(L, s->system_policies);
    lua_setfield(L, -2, "system_policies");
    set_layers(L, f);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, getuid());
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, geteuid());
    lua_setfield(L, -2, "euid");
    lua_setfield(L, -2, "ids");
    lua_pushboolean(L, g_verbosity >= 2);
    lua_setfield(L, -2, "verbose");
}

/* Call the function below nargs arguments under the policy budget. */
static void budgeted_call(lua_State *L, int nargs, int nresults)
{
    vm_set_memory_limit(L, POLICY_MEMORY);
    vm_budget_start(L, POLICY_INSTRUCTIONS, POLICY_SECONDS, POLICY_WATCHDOG);
    int st = vm_pcall(L, nargs, nresults);
    vm_budget_stop(L);
    vm_set_memory_limit(L, 0);
    if (st != LUA_OK)
        lua_error(L);
}

/* A list of words as a Lua array. */
static void push_words(lua_State *L, char *const *words)
{
    lua_newtable(L);
    for (int i = 0; words && words[i]; i++) {
        lua_pushstring(L, words[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* The slots of a built stage on pmain's stack. */
enum { ARG_FRONT = 1, ARG_STATUS, SLOT_OPTS, SLOT_POLICY, SLOT_REPORT };

/* sha256 of the policy's canonical JSON (noether's export). */
static void hash_policy(lua_State *L, char out[65])
{
    push_module_fn(L, "sandlot.noether", "export");
    lua_pushvalue(L, SLOT_POLICY);
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "hash"); /* host-derived defaults left out */
    call(L, 2, 1);
    size_t len;
    const char *json = lua_tolstring(L, -1, &len);
    sha256_hex(json, len, out);
    lua_pop(L, 1);
}

/* run(policy, {cmd, arg...}) -> exit status; upvalue: the launch options.  Through
 * launch(), the gate: it checks the invariants and returns a failure as 125. */
static int l_repl_run(lua_State *L)
{
    const struct launch_opts *lo = lua_touserdata(L, lua_upvalueindex(1));
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
    if (lo->backend == BACKEND_BWRAP && (!lo->bwrap_path || !lo->exec_helper))
        return luaL_error(L, "run: bwrap or sandlot's exec helper is missing");
    struct run_result res;
    int status = launch(p, lo, argv, &res);
    free(res.egress);
    repl_signals();
    lua_pushinteger(L, status);
    return 1;
}

/* session(opts, policy, report, info), then the loop. */
static int repl_task(lua_State *L, const struct lua_front *f)
{
    push_module_fn(L, "sandlot.repl", "session");
    lua_pushvalue(L, SLOT_OPTS);
    lua_pushvalue(L, SLOT_POLICY);
    lua_pushvalue(L, SLOT_REPORT);
    lua_createtable(L, 0, 3);
    set_str(L, "bwrap", f->bwrap_path);
    set_str(L, "backend", f->backend);
    lua_pushlightuserdata(L, (void *)f->launch); /* outlives the session */
    lua_pushcclosure(L, l_repl_run, 1);
    lua_setfield(L, -2, "run");
    call(L, 4, 1);
    return repl_main(L, isatty(STDIN_FILENO), f->banner);
}

/* Print each string of the array on top to out, prefixed; returns how many. */
static lua_Integer print_list(lua_State *L, FILE *out)
{
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        fprintf(out, "sandlot: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return n;
}

/*
 * `sandlot check FILE...`: each problem on stderr, each refusal (a script's
 * own error() call) on stdout; 1 when there was a problem.
 */
static int check_task(lua_State *L, const struct lua_front *f)
{
    push_module_fn(L, "sandlot", "check");
    push_words(L, f->check_files);
    lua_newtable(L);
    set_layers(L, f);
    lua_createtable(L, (int)f->ncheck_stages, 0);
    for (size_t i = 0; i < f->ncheck_stages; i++) {
        const struct lua_stage *s = &f->check_stages[i];
        lua_newtable(L);
        if (s->neffects)
            set_list(L, "effects", s->effects, s->neffects);
        set_str(L, "effects_json", s->effects_json);
        set_str(L, "effects_json_name", s->effects_json_name);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    budgeted_call(L, 3, 2); /* problems, refusals */
    lua_Integer refusals = print_list(L, stdout);
    lua_pop(L, 1);
    lua_Integer n = print_list(L, stderr);
    size_t files = count((const char *const *)f->check_files);
    if (g_verbosity >= 1)
        printf("%zu script%s checked, %d problem%s, %d refusal%s\n", files,
               files == 1 ? "" : "s", (int)n, n == 1 ? "" : "s", (int)refusals,
               refusals == 1 ? "" : "s");
    return n ? 1 : 0;
}

static int pmain(lua_State *L)
{
    const struct lua_front *f = lua_touserdata(L, ARG_FRONT);
    int *status = lua_touserdata(L, ARG_STATUS);
    if (f->task == LUA_TASK_CHECK) {
        *status = check_task(L, f);
        return 0;
    }
    /* build(opts) -> policy, report; opts kept (the REPL rebuilds with them) */
    push_module_fn(L, "sandlot", "build");
    push_build_opts(L, f);
    lua_pushvalue(L, -1);
    lua_insert(L, SLOT_OPTS); /* SLOT_OPTS, build, opts */
    budgeted_call(L, 1, 2);   /* SLOT_OPTS, SLOT_POLICY, SLOT_REPORT */
    struct policy *p = lua_core_policy(L, SLOT_POLICY);
    if (!p)
        return luaL_error(L, "internal error: the policy layer returned no policy");
    if (f->check_invariants) {
        /* The invariants once more, in C, whatever the Lua layer did. */
        struct sl_err e;
        if (!policy_check_invariants(p, f->protected_paths, &e))
            return luaL_error(L, "invariant: %s", e.msg);
        policy_place_masks(p);
    }
    switch (f->task) {
    case LUA_TASK_POLICY: {
        char sha[65] = "";
        if (f->want_hash)
            hash_policy(L, sha);
        lua_getfield(L, SLOT_REPORT, "stage");
        struct lua_built b = {p, lua_tostring(L, -1), f->want_hash ? sha : NULL};
        *status = f->with_policy(f->ctx, &b);
        break;
    }
    case LUA_TASK_JSON:
        push_module_fn(L, "sandlot.noether", "export");
        lua_pushvalue(L, SLOT_POLICY);
        call(L, 1, 1);
        printf("%s\n", lua_tostring(L, -1));
        fflush(stdout);
        *status = 0;
        break;
    case LUA_TASK_EXPLAIN:
        fputs(f->explain_header, stdout);
        push_module_fn(L, "sandlot", "explain_text");
        lua_pushvalue(L, SLOT_POLICY);
        push_words(L, f->stage.cmd);
        lua_createtable(L, 0, 2);
        set_str(L, "name", f->backend);
        set_str(L, "bwrap", f->bwrap_path ? f->bwrap_path : "bwrap");
        lua_pushvalue(L, SLOT_REPORT);
        call(L, 4, 1);
        fputs(lua_tostring(L, -1), stdout);
        fflush(stdout);
        *status = 0;
        break;
    case LUA_TASK_REPL: *status = repl_task(L, f); break;
    case LUA_TASK_CHECK: break;
    }
    return 0;
}

int lua_main(const struct lua_front *f, char **error)
{
    int status = -1;
    lua_State *L = vm_open(f->dev_dir);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, (void *)f);
    lua_pushlightuserdata(L, &status);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        *error = xstrdup(msg ? msg : "(an error that is not a string)");
        status = -1;
    }
    vm_close(L);
    return status;
}

const char *lua_main_release(void)
{
    return LUA_RELEASE;
}
