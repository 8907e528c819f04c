/*
 * pipeline — the five stages every order passes, each a named C function so that profiles
 * show it, each tuned from lua/workers.lua (od_pool_config_t):
 *
 *   od_stage_validate  the seed's checks (amount limit, item count)
 *   od_stage_reserve   inventory counts per SKU under striped mutexes  → the mutex profile
 *   od_stage_price     tax, discounts, fraud score: CPU work          → the CPU profile
 *   od_stage_pay       the payment wait, priority x 10 ms by default  → the block profile
 *   od_stage_record    allocates the result and history (and leaks)   → the heap profile
 *
 * od_pipeline_run runs them in order for one order on the calling worker thread and sets the
 * outcome (the seed's business rules) or the error.  The inventory is shared by all workers
 * (its stripes are the locks); everything else is per call.  ctx->cfg is the worker's own
 * copy of the pool table (pool.h: a reload swaps it between orders, never during one).
 */
#ifndef OD_PIPELINE_H
#define OD_PIPELINE_H

#include "pool/order.h"
#include "pool/pool.h"
#include "prof/lockprof.h"

typedef struct od_inventory {
    od_mutex_t *stripes;
    int nstripes;
    int64_t *counts;
    int nskus;
    int refs; /* the pool's: the workers using it, and the pool while it is current (pool.h) */
} od_inventory_t;

void od_inventory_init(od_inventory_t *inv, int stripes, int skus);
void od_inventory_dispose(od_inventory_t *inv);

/*
 * The optional per-order hooks a worker's rules provide (rules.h: od_rules_stage_hooks); a
 * NULL member leaves that stage to C.  Each gets the context's `rules` as its first argument.
 */
typedef struct od_stage_hooks {
    /* route(order): may set *priority (1..3, in: the current one) or reject; returns 0, or -1
     * with *err */
    int (*route)(void *rules, const od_order_t *o, int *priority, char **err);
    /* price(order): the price used by the price stage instead of the C work; `priority` is the
     * effective one; returns 0, or -1 with *err */
    int (*price)(void *rules, const od_order_t *o, int priority, double *total, char **err);
} od_stage_hooks_t;

/** what a worker hands each stage; the worker owns it and everything it points to */
typedef struct od_stage_ctx {
    const od_pool_config_t *cfg;
    od_inventory_t *inv;
    int worker_id;
    void *rules;                   /* the worker's rules (rules.h), or NULL */
    const od_stage_hooks_t *hooks; /* their hooks (owned by rules), or NULL: no hooks */
    int priority;                  /* the order's effective priority (route may change it); 0 = o->priority */
} od_stage_ctx_t;

/** the outcome of one order; message is owned by the caller (free(3)) */
typedef struct od_outcome {
    int ok;
    const char *status; /* static business status when ok */
    char *message;      /* result text when ok, error text when not */
    void *record;       /* what the record stage allocated (owned by the order after) */
    double price;       /* what the price stage computed (0 if it did not run) */
    int priority;       /* the effective priority after the route hook */
} od_outcome_t;

/** runs every stage for o; never fails the process, only the order */
void od_pipeline_run(od_stage_ctx_t *ctx, od_order_t *o, od_outcome_t *out);

/* The stages, exported so profiles and tests can name them.  Each returns 0, or -1 with an
 * error message (malloc'd) in *err. */
int od_stage_validate(od_stage_ctx_t *ctx, const od_order_t *o, char **err);
int od_stage_reserve(od_stage_ctx_t *ctx, const od_order_t *o, char **err);
int od_stage_price(od_stage_ctx_t *ctx, const od_order_t *o, double *total, char **err);
int od_stage_pay(od_stage_ctx_t *ctx, const od_order_t *o, char **err);
int od_stage_record(od_stage_ctx_t *ctx, const od_order_t *o, double total, void **record, char **err);

#endif
