#include "pool/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/lanes.h"
#include "base/log.h"
#include "pool/pipeline.h"
#include "prof/lockprof.h"
#include "prof/threads.h"
#include "prof/trace.h"
#include "pool/results.h"
#include "pool/rules.h"
#include "pool/stats.h"

typedef struct worker {
    od_pool_t *pool;
    int id;
    pthread_t thread;
    int started;
} worker_t;

struct od_pool {
    od_pool_config_t cfg;
    od_results_t *results;
    od_stats_t *stats;
    od_inventory_t inv;

    od_mutex_t qlock; /* guards lanes, draining */
    pthread_cond_t nonempty;
    od_lanes_t lanes;
    int draining;
    int joined;
    int active; /* atomic: workers with an order in hand */

    worker_t *workers;
};

od_pool_t *od_pool_create(const od_pool_config_t *cfg, od_results_t *results, od_stats_t *stats)
{
    od_pool_t *p = od_calloc(1, sizeof(*p));
    p->cfg = *cfg;
    p->results = results;
    p->stats = stats;
    od_inventory_init(&p->inv, cfg->reserve.stripes, cfg->reserve.skus);
    od_mutex_init(&p->qlock, "queue");
    od_cond_init(&p->nonempty);
    od_lanes_init(&p->lanes, cfg->queue, (uint64_t)cfg->starvation_ms * 1000000u);
    p->workers = od_calloc((size_t)cfg->workers, sizeof(*p->workers));
    return p;
}

/* takes the next order, waiting while the queue is empty; NULL once drained */
static od_order_t *next_order(od_pool_t *p)
{
    od_mutex_lock(&p->qlock);
    od_order_t *o;
    while ((o = od_lanes_pop(&p->lanes, od_now_ns())) == NULL && !p->draining) {
        od_thread_set_state("waiting for order");
        od_cond_wait(&p->nonempty, &p->qlock);
    }
    if (o) __atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
    od_mutex_unlock(&p->qlock);
    return o;
}

static void process(od_pool_t *p, worker_t *w, od_stage_ctx_t *ctx, od_order_t *o)
{
    uint64_t start = od_now_ns();
    uint64_t queue_ns = start - o->enqueued_ns; /* o is not to be touched after it retires */
    if (od_trace_active()) od_trace_flow_end(od_order_flow_id(o), o->id);

    od_results_lock(p->results);
    o->state = OD_STATE_PROCESSING;
    o->worker_id = w->id;
    o->queue_ns = start - o->enqueued_ns;
    od_results_unlock(p->results);

    od_outcome_t out;
    od_pipeline_run(ctx, o, &out);
    uint64_t end = od_now_ns();

    od_results_lock(p->results);
    o->state = out.ok ? OD_STATE_DONE : OD_STATE_FAILED;
    o->outcome = out.status;
    o->message = out.message;
    o->record = out.record;
    o->price = out.price;
    if (out.priority) o->priority = out.priority; /* the route hook may have changed it */
    o->processing_ns = end - start;
    o->processed_wall_ns = od_wall_ns();
    /* o may be evicted by a later finish as soon as the lock is released: touch it no more */
    od_order_t *evicted = od_results_retire_locked(p->results, o);
    od_results_unlock(p->results);
    od_results_free_evicted(evicted); /* outside the lock: the other workers and submits need it */

    od_stats_processed(p->stats, out.ok, end - start, queue_ns);
    __atomic_sub_fetch(&p->active, 1, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    od_pool_t *p = w->pool;
    char name[32];
    snprintf(name, sizeof(name), "worker-%d", w->id);
    od_thread_register(name);
    /* the worker's own Lua rules state, built on this thread (NULL when no rules) */
    od_stage_ctx_t ctx = {.cfg = &p->cfg,
                          .inv = &p->inv,
                          .worker_id = w->id,
                          .rules = od_rules_create(p->cfg.rules_path, w->id)};
    ctx.hooks = od_rules_stage_hooks(ctx.rules);

    od_order_t *o;
    while ((o = next_order(p)) != NULL) {
        od_thread_set_state("processing");
        process(p, w, &ctx, o);
    }
    od_rules_destroy(ctx.rules);
    od_thread_unregister();
    return NULL;
}

int od_pool_start(od_pool_t *p)
{
    for (int i = 0; i < p->cfg.workers; i++) {
        worker_t *w = &p->workers[i];
        w->pool = p;
        w->id = i;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            od_error("cannot start worker %d: %s", i, strerror(rc));
            od_pool_drain(p);
            return -1;
        }
        w->started = 1;
    }
    return 0;
}

od_submit_result_t od_pool_submit(od_pool_t *p, od_order_t *o, od_order_receipt_t *receipt)
{
    od_submit_result_t rc = OD_SUBMIT_QUEUED;
    od_results_lock(p->results);
    int generated = o->id[0] == '\0';
    if (generated) od_order_make_id(o);
    while (od_results_claim_locked(p->results, o) != 0) {
        if (!generated) {
            od_results_unlock(p->results);
            return OD_SUBMIT_DUPLICATE;
        }
        od_order_make_id(o); /* a client chose the id we made: make another */
    }
    o->state = OD_STATE_QUEUED;
    o->enqueued_ns = od_now_ns();

    od_mutex_lock(&p->qlock);
    if (p->draining)
        rc = OD_SUBMIT_DRAINING;
    else if (od_lanes_push(&p->lanes, o) != 0)
        rc = OD_SUBMIT_FULL;
    if (rc == OD_SUBMIT_QUEUED) {
        if (od_trace_active()) od_trace_flow_begin(od_order_flow_id(o), o->id);
        pthread_cond_signal(&p->nonempty);
    }
    od_mutex_unlock(&p->qlock);

    if (rc == OD_SUBMIT_QUEUED) {
        /* counted before the lock is released: a worker cannot finish it before this */
        od_results_add_locked(p->results, o);
        memcpy(receipt->id, o->id, sizeof(receipt->id));
        receipt->priority = o->priority;
        receipt->created_wall_ns = o->created_wall_ns;
        od_stats_inc(&p->stats->accepted);
    }
    od_results_unlock(p->results);
    return rc;
}

void od_pool_begin_drain(od_pool_t *p)
{
    od_mutex_lock(&p->qlock);
    p->draining = 1;
    pthread_cond_broadcast(&p->nonempty);
    od_mutex_unlock(&p->qlock);
}

void od_pool_drain(od_pool_t *p)
{
    od_pool_begin_drain(p);
    if (__atomic_exchange_n(&p->joined, 1, __ATOMIC_ACQ_REL)) return;
    for (int i = 0; i < p->cfg.workers; i++)
        if (p->workers[i].started) pthread_join(p->workers[i].thread, NULL);
}

size_t od_pool_abandon(od_pool_t *p, od_buf_t *ids)
{
    size_t n = 0;
    od_mutex_lock(&p->qlock);
    p->draining = 1;
    od_order_t *o;
    while ((o = od_lanes_pop(&p->lanes, 0)) != NULL) { /* ids are immutable: no results lock */
        od_buf_puts(ids, o->id);
        od_buf_puts(ids, "\n");
        n++;
    }
    pthread_cond_broadcast(&p->nonempty);
    od_mutex_unlock(&p->qlock);
    return n;
}

void od_pool_destroy(od_pool_t *p)
{
    if (p == NULL) return;
    od_pool_drain(p);
    pthread_cond_destroy(&p->nonempty);
    od_mutex_destroy(&p->qlock);
    od_inventory_dispose(&p->inv);
    free(p->workers);
    free(p);
}

void od_pool_snapshot(od_pool_t *p, od_pool_snapshot_t *out)
{
    od_mutex_lock(&p->qlock);
    out->queue_length = p->lanes.total;
    out->capacity = p->lanes.capacity;
    for (int i = 0; i < 3; i++)
        out->by_priority[i] = p->lanes.len[i];
    out->draining = p->draining;
    out->starvation_picks = p->lanes.starvation_picks;
    od_mutex_unlock(&p->qlock);
    out->workers = p->cfg.workers;
    out->active = __atomic_load_n(&p->active, __ATOMIC_RELAXED);
}
