/*
 * stats — the server's counters and processing-time histogram, read by GET /stats,
 * GET /health, GET /metrics, the shutdown summary and the profiling schedule's snapshot.
 *
 * Counters are relaxed atomics (exact totals; a reader may see one a moment before
 * another).  The processing-time histogram is guarded by the "stats" mutex.  HTTP request
 * counts by route and status are atomics in a fixed table.
 */
#ifndef OD_STATS_H
#define OD_STATS_H

#include <stdint.h>

#include "base/hist.h"
#include "prof/lockprof.h"

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

#define OD_STATS_CODES 12 /* the codes counted: od_stats_codes in stats.c; one more column, "other" */

typedef struct od_stats {
    uint64_t start_ns;
    uint64_t accepted, rejected, processed, success, errors;
    uint64_t rejected_full, rejected_draining;
    od_mutex_t lock;      /* guards proc_hist */
    od_hist_t *proc_hist; /* processing time, µs */
    uint64_t http[OD_ROUTE_COUNT][OD_STATS_CODES + 1];
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
/** records one processed order: its outcome and processing time */
void od_stats_processed(od_stats_t *s, int ok, uint64_t processing_ns);
/** counts an HTTP answer */
void od_stats_http(od_stats_t *s, od_route_id_t route, int status);
/** copies the processing histogram (into a histogram from od_hist_create) */
void od_stats_hist_copy(od_stats_t *s, od_hist_t *out);
const char *od_route_name(od_route_id_t r);
/** the status codes counted, in column order (OD_STATS_CODES entries; the last column is "other") */
extern const int od_stats_codes[OD_STATS_CODES];

#endif
