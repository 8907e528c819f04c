/*
 * load_timeline — unit tests (TAP) for orderload's per-second timeline (src/load/stats.c):
 * the coarse latency buckets and their percentiles, the points of a span, merging, and the
 * bound on the number of points.
 */
#include <stdlib.h>

#include "../../src/load/stats.c"
#include "tap.h"

int main(void)
{
    /* buckets: every value lands in a bucket whose upper bound is within 1/16 above it */
    int layout_ok = 1;
    for (uint64_t v = 1; v <= OD_HIST_MAX_US; v = v < 100 ? v + 1 : v + v / 7 + 1) {
        size_t i = tl_index(v);
        uint64_t up = tl_upper(i);
        if (i >= OD_TL_BUCKETS || up < v || (double)up > (double)v * (1 + 1.0 / 16) + 1 ||
            (i > 0 && tl_upper(i - 1) >= v))
            layout_ok = 0;
    }
    ok(layout_ok, "each value's bucket holds it, with an upper bound within 6.25 %%");
    is_int(tl_index(OD_HIST_MAX_US * 10), tl_index(OD_HIST_MAX_US), "values above 60 s are clamped");

    /* percentiles of one point: 1..1000 µs */
    od_tl_point_t p;
    memset(&p, 0, sizeof(p));
    is_int(od_tl_percentile(&p, 50), 0, "an empty point's percentile is 0");
    for (uint64_t v = 1; v <= 1000; v++)
        od_tl_record(&p, v);
    uint64_t p50 = od_tl_percentile(&p, 50), p99 = od_tl_percentile(&p, 99);
    ok(p50 >= 500 && p50 <= 500 * 17 / 16 + 1, "p50 of 1..1000 is 500 within a bucket (%llu)",
       (unsigned long long)p50);
    ok(p99 >= 990 && p99 <= 1000, "p99 of 1..1000 is 990..1000, never above the max (%llu)",
       (unsigned long long)p99);
    is_int(od_tl_percentile(&p, 100), 1000, "p100 is the max");
    is_int(p.max_us, 1000, "the point keeps the exact max");

    /* a span: 1 s points, the last one catching what comes later */
    od_load_timeline_t *a = od_load_timeline_create(3500000000ull);
    is_int(a->npoints, 4, "3.5 s of span: 4 points");
    is_int(a->step_ns, 1000000000ull, "... of 1 s");
    ok(od_load_timeline_at(a, 0) == &a->points[0], "instant 0 is in the first point");
    ok(od_load_timeline_at(a, 1999999999ull) == &a->points[1], "1.999 s is in the second");
    ok(od_load_timeline_at(a, 100000000000ull) == &a->points[3], "beyond the span: the last point");
    od_load_timeline_at(a, 1500000000ull)->sent = 7;
    od_tl_record(od_load_timeline_at(a, 1500000000ull), 250);

    od_load_timeline_t *b = od_load_timeline_dup(a);
    ok(od_load_timeline_merge(a, b) == 0, "same spans merge");
    is_int(a->points[1].sent, 14, "... adding counts");
    is_int(od_tl_percentile(&a->points[1], 50), 250, "... and latencies");
    od_load_timeline_t *c = od_load_timeline_create(10000000000ull);
    ok(od_load_timeline_merge(a, c) == -1, "different spans do not merge");

    /* bounded: an hour-long scenario gets 6 s steps, not 3600 points */
    od_load_timeline_t *h = od_load_timeline_create(3600000000000ull);
    ok(h->npoints <= OD_TL_MAX_POINTS, "an hour: at most %d points (%zu)", OD_TL_MAX_POINTS, h->npoints);
    is_int(h->step_ns, 6000000000ull, "... of 6 s each");

    /* stats own the timeline */
    od_load_stats_t st;
    od_load_stats_init(&st);
    ok(st.timeline == NULL, "stats start without a timeline");
    st.timeline = od_load_timeline_create(1000000000ull);
    od_load_stats_dispose(&st);
    ok(st.timeline == NULL, "dispose releases it");

    od_load_timeline_destroy(a);
    od_load_timeline_destroy(b);
    od_load_timeline_destroy(c);
    od_load_timeline_destroy(h);
    return done_testing();
}
