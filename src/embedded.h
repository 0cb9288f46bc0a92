/*
 * embedded.h: lua/sandlot and policies.d, compiled into the binary by
 * tools/embed.lua as Lua bytecode (with debug information).
 */
#ifndef SANDLOT_EMBEDDED_H
#define SANDLOT_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* "lua/sandlot/init.lua", "policies.d/10-runtime.lua" */
    const char *data;
    size_t len;
};

/* Terminated by an entry whose name is NULL; sorted by name. */
extern const struct embedded_file embedded_files[];

#endif
