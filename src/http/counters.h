/*
 * counters — the request counters behind orderd_http_requests_total{method,route,code}
 * (metrics.h prints them): one fixed table of relaxed atomics indexed by small ints, the
 * route's label (router.h), the method's index and the status code's column (a table of the
 * codes orderd and h2o send; anything else is counted in one "other" column).  Counting an
 * answer is an index and an atomic add: no lock, no allocation, no printf.  The answers are
 * counted where they are sent (request.c, fallback.c), the table is read by metrics.c; this
 * module includes nothing of the HTTP layer, so that every part of it may count.
 *
 * Threading: od_http_count on any thread; readers load each counter atomically.
 */
#ifndef OD_COUNTERS_H
#define OD_COUNTERS_H

#include <stdint.h>

#define OD_ROUTE_LABELS_MAX 97 /* routes (at most 96) and "other" (router.h's labels) */
#define OD_METHOD_COUNT 8      /* GET HEAD POST PUT DELETE PATCH OPTIONS other (router.h) */
#define OD_HTTP_CODES 31       /* the codes counted (codes[] in counters.c) and one column for the rest */

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

#endif
