/*
 * repl.h: `sandlot repl`, the interactive loop.  The session (environment,
 * helpers, printing, completion) is Lua's (lua/sandlot/repl.lua); this
 * file owns the terminal: line reading with GNU readline or plain stdin,
 * continuation of incomplete chunks, history, completion and Ctrl-C.
 */
#ifndef SANDLOT_REPL_H
#define SANDLOT_REPL_H

#include <lua.h>
#include <stdbool.h>

/*
 * Run the loop with the session table on top of the stack.  tty: prompts,
 * banner, readline; otherwise statements are read from stdin silently.
 * Returns the exit status: 0, or 1 when a chunk failed in non-tty mode.
 */
int repl_main(lua_State *L, bool tty, const char *banner);

/* (Re)install the REPL's Ctrl-C handling, e.g. after a command ran. */
void repl_signals(void);

#endif
