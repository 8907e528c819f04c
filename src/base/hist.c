#include "base/hist.h"
#include "base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HALF_BITS (OD_HIST_SUB_BITS - 1)
#define HALF_COUNT (1u << HALF_BITS)
#define SUB_MASK ((1u << OD_HIST_SUB_BITS) - 1)

size_t od_hist_index(uint64_t v)
{
    /* bucket: how many powers of two above the first 2048 linear values */
    int bucket = 63 - __builtin_clzll(v | SUB_MASK) - OD_HIST_SUB_BITS + 1;
    uint64_t sub = v >> bucket;
    return ((size_t)bucket << HALF_BITS) + (size_t)sub;
}

uint64_t od_hist_value_at(size_t index)
{
    /* indexes 0..2047 are bucket 0's linear values; past them each bucket's upper half */
    size_t bucket = index >> HALF_BITS;
    uint64_t sub = index & (HALF_COUNT - 1);
    if (bucket > 0) {
        bucket -= 1;
        sub += HALF_COUNT;
    }
    uint64_t lowest = sub << bucket;
    return lowest + ((uint64_t)1 << bucket) - 1;
}

static size_t ncounts(void)
{
    return od_hist_index(OD_HIST_MAX_US) + 1;
}

size_t od_hist_size(void)
{
    return sizeof(od_hist_t) + ncounts() * sizeof(uint64_t);
}

od_hist_t *od_hist_create(void)
{
    od_hist_t *h = od_calloc(1, od_hist_size());
    h->ncounts = ncounts();
    h->min = UINT64_MAX;
    return h;
}

void od_hist_destroy(od_hist_t *h)
{
    free(h);
}

void od_hist_reset(od_hist_t *h)
{
    size_t n = h->ncounts;
    memset(h, 0, od_hist_size());
    h->ncounts = n;
    h->min = UINT64_MAX;
}

void od_hist_record_n(od_hist_t *h, uint64_t v, uint64_t n)
{
    if (v < 1 || v > OD_HIST_MAX_US) {
        h->clamped += n;
        v = v < 1 ? 1 : OD_HIST_MAX_US;
    }
    h->counts[od_hist_index(v)] += n;
    h->total += n;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->sum += (double)v * (double)n;
    h->sumsq += (double)v * (double)v * (double)n;
}

void od_hist_record(od_hist_t *h, uint64_t v)
{
    od_hist_record_n(h, v, 1);
}

void od_hist_merge(od_hist_t *dst, const od_hist_t *src)
{
    for (size_t i = 0; i < dst->ncounts; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->clamped += src->clamped;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

void od_hist_copy(od_hist_t *dst, const od_hist_t *src)
{
    memcpy(dst, src, od_hist_size());
}

uint64_t od_hist_percentile(const od_hist_t *h, double p)
{
    if (h->total == 0) return 0;
    if (p > 100) p = 100;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->ncounts; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = od_hist_value_at(i);
            /* never report beyond what was seen */
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

double od_hist_mean(const od_hist_t *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}

double od_hist_stdev(const od_hist_t *h)
{
    if (h->total < 2) return 0;
    double m = od_hist_mean(h);
    double var = h->sumsq / (double)h->total - m * m;
    return var > 0 ? sqrt(var) : 0;
}
