/*
 * lua_harness.h: a Lua VM with sandlot's built-in library, shared by the
 * fuzz targets that exercise Lua code (effects, policy JSON).  The one
 * property: a call returns a value or an error message; it never crashes
 * the process (ASan/UBSan watch the C underneath: Lua, cjson, the core).
 */
#ifndef SANDLOT_LUA_HARNESS_H
#define SANDLOT_LUA_HARNESS_H

#include "lua_vm.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>

/* Call require(module)[fn](<data as a string>, extra) under pcall. */
static inline void harness_call(const char *module, const char *fn, const uint8_t *data,
                                size_t size, int with_policy)
{
    static lua_State *L;
    if (!L) {
        L = vm_open(NULL);
        vm_set_memory_limit(L, (size_t)256 << 20);
    }
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (vm_pcall(L, 1, 1) != LUA_OK)
        abort(); /* the library itself must load */
    lua_getfield(L, -1, fn);
    int nargs = 2;
    if (with_policy) {
        lua_getglobal(L, "require");
        lua_pushliteral(L, "sandlot.core");
        vm_pcall(L, 1, 1);
        lua_getfield(L, -1, "new_policy");
        lua_remove(L, -2);
        vm_pcall(L, 0, 1);
    }
    lua_pushlstring(L, (const char *)data, size);
    if (!with_policy) {
        /* parse_cli takes a list of strings */
        if (fn[6] == 'c') {
            lua_createtable(L, 1, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
        }
        lua_pushliteral(L, "fuzz");
    } else {
        lua_pushliteral(L, "fuzz");
        nargs = 3;
    }
    int st = vm_pcall(L, nargs, 2);
    if (st == LUA_OK && !with_policy) {
        /* parse_*: a table, or nil and a message */
        if (!(lua_istable(L, -2) || (lua_isnil(L, -2) && lua_isstring(L, -1))))
            abort();
    } else if (st != LUA_OK && !lua_isstring(L, -1)) {
        abort(); /* errors are messages */
    }
    lua_settop(L, top);
    lua_gc(L, LUA_GCCOLLECT);
}

#endif
