/*
 * pool — the worker pool: the bounded priority queue (lanes.h) and N worker threads that
 * run each order through the pipeline (pipeline.h), tuned by the pool table
 * (pool_config.h, from lua/workers.lua).
 *
 * Lifecycle: od_pool_create → od_pool_start → od_pool_submit (from HTTP threads) →
 * od_pool_drain (stop accepting, finish the queue and every order in flight, join the
 * workers) → od_pool_destroy.
 *
 * Live changes (SIGHUP, reload.h): od_pool_reconfigure installs a new pool table as the next
 * generation, under the queue lock.  Each worker runs with its own copy of one generation;
 * when it takes an order (already under that lock) it compares one counter, and on a change
 * copies the new table and moves to the new inventory, then rebuilds its rules state on its
 * own thread before that order runs — so the stages read their knobs without a lock, and a
 * worker changes only between two orders.  Fewer workers: those whose id is at or above the
 * new count leave when they next look for an order (the one in hand is finished; they are
 * joined at the drain or when their slot is used again); more workers: new threads.  A smaller
 * queue keeps every order already queued; submit answers FULL until the length is below it.
 * A new reserve.stripes or reserve.skus builds a new inventory: workers move to it at their
 * next order; the old one is freed by the last worker to leave it (refcounted under the lock).
 *
 * Locking: the "queue" mutex guards the lanes, the draining flag, the current generation and
 * the worker count.  Lock order: results → queue; a worker never holds the queue lock while
 * it takes another.
 */
#ifndef OD_POOL_H
#define OD_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "pool/order.h"
#include "pool/pool_config.h"

typedef struct od_pool od_pool_t;
struct od_results;
struct od_stats;

/** the pool borrows results and stats; both must outlive it */
od_pool_t *od_pool_create(const od_pool_config_t *cfg, struct od_results *results, struct od_stats *stats);
/** @return 0 if successful, -1 if a thread could not start */
int od_pool_start(od_pool_t *p);

typedef enum od_submit_result {
    OD_SUBMIT_QUEUED = 0,
    OD_SUBMIT_FULL = -1,
    OD_SUBMIT_DRAINING = -2,
    OD_SUBMIT_DUPLICATE = -3,
} od_submit_result_t;

/** what the caller may still know of an order once the store owns it (copied under the lock) */
typedef struct od_order_receipt {
    char id[OD_ORDER_ID_MAX + 1];
    int priority;
    uint64_t created_wall_ns;
} od_order_receipt_t;

/**
 * registers o in the results store and queues it, atomically: on OD_SUBMIT_QUEUED the store
 * owns o (a worker may finish it, and with results_kept 0 free it, before this returns), so
 * what the answer needs is copied into *receipt first; on any other result o is untouched and
 * still the caller's, and *receipt is not written
 */
od_submit_result_t od_pool_submit(od_pool_t *p, od_order_t *o, od_order_receipt_t *receipt);
/**
 * makes cfg the pool's next generation (cfg is copied; its rules_path too): see "Live
 * changes" above.  Main's thread only (as start, drain and destroy); never blocks on an
 * order, except to join a worker that already left when its slot is used again.
 * @return 0 if successful (a new worker thread that cannot start is logged; the others
 *         serve), -1 if the pool is draining (nothing changed)
 */
int od_pool_reconfigure(od_pool_t *p, const od_pool_config_t *cfg);
/** stops accepting, waits until the queue is empty and every worker finished; idempotent */
void od_pool_drain(od_pool_t *p);
/** stops accepting without waiting (submit then answers DRAINING) */
void od_pool_begin_drain(od_pool_t *p);
/** stops accepting and takes every queued order out of the queue, appending its id and a
 *  newline to ids for each (SIGQUIT in a drain: the orders in flight still finish; the store
 *  keeps the taken ones, queued, until it is destroyed)
 *  @return how many were taken */
size_t od_pool_abandon(od_pool_t *p, od_buf_t *ids);
void od_pool_destroy(od_pool_t *p);

typedef struct od_pool_snapshot {
    size_t queue_length, capacity;
    size_t by_priority[3];
    int workers, active; /* active: workers processing an order right now */
    int draining;
    uint64_t starvation_picks;
    uint64_t generation; /* 1 at start, +1 per od_pool_reconfigure */
} od_pool_snapshot_t;
void od_pool_snapshot(od_pool_t *p, od_pool_snapshot_t *out);

#endif
