/*
 * rules — the optional per-order Lua hooks of lua/rules.lua (named by the YAML's pool.rules),
 * and the bounded Lua states they run in (the profiling schedule uses those too).
 *
 * The script returns a table of hooks and limits (lua/README.md is the reference):
 *
 *   return { price = function(order) ... end,   -- the price used by the price stage
 *            route = function(order) ... end,   -- may change the priority or reject
 *            budget = 1000000,                  -- instructions per call (optional)
 *            memory = "8MiB" }                  -- the state's memory bound (optional)
 *
 * A missing hook leaves that stage to C.  route returns nil/true (unchanged), false[, reason]
 * or { reject = "reason" } (the order fails "rejected by rules: reason"), or
 * { priority = 1..3 } (the rest of the pipeline, the outcome and GET /orders/{id} use it).
 *
 * Every worker builds its own state on its own thread (od_rules_create) and destroys it
 * before it exits; states share nothing and never cross threads.  The hooks are installed
 * once at startup (od_rules_install, before the workers start) into od_rules_hooks
 * (pipeline.h), and are called through the named functions od_rules_price_hook and
 * od_rules_route_hook so that CPU profiles show them.
 *
 * Failures fail the order, never the server: a runtime error ("lua/rules.lua:LINE: message"),
 * a call running past its instruction budget ("rule exceeded its budget ..."), or the state
 * outgrowing its memory bound ("rule exceeded its memory limit ..."; the state is then
 * rebuilt from the script, dropping whatever the script kept in globals).
 */
#ifndef OD_RULES_H
#define OD_RULES_H

#include <lua.h>
#include <stddef.h>

#include "order.h"
#include "util.h"

#define OD_RULES_BUDGET_DEFAULT 1000000L   /* instructions per hook call */
#define OD_RULES_MEMORY_DEFAULT (8u << 20) /* bytes per state */

/* --- bounded Lua states ----------------------------------------------------------------- */

/**
 * returns a new state with od_lua_new's libraries and `orderd` table, minus what could
 * stop the process or lift the limits (os.exit, os.execute, debug, package.loadlib).  Its
 * memory is counted by its allocator and bounded by `memory_limit` bytes; calls made through
 * od_rules_lua_call run under `budget` instructions.  `subject` names the script's code in
 * the budget message ("rule", "schedule entry"; a static string).  Release with
 * od_rules_lua_close.  Aborts on out-of-memory.
 */
lua_State *od_rules_lua_new(size_t memory_limit, long budget, const char *subject);
void od_rules_lua_close(lua_State *L);
/** changes the limits of a state from od_rules_lua_new (0 keeps the current value) */
void od_rules_lua_limits(lua_State *L, size_t memory_limit, long budget);
/** bytes the state has allocated now */
size_t od_rules_lua_memory(lua_State *L);

#define OD_LUA_ERR -1 /* a runtime error, or the budget ran out: the state is fine */
#define OD_LUA_ERRMEM                                                                                        \
    -2 /* the memory bound was hit (what the call held is collected; if what                                 \
        * the state still keeps is large, replace the state) */
/**
 * calls the function below the nargs arguments, protected, under the state's budget
 * @return 0 if successful; OD_LUA_ERR or OD_LUA_ERRMEM with "file:line: message" appended
 *         to err (when err is not NULL)
 */
int od_rules_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err);
/** loads and runs `path` like od_rules_lua_call (text chunks only); same returns */
int od_rules_lua_dofile(lua_State *L, const char *path, int nresults, od_buf_t *err);

/* --- the rules ------------------------------------------------------------------------------ */

typedef struct od_rules od_rules_t;

/**
 * validates the rules script at `path` (syntax, a table of known keys, hooks that are
 * functions, limits in range) without installing anything; "" or NULL is valid (no rules)
 * @return 0 if valid, -1 if not, with one "FILE:LINE: message\n" per problem appended to errors
 */
int od_rules_check(const char *path, od_buf_t *errors);
/**
 * sets od_rules_hooks (pipeline.h) to the hooks the script at `path` defines; "" or NULL
 * clears them.  Call before the pool starts (the hooks are read-only afterwards).
 * @return 0 if successful, -1 if the script does not load (problems appended to errors)
 */
int od_rules_install(const char *path, od_buf_t *errors);

/**
 * a worker's rules: its own state with the script loaded.  Call on the worker's thread.
 * @return NULL when path is NULL or "" (no rules).  When the script fails to load the
 *         object still exists: the failure is logged and every hook call fails the order
 *         with it, retrying the load each time (so a fixed file recovers without a restart).
 */
od_rules_t *od_rules_create(const char *path, int worker_id);
void od_rules_destroy(od_rules_t *r);

/** the price hook: runs price(order); 0, or -1 with *err (malloc'd) */
int od_rules_price_hook(void *rules, const od_order_t *o, int priority, double *total, char **err);
/** the route hook: runs route(order); may set *priority; 0, or -1 with *err (malloc'd) */
int od_rules_route_hook(void *rules, const od_order_t *o, int *priority, char **err);

#endif
