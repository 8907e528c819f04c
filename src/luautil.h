/*
 * luautil — the old Lua helpers, kept only until their last callers use lua_layer.h; new
 * code must not include this file.  Delete it (and src/luautil.c, and its name in the
 * Makefile's ORDERLOAD_SRC) once nothing includes it.
 *
 *   od_lua_new, od_lua_dofile, od_lua_pcall   src/load/engine.c, src/load/scenario.c
 *                                             → od_lua_open, od_lua_run_file, od_lua_call
 *   od_lua_key_line                           src/schedule.c → od_lua_src_open and
 *                                             od_lua_where_field / od_lua_where_item
 *   od_rules_lua_*                            src/schedule.c → od_lua_open with the sandbox
 *                                             policy, od_lua_close, od_lua_call, ...
 *
 * States from od_lua_new are closed with lua_close; those from od_rules_lua_new with
 * od_rules_lua_close.  One lua_State per thread; nothing here keeps global state.
 */
#ifndef OD_LUAUTIL_H
#define OD_LUAUTIL_H

#include <lua.h>

#include "lua_layer.h" /* the layer that replaces this file */
#include "util.h"

/**
 * returns a new state with the standard libraries and the `orderd` table:
 * orderd.cpus() (online processors), orderd.env(name) (environment variable or nil)
 */
lua_State *od_lua_new(void);

/**
 * loads and runs `path` in protected mode, leaving `nresults` values on the stack
 * @return 0 if successful, -1 if not, with "file:line: message" (and a traceback when
 *         `traceback` is set) appended to err
 */
int od_lua_dofile(lua_State *L, const char *path, int nresults, int traceback, od_buf_t *err);

/**
 * lua_pcall with a message handler; on error appends "file:line: message" to err and pops it
 * @return 0 if successful, -1 if not
 */
int od_lua_pcall(lua_State *L, int nargs, int nresults, od_buf_t *err);

/**
 * the line of the first `key = ` inside the table constructor that `path` returns, for
 * diagnostics about values (Lua tables do not remember where a key was written); 0 when
 * not found.  `after_line` starts the search after that line (for nested tables).
 */
int od_lua_key_line(const char *path, const char *key, int after_line);

/* The sandboxed states the schedule used from rules.h, now od_lua_open with the sandbox
 * policy: thin wrappers until schedule.c calls the layer itself. */
lua_State *od_rules_lua_new(size_t memory_limit, long budget, const char *subject);
void od_rules_lua_close(lua_State *L);
void od_rules_lua_limits(lua_State *L, size_t memory_limit, long budget);
size_t od_rules_lua_memory(lua_State *L);
int od_rules_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err);
int od_rules_lua_dofile(lua_State *L, const char *path, int nresults, od_buf_t *err);

#endif
