/*
 * results — the store of every known order: queued, in flight, and the most recent
 * `results_kept` finished ones, indexed by id for GET /orders/{id} and for duplicate checks.
 *
 * Ownership: the store owns every order added to it and frees finished orders beyond
 * `results_kept`, oldest first; orders still queued or in flight are never evicted (their
 * number is bounded by the queue capacity and the workers).  od_results_destroy frees all.
 *
 * Locking: one od_mutex "results" guards the index, the eviction list and every order's
 * lifecycle fields.  Lock order: results before the queue (lanes).  Every worker and the HTTP
 * thread take it for each order, so nothing slow runs under it: the index (open addressing,
 * see results.c) is sized when the pool starts and at each reload for what the store may hold
 * (results_kept, the queue's capacity and the workers: od_results_reserve), so that it does not
 * grow under traffic.  A growth rehashes every order with the lock held, reading each order's
 * id_hash, a cache miss each: 92 ms at a million queued orders, measured, every POST and
 * every worker waiting.  Beyond OD_RESULTS_RESERVE_MAX orders it still doubles as the store
 * fills.  The workers free evicted orders after releasing the lock
 * (od_results_retire_locked, then od_results_free_evicted).
 * One call reads the index without the lock: od_results_prefetch, which only asks the CPU for
 * a line (its two loads are atomic, as are grow's stores of the new table).
 */
#ifndef OD_RESULTS_H
#define OD_RESULTS_H

#include "pool/order.h"
#include "prof/lockprof.h"

typedef struct od_results od_results_t;

/* what od_results_reserve sizes the index for at most: 2^21 orders, 32 MiB of slots */
#define OD_RESULTS_RESERVE_MAX ((size_t)1 << 21)

od_results_t *od_results_create(size_t results_kept);
void od_results_destroy(od_results_t *r);
/**
 * sizes the index for results_kept finished orders and `in_flight` more (queued or being
 * processed), at most OD_RESULTS_RESERVE_MAX of them, so that holding them never rehashes.
 * Never shrinks.  Takes the lock: call it without.  A table from 2 MiB up is mapped, so slots
 * no order has used cost no memory.
 */
void od_results_reserve(od_results_t *r, size_t in_flight);
/** the index's size in slots (for tests) */
size_t od_results_slots(od_results_t *r);

void od_results_lock(od_results_t *r);
void od_results_unlock(od_results_t *r);

/* The following need the lock held. */
/** @return the order with this id, or NULL */
od_order_t *od_results_find_locked(od_results_t *r, const char *id);
/** hashes o's id for the index (o->id_hash) and looks for another order with it
 *  @return 0 if the id is free, -1 if an order already has it */
int od_results_claim_locked(od_results_t *r, od_order_t *o);
/** adds an order, claimed with od_results_claim_locked under this same hold of the lock */
void od_results_add_locked(od_results_t *r, od_order_t *o);
/** removes and frees an order that was never queued (a refused submit) */
void od_results_remove_locked(od_results_t *r, od_order_t *o);
/** marks o finished (state DONE or FAILED already set): it joins the eviction list, and the
 *  oldest finished orders beyond results_kept are freed */
void od_results_finish_locked(od_results_t *r, od_order_t *o);
/** as od_results_finish_locked, but the evicted orders are unlinked, not freed: the chain
 *  (through done_next) is the caller's, to free with od_results_free_evicted once unlocked
 *  @return the evicted orders, NULL when none */
od_order_t *od_results_retire_locked(od_results_t *r, od_order_t *o);

/* Without the lock. */
/** asks the CPU for the index slot where an order with this id would go, so that the
 *  duplicate check under the lock finds it in cache: a hint, called before the body is
 *  parsed; it reads nothing it could fault on and changes nothing */
void od_results_prefetch(od_results_t *r, const char *id, size_t len);
/** frees a chain returned by od_results_retire_locked (NULL is fine) */
void od_results_free_evicted(od_order_t *evicted);

/**
 * finds the order and appends its JSON to out
 * @return 0 if found, -1 if unknown or evicted
 */
int od_results_json(od_results_t *r, const char *id, od_buf_t *out);
size_t od_results_count(od_results_t *r);
/** appends a line "ID<TAB>JSON" for every order the store holds (a hand-over passes them on)
 *  @return how many */
size_t od_results_export(od_results_t *r, od_buf_t *out);

#endif
