/* lua_vm.c: VM creation, allocator cap, budget, built-in modules; see lua_vm.h. */

#include "lua_vm.h"
#include "embedded.h"
#include "util.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef LUA_CMOD_DIR
#define LUA_CMOD_DIR "/usr/lib/x86_64-linux-gnu/lua/5.4"
#endif

#define HARD_MEMORY_LIMIT ((size_t)1 << 30) /* never more than 1 GiB, whatever is set */
#define HOOK_EVERY 1000

/* Per-VM state, reachable from L through the allocator's userdata. */
struct vm_state {
    size_t used, limit;
    bool mem_hit;
    bool budget_on, exhausted;
    long long budget, left;
    double seconds;
    struct timespec deadline;
    char budget_msg[512]; /* the first exhaustion's message, raised again after */
    char *dev_dir;
};

static struct vm_state *state_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* lua_Alloc with a byte cap: returns NULL (a Lua memory error) past it. */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct vm_state *s = ud;
    if (!ptr)
        osize = 0; /* osize then encodes the object type */
    if (nsize == 0) {
        free(ptr);
        s->used -= osize;
        return NULL;
    }
    if (nsize > osize && (s->used + (nsize - osize) > s->limit)) {
        s->mem_hit = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    s->used = s->used - osize + nsize;
    return p;
}

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/*
 * Count hook.  Once the budget is spent it re-arms itself to fire on every
 * instruction, so a script that catches the error with pcall meets it
 * again at once; the pcall given to scripts also re-raises it.
 */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct vm_state *s = state_of(L);
    if (!s->exhausted) {
        s->left -= HOOK_EVERY;
        if (s->left > 0 && !past(&s->deadline))
            return;
        s->exhausted = true;
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        lua_getinfo(L, "Sl", ar);
        /* the full file name: short_src is cut at LUA_IDSIZE characters */
        const char *where = ar->source[0] == '@' || ar->source[0] == '=' ? ar->source + 1
                                                                         : ar->short_src;
        if (s->left <= 0)
            snprintf(s->budget_msg, sizeof s->budget_msg,
                     "%.180s:%d: policy evaluation exceeded its budget of %lld instructions "
                     "(runaway loop?)", where, ar->currentline, s->budget);
        else
            snprintf(s->budget_msg, sizeof s->budget_msg,
                     "%.180s:%d: policy evaluation exceeded its time limit of %.1f s "
                     "(runaway loop?)", where, ar->currentline, s->seconds);
    }
    /* Always the first message, so the culprit is named wherever this fires. */
    lua_pushstring(L, s->budget_msg);
    lua_error(L);
}

static void watchdog(int sig)
{
    static const char msg[] = "sandlot: policy evaluation did not finish in time (a script is "
                              "stuck inside a library call); nothing was run\n";
    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(EXIT_SANDLOT);
}

void vm_budget_start(lua_State *L, long long instructions, double seconds,
                     unsigned watchdog_seconds)
{
    struct vm_state *s = state_of(L);
    s->budget = s->left = instructions;
    s->seconds = seconds;
    s->exhausted = false;
    s->mem_hit = false;
    s->budget_on = true;
    clock_gettime(CLOCK_MONOTONIC, &s->deadline);
    s->deadline.tv_sec += (time_t)seconds;
    s->deadline.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (s->deadline.tv_nsec >= 1000000000L) {
        s->deadline.tv_sec++;
        s->deadline.tv_nsec -= 1000000000L;
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (watchdog_seconds) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = watchdog;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 0}, {(time_t)watchdog_seconds, 0}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
}

void vm_budget_stop(lua_State *L)
{
    struct vm_state *s = state_of(L);
    struct itimerval off = {{0, 0}, {0, 0}};
    lua_sethook(L, NULL, 0, 0);
    if (s->budget_on) {
        setitimer(ITIMER_REAL, &off, NULL);
        signal(SIGALRM, SIG_DFL);
    }
    s->budget_on = false;
}

bool vm_budget_exhausted(lua_State *L)
{
    struct vm_state *s = state_of(L);
    return s->exhausted || s->mem_hit;
}

void vm_set_memory_limit(lua_State *L, size_t bytes)
{
    struct vm_state *s = state_of(L);
    s->limit = (bytes && bytes < HARD_MEMORY_LIMIT) ? bytes : HARD_MEMORY_LIMIT;
}

const char *vm_dev_dir(lua_State *L)
{
    return state_of(L)->dev_dir;
}

/* Message handler: keep the message; add a traceback in verbose mode. */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (g_verbosity >= 2)
        luaL_traceback(L, L, msg, 1);
    else
        lua_pushstring(L, msg);
    return 1;
}

int vm_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs; /* the function's slot */
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    int st = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (st == LUA_ERRMEM) {
        lua_pop(L, 1);
        lua_pushliteral(L, "not enough memory: the Lua memory cap was reached");
    }
    return st;
}

/* Read dev_dir/name; returns malloc'd text or NULL. */
static char *dev_read(const char *dev_dir, const char *name, size_t *len)
{
    const char *err;
    char *path = xasprintf("%s/%s", dev_dir, name);
    char *text = read_whole_file(path, len, &err);
    free(path);
    return text;
}

static const struct embedded_file *embedded_find(const char *name)
{
    for (const struct embedded_file *f = embedded_files; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/*
 * package.searchers entry for "sandlot" and "sandlot.X": the library is
 * the binary's own (or the checkout's), never a file found on a path.
 * Pushes the loader and its chunk name, or a message.
 */
static int builtin_searcher(lua_State *L)
{
    const char *mod = luaL_checkstring(L, 1);
    if (strcmp(mod, "sandlot") != 0 && strncmp(mod, "sandlot.", 8) != 0) {
        lua_pushfstring(L, "\n\tno built-in module '%s'", mod);
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "lua/");
    luaL_addgsub(&b, mod, ".", "/");
    luaL_addstring(&b, strcmp(mod, "sandlot") == 0 ? "/init.lua" : ".lua");
    luaL_pushresult(&b);
    const char *name = lua_tostring(L, -1);
    const char *dev = vm_dev_dir(L);
    int st;
    if (dev) {
        size_t len;
        char *text = dev_read(dev, name, &len);
        if (!text) {
            lua_pushfstring(L, "\n\tno file '%s/%s'", dev, name);
            return 1;
        }
        lua_pushfstring(L, "=%s", name);
        st = luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t");
        free(text);
    } else {
        const struct embedded_file *f = embedded_find(name);
        if (!f) {
            lua_pushfstring(L, "\n\tno built-in file '%s'", name);
            return 1;
        }
        /* Precompiled at build time by tools/embed.lua; the chunk name is inside. */
        lua_pushfstring(L, "=%s", name);
        st = luaL_loadbufferx(L, f->data, f->len, lua_tostring(L, -1), "b");
    }
    if (st != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, -3); /* loader data: the file name */
    return 2;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void vm_push_builtins(lua_State *L, const char *dir)
{
    size_t dlen = strlen(dir);
    int n = 0;
    lua_newtable(L);
    const char *dev = vm_dev_dir(L);
    if (!dev) {
        for (const struct embedded_file *f = embedded_files; f->name; f++) {
            if (strncmp(f->name, dir, dlen) != 0 || f->name[dlen] != '/')
                continue;
            lua_createtable(L, 0, 2);
            lua_pushstring(L, f->name);
            lua_setfield(L, -2, "name");
            lua_pushlstring(L, f->data, f->len);
            lua_setfield(L, -2, "source");
            lua_rawseti(L, -2, ++n);
        }
        return;
    }
    char *path = xasprintf("%s/%s", dev, dir);
    DIR *d = opendir(path);
    free(path);
    if (!d)
        return;
    char **names = NULL;
    size_t count = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".lua") == 0) {
            names = xrealloc(names, (count + 1) * sizeof *names);
            names[count++] = xasprintf("%s/%s", dir, de->d_name);
        }
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_names);
    for (size_t i = 0; i < count; i++) {
        size_t len;
        char *text = dev_read(dev, names[i], &len);
        if (text) {
            lua_createtable(L, 0, 2);
            lua_pushstring(L, names[i]);
            lua_setfield(L, -2, "name");
            lua_pushlstring(L, text, len);
            lua_setfield(L, -2, "source");
            lua_rawseti(L, -2, ++n);
            free(text);
        }
        free(names[i]);
    }
    free(names);
}

lua_State *vm_open(const char *dev_dir)
{
    struct vm_state *s = xcalloc(1, sizeof *s);
    s->limit = HARD_MEMORY_LIMIT;
    s->dev_dir = dev_dir ? xstrdup(dev_dir) : NULL;
    lua_State *L = lua_newstate(capped_alloc, s);
    if (!L)
        die("cannot create the Lua state");
    luaL_openlibs(L);
    /*
     * No string.dump anywhere in this VM: the string metatable's __index is
     * the library table itself, so ("").dump would reach it from any
     * confined script.  Nothing of sandlot's needs bytecode.
     */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);

    /* Only absolute system directories: never the working directory. */
    lua_getglobal(L, "package");
    lua_pushliteral(L, "/usr/local/share/lua/5.4/?.lua;/usr/share/lua/5.4/?.lua");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "/usr/local/lib/lua/5.4/?.so;" LUA_CMOD_DIR "/?.so");
    lua_setfield(L, -2, "cpath");
    /* Insert our searcher right after package.preload's. */
    lua_getfield(L, -1, "searchers");
    for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, builtin_searcher);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_sandlot_core);
    lua_setfield(L, -2, "sandlot.core");
    lua_pop(L, 2);
    return L;
}

void vm_close(lua_State *L)
{
    if (!L)
        return;
    struct vm_state *s = state_of(L);
    lua_close(L);
    free(s->dev_dir);
    free(s);
}
