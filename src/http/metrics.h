/*
 * metrics — GET /metrics in Prometheus' text exposition format (0.0.4), as Prometheus' client
 * libraries write it: the standard process_* metrics, orderd's counters and gauges, the
 * processing-time and queue-wait histograms (buckets from the config's metrics section), and
 * orderd_http_requests_total{method,route,code} from the request counters (counters.h).
 * Each known route's series for its good answer is shown from start, at 0.
 *
 * Threading: od_metrics_get on a loop thread (it reads /proc and the stats, which take their
 * own locks).
 */
#ifndef OD_METRICS_H
#define OD_METRICS_H

#include <stdint.h>

#include "http/counters.h"
#include "http/request.h"
#include "http/router.h"

/** GET /metrics (a handler; returns 0) */
int od_metrics_get(od_req_t *r);

#endif
