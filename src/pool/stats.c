#include "pool/stats.h"

#include <stdlib.h>

void od_stats_init(od_stats_t *s)
{
    *s = (od_stats_t){0};
    s->start_ns = od_now_ns();
    od_mutex_init(&s->lock, "stats");
    s->proc_hist = od_hist_create();
    s->wait_hist = od_hist_create();
}

void od_stats_dispose(od_stats_t *s)
{
    od_hist_destroy(s->proc_hist);
    od_hist_destroy(s->wait_hist);
    od_mutex_destroy(&s->lock);
}

void od_stats_processed(od_stats_t *s, int ok, uint64_t processing_ns, uint64_t queue_ns)
{
    od_mutex_lock(&s->lock);
    od_hist_record(s->proc_hist, (processing_ns + 500) / 1000);
    od_hist_record(s->wait_hist, (queue_ns + 500) / 1000);
    od_mutex_unlock(&s->lock);
    od_stats_inc(ok ? &s->success : &s->errors);
    /* processed last: a reader that sees it counted sees the outcome counted too */
    __atomic_add_fetch(&s->processed, 1, __ATOMIC_RELEASE);
}

void od_stats_hist_copy(od_stats_t *s, od_hist_t *out)
{
    od_mutex_lock(&s->lock);
    od_hist_copy(out, s->proc_hist);
    od_mutex_unlock(&s->lock);
}

void od_stats_wait_copy(od_stats_t *s, od_hist_t *out)
{
    od_mutex_lock(&s->lock);
    od_hist_copy(out, s->wait_hist);
    od_mutex_unlock(&s->lock);
}
