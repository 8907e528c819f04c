/*
 * metrics — GET /metrics in Prometheus' text exposition format (0.0.4), as Prometheus' client
 * libraries write it: the standard process_* metrics, orderd's counters and gauges, the
 * processing-time and queue-wait histograms (buckets from the config's metrics section), and
 * orderd_http_requests_total{method,route,code}, kept here.
 *
 * The request counters are one fixed table of relaxed atomics indexed by small ints: the
 * route's label (router.h), the method's index and the status code's column (a table of the
 * codes orderd and h2o send; anything else is counted in one "other" column).  Counting an
 * answer is an index and an atomic add: no lock, no allocation, no printf.  Each known
 * route's series for its good answer is shown from start, at 0.
 *
 * Threading: od_http_count on any loop thread; od_metrics_get on a loop thread (it reads
 * /proc and the stats, which take their own locks).
 */
#ifndef OD_METRICS_H
#define OD_METRICS_H

#include <stdint.h>

#include "http/request.h"
#include "http/router.h"

#define OD_HTTP_CODES 31 /* the codes counted (http_code_col in metrics.c) and one column for the rest */

extern uint64_t od_http_counts[OD_ROUTE_LABELS_MAX][OD_METHOD_COUNT][OD_HTTP_CODES];
/** the column of a status code (OD_HTTP_CODES - 1: not one of the codes counted) */
int od_http_code_col(int status);
/** the status code of a column, 0 for the last ("other") */
int od_http_code_of_col(int col);

/** counts one answer of the route with label `route` to a request with method index `method` */
static inline void od_http_count(int route, int method, int status)
{
    __atomic_add_fetch(&od_http_counts[route][method][od_http_code_col(status)], 1, __ATOMIC_RELAXED);
}

/** GET /metrics (a handler; returns 0) */
int od_metrics_get(od_req_t *r);

#endif
