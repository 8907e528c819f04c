/*
 * rules — the optional per-order Lua hooks of lua/rules.lua (named by the YAML's pool.rules).
 * They run in the Lua layer's sandbox (lua_layer.h: od_lua_open with the sandbox policy, an
 * instruction budget and a memory bound); the script's table is checked through a schema.
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
 * before it exits; states share nothing and never cross threads.  The pipeline reaches the
 * hooks through the worker's stage context (pipeline.h: ctx->rules and ctx->hooks, from
 * od_rules_stage_hooks), never through a global; they are the named functions
 * od_rules_price_hook and od_rules_route_hook so that CPU profiles show them.
 *
 * Failures fail the order, never the server: a runtime error ("lua/rules.lua:LINE: message"),
 * a call running past its instruction budget ("rule exceeded its budget ..."), or the state
 * outgrowing its memory bound ("rule exceeded its memory limit ..."; the state is then
 * rebuilt from the script, dropping whatever the script kept in globals).
 */
#ifndef OD_RULES_H
#define OD_RULES_H

#include <stddef.h>

#include "pool/order.h"
#include "base/util.h"

#define OD_RULES_BUDGET_DEFAULT 1000000L   /* instructions per hook call */
#define OD_RULES_MEMORY_DEFAULT (8u << 20) /* bytes per state */

struct od_stage_hooks; /* pipeline.h */

/* --- the rules ------------------------------------------------------------------------------ */

typedef struct od_rules od_rules_t;

/**
 * validates the rules script at `path` (syntax, a table of known keys, hooks that are
 * functions, limits in range) without installing anything; "" or NULL is valid (no rules)
 * @return 0 if valid, -1 if not, with one "FILE:LINE: message\n" per problem appended to errors
 */
int od_rules_check(const char *path, od_buf_t *errors);
/**
 * checks the script at `path` as od_rules_check does and logs what every worker will run
 * (the hooks, the budget and the memory bound); "" or NULL: no rules.  Call once at startup.
 * The hooks themselves are per worker: od_rules_stage_hooks.
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
/**
 * the hooks of r for its worker's stage context (pipeline.h): those the script defined when
 * r was created (both when it did not load, so that orders fail saying why)
 * @return the hooks, owned by r; NULL when r is NULL
 */
const struct od_stage_hooks *od_rules_stage_hooks(const od_rules_t *r);

/** the price hook: runs price(order); 0, or -1 with *err (malloc'd) */
int od_rules_price_hook(void *rules, const od_order_t *o, int priority, double *total, char **err);
/** the route hook: runs route(order); may set *priority; 0, or -1 with *err (malloc'd) */
int od_rules_route_hook(void *rules, const od_order_t *o, int *priority, char **err);

#endif
