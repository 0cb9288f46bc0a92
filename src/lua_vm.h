/*
 * lua_vm.h: the embedded Lua 5.4 VM.  One state per process, created with
 * a byte-capped allocator; library modules (lua/sandlot/NAME.lua) and the
 * built-in policies.d come from the binary, or from a checkout when
 * SANDLOT_SOURCE_DIR is set; package.path/cpath hold only absolute system
 * directories.  Policy evaluation runs under a budget: instructions, wall
 * time and a hard watchdog, so a hostile script cannot hang sandlot.
 */
#ifndef SANDLOT_LUA_VM_H
#define SANDLOT_LUA_VM_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

/* The memory cap while policy scripts run. */
#define SANDLOT_POLICY_MEMORY_MIB 64

/* Create the VM.  dev_dir: load built-ins from this checkout, or NULL. */
lua_State *vm_open(const char *dev_dir);
void vm_close(lua_State *L);

/* Cap the bytes the VM may hold (0: no cap beyond the hard default). */
void vm_set_memory_limit(lua_State *L, size_t bytes);

/*
 * Start the budget: at most `instructions` VM instructions and `seconds`
 * of wall time, after which every hook raises "budget exhausted"; and a
 * watchdog that ends the process with status 125 after watchdog_seconds
 * should a C function hold on past the hook.  vm_budget_stop() removes
 * hook and watchdog; call it on every exit path.
 */
void vm_budget_start(lua_State *L, long long instructions, double seconds,
                     unsigned watchdog_seconds);
void vm_budget_stop(lua_State *L);
/* True once the budget or the memory cap was hit in this run. */
bool vm_budget_exhausted(lua_State *L);

/*
 * Call the function below nargs arguments under lua_pcall with a
 * traceback handler.  On error leaves the message (with traceback when
 * verbose) on the stack and returns the lua_pcall status.
 */
int vm_pcall(lua_State *L, int nargs, int nresults);

/*
 * Push the list of built-in files under `dir` ("lua/sandlot" or
 * "policies.d") as an array of {name=, source=} sorted by name.  source
 * is bytecode when embedded, text when read from SANDLOT_SOURCE_DIR.
 */
void vm_push_builtins(lua_State *L, const char *dir);

/* The dev dir given to vm_open, or NULL. */
const char *vm_dev_dir(lua_State *L);

/* Open sandlot.core into package.preload (lua_core.c). */
int luaopen_sandlot_core(lua_State *L);

/* The policy userdata at idx, or NULL if it is not one (lua_core.c). */
struct policy *lua_core_policy(lua_State *L, int idx);

#endif
