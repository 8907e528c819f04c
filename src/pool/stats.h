/*
 * stats — the pool's counters and its two histograms (processing time, queue wait), read by
 * GET /stats, GET /health, GET /metrics, the shutdown summary and the profiling schedule's
 * snapshot.  (The HTTP request counters are the HTTP layer's: http/metrics.h.)
 *
 * Counters are relaxed atomics (exact totals; a reader may see one a moment before
 * another).  Both histograms are guarded by the "stats" mutex, taken once per processed
 * order (on a worker, never on an event loop's request path).
 */
#ifndef OD_STATS_H
#define OD_STATS_H

#include <stdint.h>

#include "base/hist.h"
#include "prof/lockprof.h"

/* a route's group, as od_route_add's callers name it (the metrics label is the route's
 * template: http/router.h) */
typedef enum od_route_id {
    OD_ROUTE_ORDERS_POST,
    OD_ROUTE_ORDERS_GET,
    OD_ROUTE_STATS,
    OD_ROUTE_HEALTH,
    OD_ROUTE_METRICS,
    OD_ROUTE_SCENARIOS,
    OD_ROUTE_PROFILE,
    OD_ROUTE_OTHER,
    OD_ROUTE_COUNT
} od_route_id_t;

typedef struct od_stats {
    uint64_t start_ns;
    uint64_t accepted, rejected, processed, success, errors;
    uint64_t rejected_full, rejected_draining;
    uint64_t reloads_ok, reloads_failed; /* SIGHUP reloads applied and refused (reload.h) */
    od_mutex_t lock;                     /* guards proc_hist and wait_hist */
    od_hist_t *proc_hist;                /* processing time, µs */
    od_hist_t *wait_hist;                /* queue wait (acceptance to a worker taking it), µs */
} od_stats_t;

void od_stats_init(od_stats_t *s);
void od_stats_dispose(od_stats_t *s);
static inline void od_stats_inc(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}
static inline uint64_t od_stats_get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}
/** records one processed order: its outcome, processing time and time spent queued */
void od_stats_processed(od_stats_t *s, int ok, uint64_t processing_ns, uint64_t queue_ns);
/** copies the processing histogram (into a histogram from od_hist_create) */
void od_stats_hist_copy(od_stats_t *s, od_hist_t *out);
/** copies the queue-wait histogram (into a histogram from od_hist_create) */
void od_stats_wait_copy(od_stats_t *s, od_hist_t *out);

#endif
