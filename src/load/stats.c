/*
 * stats — see stats.h.
 */
#include "load/stats.h"

#include <stdlib.h>
#include <string.h>

const char *const od_err_names[OD_ERR_KINDS] = {"connect", "read", "write", "timeout", "status", "script"};

void od_load_stats_init(od_load_stats_t *st)
{
    memset(&st->c, 0, sizeof(st->c));
    st->latency = od_hist_create();
    st->service = od_hist_create();
    st->send_delay = od_hist_create();
    st->conn_wait = od_hist_create();
    st->completion = od_hist_create();
    st->timeline = NULL;
}

void od_load_stats_dispose(od_load_stats_t *st)
{
    od_hist_destroy(st->latency);
    od_hist_destroy(st->service);
    od_hist_destroy(st->send_delay);
    od_hist_destroy(st->conn_wait);
    od_hist_destroy(st->completion);
    st->latency = st->service = st->send_delay = st->conn_wait = st->completion = NULL;
    od_load_timeline_destroy(st->timeline);
    st->timeline = NULL;
}

void od_load_counts_add(od_load_counts_t *dst, const od_load_counts_t *src)
{
    dst->scheduled += src->scheduled;
    dst->sent += src->sent;
    dst->completed += src->completed;
    dst->late += src->late;
    dst->dropped += src->dropped;
    dst->queued += src->queued;
    dst->followed += src->followed;
    dst->fdone += src->fdone;
    dst->ffailed += src->ffailed;
    dst->flost += src->flost;
    dst->polls += src->polls;
    for (int i = 0; i < OD_ERR_KINDS; i++)
        dst->errors[i] += src->errors[i];
    for (size_t i = 0; i < OD_ARRAY_SIZE(dst->status); i++)
        dst->status[i] += src->status[i];
}

void od_load_stats_merge(od_load_stats_t *dst, const od_load_stats_t *src)
{
    od_load_counts_add(&dst->c, &src->c);
    od_hist_merge(dst->latency, src->latency);
    od_hist_merge(dst->service, src->service);
    od_hist_merge(dst->send_delay, src->send_delay);
    od_hist_merge(dst->conn_wait, src->conn_wait);
    od_hist_merge(dst->completion, src->completion);
    if (dst->timeline && src->timeline) od_load_timeline_merge(dst->timeline, src->timeline);
}

uint64_t od_load_errors_total(const od_load_counts_t *c)
{
    uint64_t n = 0;
    for (int i = 0; i < OD_ERR_KINDS; i++)
        n += c->errors[i];
    return n;
}

/* ---- timeline ---------------------------------------------------------------------------- */

od_load_timeline_t *od_load_timeline_create(uint64_t span_ns)
{
    uint64_t step = 1000000000ull;
    uint64_t secs = (span_ns + step - 1) / step;
    if (secs > OD_TL_MAX_POINTS) step *= (secs + OD_TL_MAX_POINTS - 1) / OD_TL_MAX_POINTS;
    size_t n = (size_t)((span_ns + step - 1) / step);
    if (n == 0) n = 1;
    od_load_timeline_t *tl = od_calloc(1, sizeof(*tl) + n * sizeof(tl->points[0]));
    tl->step_ns = step;
    tl->npoints = n;
    return tl;
}

void od_load_timeline_destroy(od_load_timeline_t *tl)
{
    free(tl);
}

od_tl_point_t *od_load_timeline_at(od_load_timeline_t *tl, uint64_t since_ns)
{
    uint64_t i = since_ns / tl->step_ns;
    return &tl->points[i < tl->npoints ? i : tl->npoints - 1];
}

/* values below 16 have a bucket each; above, 16 buckets per power of two */
static size_t tl_index(uint64_t us)
{
    if (us > OD_HIST_MAX_US) us = OD_HIST_MAX_US;
    if (us < 16) return (size_t)us;
    int msb = 63 - __builtin_clzll(us);
    return 16 + (size_t)(msb - 4) * 16 + (size_t)((us >> (msb - 4)) & 15);
}

/* the highest value of bucket i */
static uint64_t tl_upper(size_t i)
{
    if (i < 16) return i;
    int msb = (int)((i - 16) / 16) + 4;
    uint64_t sub = (i - 16) % 16;
    return ((16 + sub + 1) << (msb - 4)) - 1;
}

void od_tl_record(od_tl_point_t *p, uint64_t us)
{
    p->lat[tl_index(us)]++;
    if (us > p->max_us) p->max_us = us;
}

void od_tl_record_completion(od_tl_point_t *p, uint64_t us)
{
    p->clat[tl_index(us)]++;
    p->finished++;
    if (us > p->cmax_us) p->cmax_us = us;
}

static uint64_t buckets_percentile(const uint32_t *lat, uint64_t max_us, double pct)
{
    uint64_t total = 0;
    for (size_t i = 0; i < OD_TL_BUCKETS; i++)
        total += lat[i];
    if (total == 0) return 0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)total + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
    uint64_t seen = 0;
    for (size_t i = 0; i < OD_TL_BUCKETS; i++) {
        seen += lat[i];
        if (seen >= rank) {
            uint64_t v = tl_upper(i);
            return v < max_us ? v : max_us;
        }
    }
    return max_us;
}

uint64_t od_tl_percentile(const od_tl_point_t *p, double pct)
{
    return buckets_percentile(p->lat, p->max_us, pct);
}

uint64_t od_tl_completion_percentile(const od_tl_point_t *p, double pct)
{
    return buckets_percentile(p->clat, p->cmax_us, pct);
}

int od_load_timeline_merge(od_load_timeline_t *dst, const od_load_timeline_t *src)
{
    if (dst->npoints != src->npoints || dst->step_ns != src->step_ns) return -1;
    for (size_t i = 0; i < dst->npoints; i++) {
        od_tl_point_t *d = &dst->points[i];
        const od_tl_point_t *s = &src->points[i];
        d->sent += s->sent;
        d->completed += s->completed;
        d->errors += s->errors;
        if (s->max_us > d->max_us) d->max_us = s->max_us;
        d->finished += s->finished;
        if (s->cmax_us > d->cmax_us) d->cmax_us = s->cmax_us;
        for (size_t j = 0; j < OD_TL_BUCKETS; j++) {
            d->lat[j] += s->lat[j];
            d->clat[j] += s->clat[j];
        }
    }
    return 0;
}

od_load_timeline_t *od_load_timeline_dup(const od_load_timeline_t *tl)
{
    size_t sz = sizeof(*tl) + tl->npoints * sizeof(tl->points[0]);
    od_load_timeline_t *c = od_malloc(sz);
    memcpy(c, tl, sz);
    return c;
}

/* ---- results ------------------------------------------------------------------------------ */

void od_load_result_init(od_load_result_t *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->name = od_strdup(name);
    od_load_stats_init(&r->st);
}

void od_load_result_dispose(od_load_result_t *r)
{
    free(r->name);
    od_load_stats_dispose(&r->st);
}

static int hist_stat(const od_hist_t *h, const char *stat, double *v)
{
    if (strcmp(stat, "min") == 0)
        *v = h->total ? (double)h->min : 0;
    else if (strcmp(stat, "max") == 0)
        *v = (double)h->max;
    else if (strcmp(stat, "mean") == 0)
        *v = od_hist_mean(h);
    else if (strcmp(stat, "stdev") == 0)
        *v = od_hist_stdev(h);
    else if (stat[0] == 'p') {
        char *end;
        double p = strtod(stat + 1, &end);
        if (end == stat + 1 || *end != '\0' || !(p > 0 && p <= 100)) return -1;
        *v = (double)od_hist_percentile(h, p);
    } else
        return -1;
    return 0;
}

int od_load_metric(const od_load_result_t *r, const char *metric, double *value)
{
    const od_load_counts_t *c = &r->st.c;
    double sent = c->sent ? (double)c->sent : 1;
    double sched = c->scheduled ? (double)c->scheduled : 1;
    if (strncmp(metric, "latency.", 8) == 0) return hist_stat(r->st.latency, metric + 8, value);
    if (strncmp(metric, "service_time.", 13) == 0) return hist_stat(r->st.service, metric + 13, value);
    if (strncmp(metric, "send_delay.", 11) == 0) return hist_stat(r->st.send_delay, metric + 11, value);
    if (strncmp(metric, "conn_wait.", 10) == 0) return hist_stat(r->st.conn_wait, metric + 10, value);
    if (strncmp(metric, "completion.", 11) == 0) return hist_stat(r->st.completion, metric + 11, value);
    if (strcmp(metric, "scheduled") == 0)
        *value = (double)c->scheduled;
    else if (strcmp(metric, "sent") == 0)
        *value = (double)c->sent;
    else if (strcmp(metric, "completed") == 0)
        *value = (double)c->completed;
    else if (strcmp(metric, "late") == 0)
        *value = (double)c->late;
    else if (strcmp(metric, "dropped") == 0)
        *value = (double)c->dropped;
    else if (strcmp(metric, "errors") == 0)
        *value = (double)od_load_errors_total(c);
    else if (strcmp(metric, "error_rate") == 0)
        *value = (double)od_load_errors_total(c) / sent;
    else if (strcmp(metric, "drop_rate") == 0)
        *value = (double)c->dropped / sched;
    else if (strcmp(metric, "rate") == 0)
        *value = r->achieved_rate;
    else
        return -1;
    return 0;
}

int od_load_compare(double v, od_cmp_t op, double limit)
{
    switch (op) {
    case OD_CMP_LT:
        return v < limit;
    case OD_CMP_LE:
        return v <= limit;
    case OD_CMP_GT:
        return v > limit;
    case OD_CMP_GE:
        return v >= limit;
    case OD_CMP_EQ:
        return v == limit;
    }
    return 0;
}
