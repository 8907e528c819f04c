/* drain — the stop (drain.h) */
#include "drain.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "http/server.h"
#include "pool/pool.h"
#include "pool/stats.h"

int od_drain(od_app_t *app, int sig, const sigset_t *signals)
{
    (void)signals;
    od_pool_snapshot_t snap;
    od_pool_snapshot(app->pool, &snap);
    od_info("%s: draining %zu queued and %d in-flight orders; new orders get 503", strsignal(sig),
            snap.queue_length, snap.active);
    od_pool_drain(app->pool);

    od_stats_t *st = app->stats;
    uint64_t accepted = od_stats_get(&st->accepted), processed = od_stats_get(&st->processed);
    uint64_t ok = od_stats_get(&st->success), errors = od_stats_get(&st->errors);
    fprintf(stderr,
            "orderd: summary: accepted=%llu processed=%llu success=%llu errors=%llu rejected=%llu "
            "uptime=%.1fs %s\n",
            (unsigned long long)accepted, (unsigned long long)processed, (unsigned long long)ok,
            (unsigned long long)errors, (unsigned long long)od_stats_get(&st->rejected),
            (double)(od_now_ns() - st->start_ns) / 1e9,
            accepted == processed && processed == ok + errors ? "(nothing lost)" : "(MISMATCH: orders lost)");
    return accepted == processed ? 0 : 1;
}
