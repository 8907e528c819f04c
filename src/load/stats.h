/*
 * stats — what orderload measures for one scenario: request counts, status codes, errors by
 * kind, and four histograms, a fifth when the scenario follows its orders (completion
 * latency, accepted -> finished), plus the metrics thresholds read.  A request's latency (from
 * its intended start to its answer) is the sum of three parts, each a histogram:
 *
 *   conn wait   intended start -> a connection could take it (0 unless every connection was
 *               busy: it waited in the backlog for an answer to free one);
 *   send delay  -> sent: the generator's own lateness, what its timing costs;
 *   service     -> its answer read.
 *
 * Each worker thread records into its own od_load_stats_t (no locks, no allocation per
 * sample); the main thread merges them after the threads are joined.  An od_load_result_t is
 * a merged scenario (or total) with its timing, ready for the reports.
 *
 * A scenario's stats may also carry a timeline: the same counts and latencies per second of
 * the scenario's run (sent, completed and errors by the second they happened in, latency by
 * the second the answer came), with small coarse histograms (16 buckets per power of two,
 * within 6.25 %) so that the memory stays bounded: at most OD_TL_MAX_POINTS points, each
 * OD_TL_BUCKETS counters; a scenario longer than that many seconds gets wider steps.
 *
 * Ownership: stats own their histograms and timeline (od_load_stats_init / _dispose); a
 * result owns its name and stats.  Not thread-safe: one writer per object.
 */
#ifndef OD_LOAD_STATS_H
#define OD_LOAD_STATS_H

#include <stdint.h>

#include "base/hist.h"
#include "scenario/scenario.h"

enum {
    OD_ERR_CONNECT, /* the connection could not be opened */
    OD_ERR_READ,    /* reading the answer failed, or it was cut short or malformed */
    OD_ERR_WRITE,   /* sending the request failed */
    OD_ERR_TIMEOUT, /* no complete answer within the scenario's timeout */
    OD_ERR_STATUS,  /* an answer with status >= 400, or one response() rejected */
    OD_ERR_SCRIPT,  /* request() or response() raised an error */
    OD_ERR_KINDS
};
extern const char *const od_err_names[OD_ERR_KINDS];

/* Requests sent at least this long after their intended time are counted as late. */
#define OD_LATE_NS 10000000ull

typedef struct od_load_counts {
    uint64_t scheduled, sent, completed, late, dropped;
    uint64_t queued; /* arrivals that waited in the backlog for a free connection */
    uint64_t errors[OD_ERR_KINDS];
    /* follow = true (follow.c): orders whose 202 was followed, seen done or failed, lost (not
     * seen finished: evicted, polls exhausted, the follow deadline, an unusable Location),
     * and the polls sent */
    uint64_t followed, fdone, ffailed, flost, polls;
    uint64_t status[600]; /* by status code; codes outside 100..599 count at index 0 */
} od_load_counts_t;

/* ---- timeline ---------------------------------------------------------------------------- */

#define OD_TL_MAX_POINTS 600 /* 10 minutes at 1 s; longer scenarios get steps of several seconds */
#define OD_TL_BUCKETS 368    /* 1 µs .. 60 s: 16 exact values, then 16 per power of two */

typedef struct od_tl_point {
    uint64_t sent, completed, errors;
    uint64_t max_us;
    uint32_t lat[OD_TL_BUCKETS];  /* latencies of the answers completed in this step */
    uint64_t finished, cmax_us;   /* follow: orders seen finished in this step */
    uint32_t clat[OD_TL_BUCKETS]; /* their completion latencies */
} od_tl_point_t;

typedef struct od_load_timeline {
    uint64_t step_ns; /* 1 s, or whole seconds when the span needs more than OD_TL_MAX_POINTS */
    size_t npoints;
    od_tl_point_t points[]; /* npoints */
} od_load_timeline_t;

/** returns a zeroed timeline covering `span_ns` (at least one point); release with
 *  od_load_timeline_destroy (free(3)) */
od_load_timeline_t *od_load_timeline_create(uint64_t span_ns);
void od_load_timeline_destroy(od_load_timeline_t *tl);
/** the point for an instant `since_ns` after the scenario's start (the last one beyond the span) */
od_tl_point_t *od_load_timeline_at(od_load_timeline_t *tl, uint64_t since_ns);
/** records one answer's latency into a point */
void od_tl_record(od_tl_point_t *p, uint64_t latency_us);
/** records one followed order's completion latency into a point */
void od_tl_record_completion(od_tl_point_t *p, uint64_t latency_us);
/** the latency at percentile p (0..100] of a point: the upper bound of its bucket, at most the
 *  point's max; 0 when it has no answers */
uint64_t od_tl_percentile(const od_tl_point_t *p, double pct);
/** the same of the point's completion latencies */
uint64_t od_tl_completion_percentile(const od_tl_point_t *p, double pct);
/** dst += src; both must cover the same span (else nothing is added and -1 is returned) */
int od_load_timeline_merge(od_load_timeline_t *dst, const od_load_timeline_t *src);
/** returns a copy of tl; release with od_load_timeline_destroy */
od_load_timeline_t *od_load_timeline_dup(const od_load_timeline_t *tl);

typedef struct od_load_stats {
    od_load_counts_t c;
    od_hist_t *latency, *service, *send_delay;
    od_hist_t *conn_wait;         /* open model: intended start -> a connection could take it */
    od_hist_t *completion;        /* follow: accepted -> done or failed (follow.c says how measured) */
    od_load_timeline_t *timeline; /* owned; NULL: none (totals have none) */
} od_load_stats_t;

void od_load_stats_init(od_load_stats_t *st);
void od_load_stats_dispose(od_load_stats_t *st);
/** dst += src; timelines are added when both have one, and copied into a dst without one
 *  only by od_load_run_result (a total of several scenarios has no timeline) */
void od_load_stats_merge(od_load_stats_t *dst, const od_load_stats_t *src);
void od_load_counts_add(od_load_counts_t *dst, const od_load_counts_t *src);
uint64_t od_load_errors_total(const od_load_counts_t *c);

typedef struct od_load_result {
    char *name;           /* scenario name, or "total" */
    const char *executor; /* static string; NULL for a total */
    double target_rate;   /* per second; 0 for a closed model (no target) */
    double duration_s;    /* the window rates are computed over */
    double achieved_rate; /* sent (completed for a closed model) ÷ duration_s */
    int follow;           /* the scenario follows its orders (a total: any of its scenarios did) */
    od_load_stats_t st;
} od_load_result_t;

void od_load_result_init(od_load_result_t *r, const char *name);
void od_load_result_dispose(od_load_result_t *r);

/**
 * the value of a threshold metric ("latency.p99", "error_rate", ...) in the result; time
 * metrics in µs
 * @return 0 if successful, -1 if the metric is unknown
 */
int od_load_metric(const od_load_result_t *r, const char *metric, double *value);
/** returns 1 when `value OP limit` holds */
int od_load_compare(double value, od_cmp_t op, double limit);

#endif
