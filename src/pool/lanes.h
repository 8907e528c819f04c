/*
 * lanes — the bounded priority queue in front of the workers: three FIFO lanes (priority 1
 * high, 2 medium, 3 low).  Pop takes the highest-priority lane first, except that a lower
 * lane whose head has waited longer than `starve_ns` goes first (the starvation guard), the
 * longest-waiting such head first.
 *
 * Not locked: the pool guards it with its "queue" mutex.  Borrows the orders (links them
 * through od_order_t.queue_next); never frees them.
 */
#ifndef OD_LANES_H
#define OD_LANES_H

#include <stddef.h>
#include <stdint.h>

#include "pool/order.h"

#define OD_LANES 3

typedef struct od_lanes {
    od_order_t *head[OD_LANES], *tail[OD_LANES];
    size_t len[OD_LANES];
    size_t total, capacity;
    uint64_t starve_ns;        /* 0 = strict priority */
    uint64_t starvation_picks; /* how often the guard took a lower lane first */
} od_lanes_t;

void od_lanes_init(od_lanes_t *l, size_t capacity, uint64_t starve_ns);
/** @return 0 if queued, -1 if the queue is full (o untouched) */
int od_lanes_push(od_lanes_t *l, od_order_t *o);
/** @return the next order by priority and the starvation guard at time now_ns, or NULL */
od_order_t *od_lanes_pop(od_lanes_t *l, uint64_t now_ns);

#endif
