/*
 * hist — unit tests (TAP): percentiles against the exact percentiles of known data, the
 * bucket layout, merge, clamping, min/max/mean/stdev.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hist.h"
#include "tap.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* the exact percentile: the value at rank ceil(p/100 × n) of the sorted data */
static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

/* 3 significant digits: the reported value is the top of the exact value's bucket */
static int close_enough(uint64_t got, uint64_t want)
{
    return got >= want && (double)got <= (double)want * (1.0 + 1.0 / 1024) + 1;
}

static uint64_t lcg_state = 42;
static double uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

static const double pcts[] = {1, 10, 50, 75, 90, 95, 99, 99.9, 99.99, 100};

static void check_data(const char *what, uint64_t *data, size_t n)
{
    od_hist_t *h = od_hist_create();
    double sum = 0, sumsq = 0;
    for (size_t i = 0; i < n; i++) {
        od_hist_record(h, data[i]);
        sum += (double)data[i];
        sumsq += (double)data[i] * (double)data[i];
    }
    qsort(data, n, sizeof(*data), cmp_u64);
    int all = 1;
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        uint64_t got = od_hist_percentile(h, pcts[i]), want = exact(data, n, pcts[i]);
        if (!close_enough(got, want)) {
            diag("%s p%g: got %llu, exact %llu", what, pcts[i], (unsigned long long)got,
                 (unsigned long long)want);
            all = 0;
        }
    }
    ok(all, "%s: percentiles within 3 significant digits of the exact ones", what);
    ok(h->min == data[0] && h->max == data[n - 1], "%s: min %llu and max %llu are exact", what,
       (unsigned long long)h->min, (unsigned long long)h->max);
    double mean = sum / (double)n, sd = sqrt(sumsq / (double)n - mean * mean);
    ok(fabs(od_hist_mean(h) - mean) <= mean * 1e-9, "%s: mean %.3f is exact (%.3f)", what, od_hist_mean(h),
       mean);
    ok(fabs(od_hist_stdev(h) - sd) <= sd * 1e-6 + 1e-6, "%s: stdev %.3f is exact (%.3f)", what,
       od_hist_stdev(h), sd);
    ok(h->total == n, "%s: total counts every sample", what);
    od_hist_destroy(h);
}

int main(void)
{
    /* the layout: every value maps to a bucket whose top is >= it and within 1/1024 */
    int layout_ok = 1;
    for (uint64_t v = 1; v <= OD_HIST_MAX_US; v = v < 5000 ? v + 1 : v + v / 997 + 1) {
        size_t i = od_hist_index(v);
        uint64_t top = od_hist_value_at(i);
        if (top < v || (double)top > (double)v * (1.0 + 1.0 / 1024) + 1 || od_hist_index(top) != i ||
            (i > 0 && od_hist_value_at(i - 1) >= v)) {
            diag("value %llu: index %zu top %llu", (unsigned long long)v, i, (unsigned long long)top);
            layout_ok = 0;
            break;
        }
    }
    ok(layout_ok, "bucket layout: each value's bucket top is >= it, within 1/1024, and buckets are ordered");
    ok(od_hist_value_at(od_hist_index(2047)) == 2047 && od_hist_value_at(od_hist_index(2048)) == 2049,
       "values below 2048 are exact; above, buckets double in width per power of two");

    /* known data: 1..100000 once each */
    size_t n = 100000;
    uint64_t *data = malloc(n * sizeof(*data));
    for (size_t i = 0; i < n; i++)
        data[i] = i + 1;
    check_data("1..100000", data, n);

    /* heavy-tailed data: log-uniform from 10 µs to 10 s */
    for (size_t i = 0; i < n; i++)
        data[i] = (uint64_t)exp(log(10) + uniform() * (log(10e6) - log(10)));
    check_data("log-uniform 10us..10s", data, n);

    /* a bimodal load test: 99 % fast, 1 % stalled near one second */
    for (size_t i = 0; i < n; i++)
        data[i] = i % 100 == 0 ? 900000 + (uint64_t)(uniform() * 100000) : 200 + (uint64_t)(uniform() * 300);
    check_data("bimodal", data, n);
    {
        od_hist_t *h = od_hist_create();
        for (size_t i = 0; i < n; i++)
            od_hist_record(h, data[i]);
        ok(od_hist_percentile(h, 98.9) < 1000 && od_hist_percentile(h, 99.5) >= 900000,
           "bimodal: the stall shows above p99 and not below");
        od_hist_destroy(h);
    }

    /* merge: two halves merged equal the whole */
    {
        od_hist_t *a = od_hist_create(), *b = od_hist_create(), *all = od_hist_create();
        for (size_t i = 0; i < n; i++) {
            od_hist_record(i % 2 ? a : b, data[i]);
            od_hist_record(all, data[i]);
        }
        od_hist_merge(a, b);
        ok(a->total == all->total && a->min == all->min && a->max == all->max &&
               memcmp(a->counts, all->counts, a->ncounts * sizeof(uint64_t)) == 0,
           "merge: counts, total, min and max equal recording everything in one");
        ok(fabs(od_hist_mean(a) - od_hist_mean(all)) < 1e-6 &&
               fabs(od_hist_stdev(a) - od_hist_stdev(all)) < 1e-3,
           "merge: mean and stdev equal recording everything in one");
        od_hist_t *c = od_hist_create();
        od_hist_merge(c, a);
        ok(c->total == a->total && c->min == a->min,
           "merge into an empty histogram copies min (UINT64_MAX start)");
        od_hist_t *d = od_hist_create();
        od_hist_copy(d, a);
        ok(d->total == a->total && d->max == a->max && od_hist_percentile(d, 99) == od_hist_percentile(a, 99),
           "copy: the copy reports the same");
        od_hist_reset(d);
        ok(d->total == 0 && d->min == UINT64_MAX && d->max == 0 && od_hist_percentile(d, 50) == 0,
           "reset: empty again");
        od_hist_destroy(a);
        od_hist_destroy(b);
        od_hist_destroy(all);
        od_hist_destroy(c);
        od_hist_destroy(d);
    }

    /* clamping and edge values */
    {
        od_hist_t *h = od_hist_create();
        ok(od_hist_percentile(h, 50) == 0 && od_hist_mean(h) == 0 && od_hist_stdev(h) == 0,
           "empty: percentile, mean and stdev are 0");
        od_hist_record(h, 0);
        od_hist_record(h, 61000000);
        od_hist_record(h, UINT64_MAX);
        ok(h->clamped == 3 && h->min == 1 && h->max == OD_HIST_MAX_US,
           "values outside 1us..60s are clamped and counted");
        ok(od_hist_percentile(h, 100) == OD_HIST_MAX_US && od_hist_percentile(h, 1) == 1,
           "clamped values report at the range's ends");
        od_hist_reset(h);
        od_hist_record_n(h, 1000, 9);
        od_hist_record_n(h, 5000, 1);
        ok(h->total == 10 && od_hist_percentile(h, 90) == 1000 &&
               close_enough(od_hist_percentile(h, 91), 5000),
           "record_n: counts n samples");
        ok(od_hist_percentile(h, 150) == od_hist_percentile(h, 100) && od_hist_percentile(h, 0) == 1000,
           "percentile arguments outside (0, 100] are clamped");
        od_hist_reset(h);
        od_hist_record(h, 7);
        ok(od_hist_percentile(h, 50) == 7 && od_hist_stdev(h) == 0, "a single sample is every percentile");
        od_hist_destroy(h);
    }
    ok(od_hist_size() < 200000, "a histogram takes %zu bytes (cheap to copy per thread)", od_hist_size());

    free(data);
    return done_testing();
}
