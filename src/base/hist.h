/*
 * hist — a log-linear histogram of microsecond values, 1 µs to 60 s at 3 significant digits
 * (the HdrHistogram layout: 2048 linear sub-buckets per power of two), with exact count,
 * min, max, mean and standard deviation alongside.
 *
 * Recording never allocates; values outside [1, 60 s] are clamped into range (and counted
 * in `clamped`).  Histograms with the same layout merge by adding counts, so each thread
 * records into its own and a reader merges copies.  Not thread-safe: one writer, or guard it.
 */
#ifndef OD_HIST_H
#define OD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define OD_HIST_MAX_US 60000000ull
#define OD_HIST_SUB_BITS 11 /* 2048 sub-buckets: 3 significant decimal digits */

typedef struct od_hist {
    uint64_t total;
    uint64_t min, max; /* of recorded (clamped) values; min = UINT64_MAX when empty */
    double sum, sumsq;
    uint64_t clamped;
    size_t ncounts;
    uint64_t counts[]; /* ncounts */
} od_hist_t;

/** returns a new empty histogram; release with od_hist_destroy (free(3)) */
od_hist_t *od_hist_create(void);
void od_hist_destroy(od_hist_t *h);
void od_hist_reset(od_hist_t *h);
void od_hist_record(od_hist_t *h, uint64_t value_us);
/** adds n occurrences of value_us */
void od_hist_record_n(od_hist_t *h, uint64_t value_us, uint64_t n);
/** dst += src */
void od_hist_merge(od_hist_t *dst, const od_hist_t *src);
/** copies src into dst (same layout) */
void od_hist_copy(od_hist_t *dst, const od_hist_t *src);
/** the value at percentile p (0..100]: the highest value equivalent to the sample at rank
 *  ceil(p/100 × total); 0 when empty */
uint64_t od_hist_percentile(const od_hist_t *h, double p);
double od_hist_mean(const od_hist_t *h);
double od_hist_stdev(const od_hist_t *h);
/** size of the whole struct in bytes (for copying) */
size_t od_hist_size(void);
/** iteration helpers for exporters: the counts index for a value, and the highest value
 *  equivalent to an index */
size_t od_hist_index(uint64_t value_us);
uint64_t od_hist_value_at(size_t index);

#endif
