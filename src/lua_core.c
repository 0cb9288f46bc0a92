/*
 * lua_core.c: the sandlot.core module, the C/Lua boundary.
 *
 * The policy is a full userdata ("sandlot.policy") that owns a struct
 * policy.  Methods mutate it through policy.c, so every rule is checked at
 * the call and a refusal raises an error naming the calling script and
 * line.  Each entry records its origin: the innermost policy script on
 * the call stack (chunk names starting with '@'; library chunks use '=').
 *
 * Convention (as LuaFileSystem): misuse and refused mutations raise;
 * look-ups that can fail normally return nil, message.
 */
#include "bwrap.h"
#include "native.h"
#include "plan.h"
#include "doctor.h"
#include "landlock.h"
#include "lua_vm.h"
#include "policy.h"
#include "egress.h"
#include "filter.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#define POLICY_MT "sandlot.policy"
#define CMDLINE_MT "sandlot.cmdline"
#define DIR_MT "sandlot.dir"
#define SANDLOT_SYSCONFDIR_HINT "/etc/sandlot/policies.d"



static const char ORIGIN_KEY = 'o';    /* registry: fallback origin string */
static const char PROTECTED_KEY = 'p'; /* registry: array of protected host paths */
static const char TRUSTED_KEY = 't';   /* registry: true while a built-in or system script runs */

struct lpolicy {
    struct policy *p;
};

/* t[key] = v on the table on top; nothing when v is NULL (as a nil would). */
static void set_string(lua_State *L, const char *key, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, key);
    }
}

/* Check and return the policy at index i. */
static struct policy *check_policy(lua_State *L, int i)
{
    struct lpolicy *lp = luaL_checkudata(L, i, POLICY_MT);
    if (!lp->p)
        luaL_argerror(L, i, "policy has been freed");
    return lp->p;
}

/*
 * Push the origin of the current call: "file:line" of the innermost policy
 * script on the stack, else the registry fallback, else "sandlot".
 */
static const char *push_origin(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar))
            break;
        if (ar.source[0] == '@' && ar.currentline > 0)
            return lua_pushfstring(L, "%s:%d", ar.source + 1, ar.currentline);
    }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ORIGIN_KEY) == LUA_TSTRING)
        return lua_tostring(L, -1);
    lua_pop(L, 1);
    return lua_pushliteral(L, "sandlot");
}

/* Raise "origin: message" (luaL_error would add a second position).  Never returns. */
static int refuse_msg(lua_State *L, const char *msg)
{
    const char *o = push_origin(L);
    lua_pushfstring(L, "%s: %s", o, msg);
    return lua_error(L);
}

static int refuse(lua_State *L, const struct sl_err *e)
{
    return refuse_msg(L, e->msg);
}

/* core.new_policy() -> policy */
static int l_new_policy(lua_State *L)
{
    struct lpolicy *lp = lua_newuserdatauv(L, sizeof *lp, 0);
    lp->p = NULL;
    luaL_setmetatable(L, POLICY_MT);
    lp->p = policy_new();
    return 1;
}

/* __gc / __close: safe to run twice. */
static int l_policy_gc(lua_State *L)
{
    struct lpolicy *lp = luaL_checkudata(L, 1, POLICY_MT);
    policy_free(lp->p);
    lp->p = NULL;
    return 0;
}

static int add_mount(lua_State *L, enum mount_kind k, bool has_src)
{
    struct policy *p = check_policy(L, 1);
    struct sl_err e;
    size_t slen = 0, dlen;
    const char *src = NULL, *dst;
    if (has_src) {
        src = luaL_checklstring(L, 2, &slen);
        dst = luaL_optlstring(L, 3, NULL, &dlen);
        if (!dst) {
            if (k == MOUNT_SYMLINK)
                return luaL_argerror(L, 3, "symlink needs a target text and a link path");
            dst = src;
            dlen = slen;
        }
    } else {
        dst = luaL_checklstring(L, 2, &dlen);
    }
    const char *o = push_origin(L);
    if (!policy_add_mount(p, k, src, slen, dst, dlen, o, &e))
        return refuse(L, &e);
    return 0;
}

/* policy:ro_bind(host [, target]) and friends; target defaults to host. */
static int l_ro_bind(lua_State *L) { return add_mount(L, MOUNT_RO_BIND, true); }
static int l_rw_bind(lua_State *L) { return add_mount(L, MOUNT_RW_BIND, true); }
static int l_ro_bind_try(lua_State *L) { return add_mount(L, MOUNT_RO_BIND_TRY, true); }
static int l_tmpfs(lua_State *L) { return add_mount(L, MOUNT_TMPFS, false); }
static int l_dir(lua_State *L) { return add_mount(L, MOUNT_DIR, false); }
/* policy:symlink(link_text, path) */
static int l_symlink(lua_State *L) { return add_mount(L, MOUNT_SYMLINK, true); }

/* policy:unmount(target) -> number of mount entries removed */
static int l_unmount(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    size_t len;
    const char *dst = luaL_checklstring(L, 2, &len);
    char *norm;
    struct sl_err e;
    if (!path_normalise(dst, len, &norm, &e))
        return refuse(L, &e);
    lua_pushinteger(L, (lua_Integer)policy_remove_mounts(p, norm));
    free(norm);
    return 1;
}

/* policy:mounts() -> array of {kind=, source=, target=, origin=} in policy order */
static int l_mounts(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_createtable(L, (int)p->nmounts, 0);
    for (size_t i = 0; i < p->nmounts; i++) {
        const struct mount *m = &p->mounts[i];
        lua_createtable(L, 0, 4);
        set_string(L, "kind", mount_kind_name(m->kind));
        set_string(L, "source", m->src);
        set_string(L, "target", m->dst);
        set_string(L, "origin", m->origin);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* policy:allow_env(name, ...): pass these host variables through when set */
static int l_allow_env(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    int n = lua_gettop(L);
    const char *o = push_origin(L);
    for (int i = 2; i <= n; i++) {
        size_t len;
        const char *name = luaL_checklstring(L, i, &len);
        struct sl_err e;
        /* An allowlisted name never overrides a value forced earlier. */
        const struct envvar *v = policy_find_env(p, name);
        if (v && v->value)
            continue;
        if (!policy_set_env(p, name, len, NULL, 0, o, &e))
            return refuse(L, &e);
    }
    return 0;
}

/* policy:setenv(name, value): force name=value inside */
static int l_setenv(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    size_t nlen, vlen;
    const char *name = luaL_checklstring(L, 2, &nlen);
    const char *value = luaL_checklstring(L, 3, &vlen);
    struct sl_err e;
    const char *o = push_origin(L);
    if (!policy_set_env(p, name, nlen, value, vlen, o, &e))
        return refuse(L, &e);
    return 0;
}

/* policy:unsetenv(name) -> true if it was allowed or set */
static int l_unsetenv(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_pushboolean(L, policy_unset_env(p, luaL_checkstring(L, 2)));
    return 1;
}

/* policy:env() -> array of {name=, value=(forced value or nil), origin=} */
static int l_env(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_createtable(L, (int)p->nenv, 0);
    for (size_t i = 0; i < p->nenv; i++) {
        lua_createtable(L, 0, 3);
        set_string(L, "name", p->env[i].name);
        set_string(L, "value", p->env[i].value);
        set_string(L, "origin", p->env[i].origin);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* policy:origin(field) -> origin of "network", "work_host" or "uid"/"gid" */
static int l_origin(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *f = luaL_checkstring(L, 2);
    const char *o = NULL;
    if (strcmp(f, "network") == 0)
        o = p->network_origin;
    else if (strcmp(f, "work_host") == 0)
        o = p->work_origin;
    else if (strcmp(f, "uid") == 0 || strcmp(f, "gid") == 0)
        o = p->id_origin;
    else if (strcmp(f, "seccomp") == 0)
        o = p->seccomp_origin;
    else
        return luaL_argerror(L, 2, "expected network, work_host, uid, gid or seccomp");
    lua_pushstring(L, o);
    return 1;
}

/* policy:deny_syscall(name [, action]): refuse one more syscall (default EPERM) */
static int l_deny_syscall(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *action = luaL_optstring(L, 3, "EPERM");
    struct sl_err e;
    const char *o = push_origin(L);
    if (!policy_deny_syscall(p, name, action, o, &e))
        return refuse(L, &e);
    return 0;
}

static void push_rule(void *ud, const char *syscall, const char *action, const char *when,
                      const char *origin, enum rule_source source)
{
    static const char *const sources[] = {"base", "strict", "extra"};
    lua_State *L = ud;
    lua_createtable(L, 0, 5);
    set_string(L, "source", sources[source]);
    set_string(L, "syscall", syscall);
    set_string(L, "action", action);
    set_string(L, "when", when);
    set_string(L, "origin", origin);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

/* policy:seccomp_rules() -> array of {syscall=, action=, when=, origin=, source=} */
static int l_seccomp_rules(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_newtable(L);
    seccomp_describe(p, push_rule, L);
    return 1;
}

/*
 * policy:limit(name, value): an rlimit (nofile nproc as data cpu fsize
 * core) or tmpfs size (tmp work); value is a number, a string with K/M/G/T,
 * or "unlimited".
 */
static int l_limit(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *name = luaL_checkstring(L, 2);
    struct sl_err e;
    enum limit l;
    long long v;
    if (!limit_parse_name(name, &l)) {
        snprintf(e.msg, sizeof e.msg, "unknown limit \"%s\" (limits: nofile, nproc, as, data, "
                 "cpu, fsize, core, tmp, work)", name);
        return refuse(L, &e);
    }
    if (lua_isinteger(L, 3)) {
        v = (long long)lua_tointeger(L, 3);
        if (v < 0) {
            snprintf(e.msg, sizeof e.msg, "limit %s must not be negative", name);
            return refuse(L, &e);
        }
    } else if (!lua_isstring(L, 3) || !limit_parse_value(lua_tostring(L, 3), &v)) {
        snprintf(e.msg, sizeof e.msg, "limit %s: expected a whole number, a size such as "
                 "\"64M\", or \"unlimited\"", name);
        return refuse(L, &e);
    }
    const char *o = push_origin(L);
    if (!policy_set_limit(p, l, v, o, &e))
        return refuse(L, &e);
    return 0;
}

/* policy:limits() -> array of {name=, value= (integer or "unlimited"), origin=} */
static int l_limits(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_createtable(L, LIMIT_COUNT, 0);
    for (int i = 0; i < LIMIT_COUNT; i++) {
        lua_createtable(L, 0, 3);
        set_string(L, "name", limit_name((enum limit)i));
        if (p->limit[i] == LIMIT_UNLIMITED)
            lua_pushliteral(L, "unlimited");
        else
            lua_pushinteger(L, (lua_Integer)p->limit[i]);
        lua_setfield(L, -2, "value");
        set_string(L, "origin", p->limit_origin[i] ? p->limit_origin[i] : "sandlot: default");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/*
 * policy:seal("network"): the network stays off from now on (no host mode,
 * no allowlist rule); policy:seal("egress"): the allowlist stays as it is
 * (no rule added, no host mode).
 */
static int l_seal(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *what = luaL_checkstring(L, 2);
    struct sl_err e;
    enum seal_kind kind = SEAL_NETWORK;
    if (strcmp(what, "egress") == 0) {
        kind = SEAL_EGRESS;
    } else if (strcmp(what, "network") != 0) {
        snprintf(e.msg, sizeof e.msg, "unknown seal \"%s\" (policy:seal(\"network\"), "
                 "policy:seal(\"egress\"), policy:seal_paths(...), policy:seal_env(...))", what);
        return refuse(L, &e);
    }
    const char *o = push_origin(L);
    if (!policy_seal(p, kind, NULL, 0, o, &e))
        return refuse(L, &e);
    return 0;
}

/*
 * policy:allow_host(pattern [, ports]): one egress allowlist rule; ports
 * a number or an array of numbers (default 443).  The first rule turns
 * the mode from none to allowlist.  Refused (raising, script:line) when
 * the pattern or a port is bad, or a seal forbids it.
 */
static int l_allow_host(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *pattern = luaL_checkstring(L, 2);
    uint16_t ports[EGRESS_MAX_PORTS + 1];
    size_t n = 0;
    struct sl_err e;
    int t = lua_type(L, 3);
    if (t == LUA_TNUMBER || t == LUA_TTABLE) {
        lua_Integer len = t == LUA_TNUMBER ? 1 : luaL_len(L, 3);
        if (len < 1 || len > EGRESS_MAX_PORTS) {
            snprintf(e.msg, sizeof e.msg, "allow_host %s: from 1 to %d ports, got %lld", pattern,
                     EGRESS_MAX_PORTS, (long long)len);
            return refuse(L, &e);
        }
        for (lua_Integer i = 1; i <= len; i++) {
            if (t == LUA_TTABLE)
                lua_rawgeti(L, 3, i);
            else
                lua_pushvalue(L, 3);
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            lua_pop(L, 1);
            if (!isint || v < 1 || v > 65535) {
                snprintf(e.msg, sizeof e.msg, "allow_host %s: ports are whole numbers from 1 to "
                         "65535", pattern);
                return refuse(L, &e);
            }
            ports[n++] = (uint16_t)v;
        }
    } else if (t != LUA_TNONE && t != LUA_TNIL) {
        return luaL_argerror(L, 3, "expected a port number or an array of port numbers");
    }
    const char *o = push_origin(L);
    if (!policy_allow_host(p, pattern, n ? ports : NULL, n, o, &e))
        return refuse(L, &e);
    return 0;
}

/*
 * policy:egress() -> {mode = "none"|"host"|"allowlist", origin = (host: the
 * network's), rules = {{pattern=, ports={...}, origin=}, ...}, port = the
 * proxy's port inside, landlock_abi = this kernel's (network rules from 4)}
 */
static int l_egress(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    enum egress_mode m = policy_egress_mode(p);
    lua_createtable(L, 0, 3);
    set_string(L, "mode", egress_mode_name(m));
    if (m == EGRESS_HOST)
        set_string(L, "origin", p->network_origin);
    lua_createtable(L, (int)p->egress.n, 0);
    for (size_t i = 0; i < p->egress.n; i++) {
        const struct egress_rule *r = &p->egress.v[i];
        lua_createtable(L, 0, 3);
        set_string(L, "pattern", r->pattern);
        set_string(L, "origin", r->origin);
        lua_createtable(L, (int)r->nports, 0);
        for (size_t k = 0; k < r->nports; k++) {
            lua_pushinteger(L, r->ports[k]);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "ports");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "rules");
    lua_pushinteger(L, EGRESS_PORT);
    lua_setfield(L, -2, "port");
    lua_pushinteger(L, landlock_abi());
    lua_setfield(L, -2, "landlock_abi");
    return 1;
}

/* policy:note(text): one line explain shows with the caller's origin */
static int l_note(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    const char *o = push_origin(L);
    struct sl_err e;
    if (!policy_add_note(p, text, len, o, &e))
        return refuse(L, &e);
    return 0;
}

/* policy:notes() -> array of {text=, origin=} */
static int l_notes(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_createtable(L, (int)p->nnotes, 0);
    for (size_t i = 0; i < p->nnotes; i++) {
        lua_createtable(L, 0, 2);
        set_string(L, "text", p->notes[i].text);
        set_string(L, "origin", p->notes[i].origin);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int seal_each(lua_State *L, enum seal_kind kind)
{
    struct policy *p = check_policy(L, 1);
    int n = lua_gettop(L);
    luaL_checkstring(L, 2);
    const char *o = push_origin(L);
    for (int i = 2; i <= n; i++) {
        size_t len;
        const char *arg = luaL_checklstring(L, i, &len);
        struct sl_err e;
        if (!policy_seal(p, kind, arg, len, o, &e))
            return refuse(L, &e);
    }
    return 0;
}

/* policy:seal_paths(path, ...): nothing at or under these host paths is bound */
static int l_seal_paths(lua_State *L) { return seal_each(L, SEAL_PATH); }
/* policy:seal_env(name, ...): these variables (NAME or PREFIX*) never enter */
static int l_seal_env(lua_State *L) { return seal_each(L, SEAL_ENV); }
/* policy:protect(path, ...): no bind at or below; read-only ancestors mask them */
static int l_protect(lua_State *L) { return seal_each(L, SEAL_PROTECT); }
/* policy:protect_writes(path, ...): no read-write bind at, below or above */
static int l_protect_writes(lua_State *L) { return seal_each(L, SEAL_PROTECT_WRITE); }

/*
 * policy:unprotect(path, ...): binds at or below these host paths pass the
 * protections.  Only the built-in and system layers may (the loader says
 * which script runs: core.set_trusted).
 */
static int l_unprotect(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TRUSTED_KEY);
    bool trusted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!trusted)
        return refuse_msg(L, "policy:unprotect is available only to the built-in layer and the "
                             "system layer (" SANDLOT_SYSCONFDIR_HINT ")");
    return seal_each(L, SEAL_OPEN);
}

/* core.set_trusted(bool): whether the script about to run may open protected paths */
static int l_set_trusted(lua_State *L)
{
    lua_pushboolean(L, lua_toboolean(L, 1));
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TRUSTED_KEY);
    return 0;
}

/* core.env_sealed(policy, name) -> true when a seal keeps name out */
static int l_env_sealed(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_pushboolean(L, policy_env_sealed(p, luaL_checkstring(L, 2)) != NULL);
    return 1;
}

/* policy:seals([kind]) -> array of {kind=, arg=, origin=}, of that kind only if given */
static int l_seals(lua_State *L)
{
    static const char *const kinds[] = {"network", "egress", "path", "env", "protect",
                                        "protect-write", "open"};
    struct policy *p = check_policy(L, 1);
    const char *only = luaL_optstring(L, 2, NULL);
    lua_createtable(L, only ? 0 : (int)p->nseals, 0);
    for (size_t i = 0, n = 0; i < p->nseals; i++) {
        if (only && strcmp(only, kinds[p->seals[i].kind]) != 0)
            continue;
        lua_createtable(L, 0, 3);
        set_string(L, "kind", kinds[p->seals[i].kind]);
        set_string(L, "arg", p->seals[i].arg);
        set_string(L, "origin", p->seals[i].origin);
        lua_rawseti(L, -2, (lua_Integer)++n);
    }
    return 1;
}

static const luaL_Reg policy_methods[] = {
    {"ro_bind", l_ro_bind},     {"rw_bind", l_rw_bind},   {"ro_bind_try", l_ro_bind_try},
    {"tmpfs", l_tmpfs},         {"dir", l_dir},           {"symlink", l_symlink},
    {"unmount", l_unmount},     {"mounts", l_mounts},     {"allow_env", l_allow_env},
    {"setenv", l_setenv},       {"unsetenv", l_unsetenv}, {"env", l_env},
    {"origin", l_origin},       {"deny_syscall", l_deny_syscall},
    {"seccomp_rules", l_seccomp_rules}, {"limit", l_limit}, {"limits", l_limits},
    {"seal", l_seal}, {"seal_paths", l_seal_paths}, {"seal_env", l_seal_env}, {"seals", l_seals},
    {"protect", l_protect}, {"protect_writes", l_protect_writes}, {"unprotect", l_unprotect},
    {"allow_host", l_allow_host}, {"egress", l_egress}, {"note", l_note}, {"notes", l_notes},
    {NULL, NULL},
};

/* core.is_policy(v) -> true when v is a policy */
static int l_is_policy(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, POLICY_MT) != NULL);
    return 1;
}

/* core.policy_names() -> sorted array of the policy's method and field names */
static int l_policy_names(lua_State *L)
{
    static const char *const fields[] = {"gid", "network", "seccomp", "uid", "work_host"};
    lua_newtable(L);
    int n = 0;
    for (const luaL_Reg *r = policy_methods; r->name; r++) {
        lua_pushstring(L, r->name);
        lua_rawseti(L, -2, ++n);
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        lua_pushstring(L, fields[i]);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* __index: methods first, then the fields network, work_host, uid, gid. */
static int l_policy_index(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (lua_getfield(L, lua_upvalueindex(1), k) != LUA_TNIL)
        return 1;
    if (strcmp(k, "network") == 0)
        lua_pushboolean(L, p->network);
    else if (strcmp(k, "work_host") == 0)
        lua_pushstring(L, p->work_host); /* nil: private tmpfs */
    else if (strcmp(k, "uid") == 0)
        lua_pushinteger(L, p->uid);
    else if (strcmp(k, "gid") == 0)
        lua_pushinteger(L, p->gid);
    else if (strcmp(k, "seccomp") == 0)
        lua_pushstring(L, p->seccomp_strict ? "strict" : "default");
    else
        return refuse_msg(L, lua_pushfstring(L, "policy has no field or method '%s'", k));
    return 1;
}

static int l_policy_newindex(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    const char *k = luaL_checkstring(L, 2);
    struct sl_err e;
    const char *o = push_origin(L);
    if (strcmp(k, "network") == 0) {
        luaL_checktype(L, 3, LUA_TBOOLEAN);
        if (!policy_set_network(p, lua_toboolean(L, 3), o, &e))
            return refuse(L, &e);
    } else if (strcmp(k, "work_host") == 0) {
        size_t len = 0;
        const char *h = lua_isnil(L, 3) ? NULL : luaL_checklstring(L, 3, &len);
        if (!policy_set_work(p, h, len, o, &e))
            return refuse(L, &e);
    } else if (strcmp(k, "uid") == 0 || strcmp(k, "gid") == 0) {
        lua_Integer v = luaL_checkinteger(L, 3);
        long uid = k[0] == 'u' ? (long)v : (long)p->uid;
        long gid = k[0] == 'g' ? (long)v : (long)p->gid;
        if (!policy_set_ids(p, uid, gid, o, &e))
            return refuse(L, &e);
    } else if (strcmp(k, "seccomp") == 0) {
        if (!policy_set_seccomp(p, luaL_checkstring(L, 3), o, &e))
            return refuse(L, &e);
    } else {
        return refuse_msg(L, lua_pushfstring(L, "policy has no field '%s' (fields: network, "
                                                "work_host, uid, gid, seccomp)", k));
    }
    return 0;
}

static int l_policy_tostring(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    lua_pushfstring(L, "sandlot.policy (%d mounts, %d env, network %s)", (int)p->nmounts,
                    (int)p->nenv, p->network ? "on" : "off");
    return 1;
}

/* core.check_path(s) -> normalised path | nil, message */
static int l_check_path(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out;
    struct sl_err e;
    if (!path_normalise(s, len, &out, &e)) {
        lua_pushnil(L);
        lua_pushstring(L, e.msg);
        return 2;
    }
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* Collect the protected paths from the registry into a NULL-terminated array. */
static const char **protected_list(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &PROTECTED_KEY);
    size_t n = lua_istable(L, -1) ? (size_t)luaL_len(L, -1) : 0;
    const char **list = lua_newuserdatauv(L, (n + 1) * sizeof *list, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -2, (lua_Integer)i + 1);
        list[i] = lua_tostring(L, -1); /* anchored by the registry table */
        lua_pop(L, 1);
    }
    list[n] = NULL;
    return list; /* stack: protected table, list userdata */
}

/* core.set_protected({path, ...}): host paths never writable inside */
static int l_set_protected(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &PROTECTED_KEY);
    return 0;
}

/* core.check_invariants(policy) -> true | nil, message */
static int l_check_invariants(lua_State *L)
{
    struct policy *p = check_policy(L, 1);
    struct sl_err e;
    const char **list = protected_list(L);
    if (!policy_check_invariants(p, list, &e)) {
        lua_pushnil(L);
        lua_pushstring(L, e.msg);
        return 2;
    }
    policy_place_masks(p); /* what explain and the backends show from now on */
    lua_pushboolean(L, 1);
    return 1;
}

/* core.set_origin(s | nil): origin recorded when no policy script is calling */
static int l_set_origin(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ORIGIN_KEY);
    return 0;
}

/*
 * core.bwrap_argv(policy, {cmd...} [, bwrap_path]) -> argv, groups
 * argv: the full bwrap command as an array of strings (descriptors shown
 * as placeholders: the filter, the exec helper and its ready pipe);
 * groups: array of {start=, count=, origin=} over argv.
 */
static int push_commandline(lua_State *L, bool native)
{
    struct policy *p = check_policy(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *bw = native ? NULL : luaL_optstring(L, 3, "bwrap");
    lua_Integer n = luaL_len(L, 2);
    if (n < 0 || n > 100000)
        return luaL_argerror(L, 2, "command has too many words");
    const char **cmd = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *cmd, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        cmd[i - 1] = lua_tostring(L, -1);
        if (!cmd[i - 1])
            return luaL_argerror(L, 2, "command words must be strings");
        lua_pop(L, 1); /* still anchored by the table */
    }
    cmd[n] = NULL;
    /* The cmdline lives in a userdata whose __gc frees it, so a memory
     * error while pushing the results leaks nothing. */
    struct cmdline *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, CMDLINE_MT);
    int box = lua_gettop(L);
    struct plan pl;
    plan_build(p, &pl);
    if (native) {
        native_describe(&pl, (char *const *)cmd, environ, c);
    } else {
        struct bwrap_inputs in = {BWRAP_EXPLAIN, bw, -1, -1, -1, NULL, environ, -1, -1, 0};
        bwrap_build(&pl, &in, (char *const *)cmd, c);
    }
    plan_free(&pl);
    lua_createtable(L, (int)c->nwords, 0);
    lua_createtable(L, (int)c->ngroups, 0);
    for (size_t i = 0; i < c->nwords; i++) {
        lua_pushstring(L, c->words[i]);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
    }
    for (size_t i = 0; i < c->ngroups; i++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)c->groups[i].start + 1);
        lua_setfield(L, -2, "start");
        lua_pushinteger(L, (lua_Integer)c->groups[i].count);
        lua_setfield(L, -2, "count");
        set_string(L, "origin", c->groups[i].origin);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    cmdline_free(c);
    lua_remove(L, box);
    return 2;
}

static int l_bwrap_argv(lua_State *L)
{
    return push_commandline(L, false);
}

/*
 * core.native_steps(policy, {cmd...}) -> words, groups: the native
 * backend's plan in the shape bwrap_argv returns.
 */
static int l_native_steps(lua_State *L)
{
    return push_commandline(L, true);
}

/* core.find_bwrap() -> path, from_path | nil, message */
static int l_find_bwrap(lua_State *L)
{
    bool from_path;
    char *p = bwrap_find(getenv("PATH"), &from_path);
    if (!p) {
        lua_pushnil(L);
        lua_pushliteral(L, "bwrap not found");
        return 2;
    }
    lua_pushstring(L, p);
    lua_pushboolean(L, from_path);
    free(p);
    return 2;
}

/* core.builtins(dir) -> array of {name=, source=} ("policies.d" or "lua/sandlot") */
static int l_builtins(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    if (strcmp(dir, "policies.d") != 0 && strcmp(dir, "lua/sandlot") != 0)
        return luaL_argerror(L, 1, "expected \"policies.d\" or \"lua/sandlot\"");
    vm_push_builtins(L, dir);
    return 1;
}

/* core.budget_exhausted() -> boolean: the budget or memory cap was hit */
static int l_budget_exhausted(lua_State *L)
{
    lua_pushboolean(L, vm_budget_exhausted(L));
    return 1;
}

/*
 * core.pcall(f, ...): pcall for policy scripts.  When the instruction,
 * time or memory budget was hit, the error is raised again instead of
 * being returned, so a script cannot catch its way past its budget.
 */
static int l_pcall_cont(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    if (status != LUA_OK && status != LUA_YIELD) {
        if (vm_budget_exhausted(L))
            return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L); /* true at slot 1, then the results */
}

static int l_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int st = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, l_pcall_cont);
    return l_pcall_cont(L, st, 0);
}

/*
 * core.script_error(message [, level]): error() for policy scripts.  It
 * positions a string message as error() does (a C function, so a tail call
 * `return error(...)` keeps the script's frame) and remembers the result,
 * which core.last_error_call() returns: the loader tells a script's
 * deliberate refusal from a fault by it.
 */
#define LAST_ERROR_KEY "sandlot.last_error_call"
static int l_script_error(lua_State *L)
{
    int level = (int)luaL_optinteger(L, 2, 1);
    lua_settop(L, 1);
    if (lua_type(L, 1) == LUA_TSTRING && level > 0) {
        luaL_where(L, level);
        lua_pushvalue(L, 1);
        lua_concat(L, 2);
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LAST_ERROR_KEY);
    }
    return lua_error(L);
}

/* core.last_error_call([clear]) -> the last message core.script_error raised, or nil */
static int l_last_error_call(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LAST_ERROR_KEY);
    if (lua_toboolean(L, 1)) {
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, LAST_ERROR_KEY);
    }
    return 1;
}

static int l_cmdline_gc(lua_State *L)
{
    cmdline_free(luaL_checkudata(L, 1, CMDLINE_MT)); /* idempotent: it zeroes */
    return 0;
}

/*
 * core.read_script(path) -> text | nil, message
 * Read a policy script: it must be a regular file (or a pipe), checked with fstat on
 * the descriptor that is read, so a swap between check and read cannot
 * feed anything else.  Text goes into a luaL_Buffer (no malloc across a
 * Lua error).
 */
static int l_read_script(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    const char *why = NULL;
    if (fd < 0)
        why = strerror(errno);
    else if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        why = "not a regular file"; /* a pipe is fine: sandlot -p <(...) */
    if (why) {
        if (fd >= 0)
            close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, why);
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    /* A regular file ends at st_size: stop there, saving the final empty read. */
    for (off_t got = 0; got < st.st_size || !S_ISREG(st.st_mode) || st.st_size == 0;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            lua_pushnil(L);
            lua_pushfstring(L, "%s: %s", path, strerror(e));
            return 2;
        }
        if (n == 0)
            break;
        luaL_addsize(&b, (size_t)n);
        got += n;
    }
    close(fd);
    luaL_pushresult(&b);
    return 1;
}

static int l_dir_gc(lua_State *L)
{
    DIR **box = luaL_checkudata(L, 1, DIR_MT);
    if (*box)
        closedir(*box);
    *box = NULL;
    return 0;
}

/*
 * core.scan_dir(dir) -> {[name] = true | false} for the *.lua entries of
 * dir (false: a symlink to /dev/null, which masks that name), or nil when
 * dir cannot be opened.  readdir's d_type spares a stat per entry; only
 * symlinks (and file systems without d_type) cost a system call.  The DIR
 * lives in a box whose __gc closes it, so a memory error while the table
 * fills cannot leak it.
 */
static int l_scan_dir(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    DIR **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, DIR_MT);
    lua_newtable(L);
    if (!(*box = opendir(dir))) {
        lua_pushnil(L);
        return 1;
    }
    int fd = dirfd(*box);
    for (struct dirent *de; (de = readdir(*box));) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0)
            continue;
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            type = S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
        }
        bool masked = false;
        if (type == DT_LNK) {
            char target[16];
            ssize_t n = readlinkat(fd, de->d_name, target, sizeof target - 1);
            masked = n == 9 && memcmp(target, "/dev/null", 9) == 0;
        }
        lua_pushboolean(L, !masked);
        lua_setfield(L, -2, de->d_name);
    }
    closedir(*box);
    *box = NULL;
    return 1;
}

/* core.copy(t [, extra]) -> a shallow copy of t, presized for extra more keys */
static int l_copy(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer extra = luaL_optinteger(L, 2, 0);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        n++;
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, n + (int)(extra > 0 && extra < 1024 ? extra : 0));
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    return 1;
}

/* core.host_checks() -> {name = {ok=, required=, detail=, fix=}, ...} (doctor's) */
static int l_host_checks(lua_State *L)
{
    struct check c[CHECK_COUNT];
    doctor_run(c);
    lua_createtable(L, 0, CHECK_COUNT);
    for (int i = 0; i < CHECK_COUNT; i++) {
        lua_createtable(L, 0, 4);
        lua_pushboolean(L, c[i].ok);
        lua_setfield(L, -2, "ok");
        lua_pushboolean(L, c[i].required);
        lua_setfield(L, -2, "required");
        set_string(L, "detail", c[i].detail);
        set_string(L, "fix", c[i].fix);
        lua_setfield(L, -2, c[i].name);
    }
    lua_pushinteger(L, landlock_abi());
    lua_setfield(L, -2, "landlock_abi");
    return 1;
}

static const luaL_Reg core_funcs[] = {
    {"new_policy", l_new_policy},
    {"check_path", l_check_path},
    {"check_invariants", l_check_invariants},
    {"set_protected", l_set_protected},
    {"set_origin", l_set_origin},
    {"set_trusted", l_set_trusted},
    {"env_sealed", l_env_sealed},
    {"bwrap_argv", l_bwrap_argv},
    {"native_steps", l_native_steps},
    {"find_bwrap", l_find_bwrap},
    {"builtins", l_builtins},
    {"budget_exhausted", l_budget_exhausted},
    {"pcall", l_pcall},
    {"script_error", l_script_error},
    {"last_error_call", l_last_error_call},
    {"read_script", l_read_script},
    {"scan_dir", l_scan_dir},
    {"policy_names", l_policy_names},
    {"is_policy", l_is_policy},
    {"host_checks", l_host_checks},
    {"copy", l_copy},
    {NULL, NULL},
};

#ifndef SANDLOT_VERSION
#define SANDLOT_VERSION "0.1.0"
#endif

/* For the command line's entry (lua_main.c): the policy at idx, or NULL if it is not one. */
struct policy *lua_core_policy(lua_State *L, int idx)
{
    struct lpolicy *lp = luaL_testudata(L, idx, POLICY_MT);
    return lp ? lp->p : NULL;
}

int luaopen_sandlot_core(lua_State *L)
{
    if (luaL_newmetatable(L, POLICY_MT)) {
        luaL_newlib(L, policy_methods);
        lua_pushcclosure(L, l_policy_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_policy_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, l_policy_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_policy_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_policy_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "sandlot.policy");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, CMDLINE_MT)) {
        lua_pushcfunction(L, l_cmdline_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, DIR_MT)) {
        lua_pushcfunction(L, l_dir_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, core_funcs);
    lua_pushinteger(L, SANDLOT_POLICY_MEMORY_MIB);
    lua_setfield(L, -2, "MEMORY_LIMIT_MIB");
    lua_pushliteral(L, SANDLOT_VERSION); /* named in refusals of unknown JSON fields */
    lua_setfield(L, -2, "VERSION");
    return 1;
}
