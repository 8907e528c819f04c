#include "pool/stats.h"

#include <stdlib.h>

const int od_stats_codes[OD_STATS_CODES] = {200, 202, 400, 401, 404, 405, 409, 413, 415, 422, 500, 503};

void od_stats_init(od_stats_t *s)
{
    *s = (od_stats_t){0};
    s->start_ns = od_now_ns();
    od_mutex_init(&s->lock, "stats");
    s->proc_hist = od_hist_create();
}

void od_stats_dispose(od_stats_t *s)
{
    od_hist_destroy(s->proc_hist);
    od_mutex_destroy(&s->lock);
}

void od_stats_processed(od_stats_t *s, int ok, uint64_t processing_ns)
{
    od_mutex_lock(&s->lock);
    od_hist_record(s->proc_hist, (processing_ns + 500) / 1000);
    od_mutex_unlock(&s->lock);
    od_stats_inc(ok ? &s->success : &s->errors);
    /* processed last: a reader that sees it counted sees the outcome counted too */
    __atomic_add_fetch(&s->processed, 1, __ATOMIC_RELEASE);
}

void od_stats_http(od_stats_t *s, od_route_id_t route, int status)
{
    int col = OD_STATS_CODES;
    for (int i = 0; i < OD_STATS_CODES; i++)
        if (od_stats_codes[i] == status) {
            col = i;
            break;
        }
    od_stats_inc(&s->http[route][col]);
}

void od_stats_hist_copy(od_stats_t *s, od_hist_t *out)
{
    od_mutex_lock(&s->lock);
    od_hist_copy(out, s->proc_hist);
    od_mutex_unlock(&s->lock);
}

const char *od_route_name(od_route_id_t r)
{
    static const char *names[OD_ROUTE_COUNT] = {"POST /orders", "GET /orders/{id}", "/stats",    "/health",
                                                "/metrics",     "/scenarios",       "profiling", "other"};
    return names[r];
}
