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
    int started; /* main's thread only: a thread runs, or ran and is not joined yet, in this slot */
    int exited;  /* under qlock: the thread has left its loop (joining it will not wait) */
} worker_t;

struct od_pool {
    od_pool_config_t cfg; /* under qlock: the current generation (workers copy it) */
    char *rules_path;     /* owned; cfg.rules_path points to it */
    uint64_t gen;         /* under qlock: +1 per od_pool_reconfigure */
    od_inventory_t *inv;  /* under qlock: the current inventory (refcounted: inv->refs) */
    od_results_t *results;
    od_stats_t *stats;

    od_mutex_t qlock; /* guards lanes, draining, cfg, gen, inv, target, worker_t.exited */
    pthread_cond_t nonempty;
    od_lanes_t lanes;
    int draining;
    int joined;
    int active; /* atomic: workers with an order in hand */
    int target; /* under qlock: the workers wanted; ids at or above it leave between orders */

    worker_t **workers; /* main's thread only: nslots slots, grown, never shrunk */
    int nslots;
};

/* what a worker runs with: its own copy of one generation, so the stages read it unlocked */
typedef struct own {
    uint64_t gen;
    od_pool_config_t cfg;
    char *rules_path; /* owned copy */
    od_inventory_t *inv;
} own_t;

static od_inventory_t *inventory_create(int stripes, int skus)
{
    od_inventory_t *inv = od_malloc(sizeof(*inv));
    od_inventory_init(inv, stripes, skus);
    inv->refs = 1;
    return inv;
}

/* drops one reference (under qlock); returns inv when it was the last, for the caller to free
 * outside the lock, else NULL */
static od_inventory_t *inventory_unref_locked(od_inventory_t *inv)
{
    return inv && --inv->refs == 0 ? inv : NULL;
}

static void inventory_free(od_inventory_t *inv)
{
    if (inv == NULL) return;
    od_inventory_dispose(inv);
    free(inv);
}

static void set_config_locked(od_pool_t *p, const od_pool_config_t *cfg, char *rules_path)
{
    p->cfg = *cfg;
    p->rules_path = rules_path;
    p->cfg.rules_path = rules_path;
    p->lanes.capacity = cfg->queue; /* shrinking keeps what is queued: push refuses until below */
    p->lanes.starve_ns = (uint64_t)cfg->starvation_ms * 1000000u;
    p->target = cfg->workers;
    p->gen++;
}

/* sizes the results index for every order cfg lets the store hold beyond its kept ones (a
 * full queue and one in each worker's hands), so that it does not rehash under traffic */
static void reserve_index(od_results_t *results, const od_pool_config_t *cfg)
{
    od_results_reserve(results, cfg->queue + (size_t)cfg->workers);
}

od_pool_t *od_pool_create(const od_pool_config_t *cfg, od_results_t *results, od_stats_t *stats)
{
    od_pool_t *p = od_calloc(1, sizeof(*p));
    p->results = results;
    p->stats = stats;
    reserve_index(results, cfg);
    p->inv = inventory_create(cfg->reserve.stripes, cfg->reserve.skus);
    od_mutex_init(&p->qlock, "queue");
    od_cond_init(&p->nonempty);
    od_lanes_init(&p->lanes, cfg->queue, 0);
    set_config_locked(p, cfg, od_strdup(cfg->rules_path ? cfg->rules_path : ""));
    return p;
}

/* copies the current generation into w's own (under qlock); returns the inventory it let go
 * of when that was its last reference (to free outside the lock) */
static od_inventory_t *adopt_locked(od_pool_t *p, own_t *own)
{
    od_inventory_t *dropped = NULL;
    if (own->inv != p->inv) {
        dropped = inventory_unref_locked(own->inv);
        own->inv = p->inv;
        own->inv->refs++;
    }
    own->cfg = p->cfg;
    free(own->rules_path);
    own->rules_path = od_strdup(p->rules_path);
    own->cfg.rules_path = own->rules_path;
    own->gen = p->gen;
    return dropped;
}

/*
 * takes the next order, waiting while the queue is empty; NULL once drained or once w is
 * beyond the worker count (it leaves only here, between orders).  A new generation is adopted
 * on the way: *changed is then set, and the rules must be rebuilt before the order runs.
 */
static od_order_t *next_order(od_pool_t *p, worker_t *w, own_t *own, int *changed)
{
    od_inventory_t *dropped = NULL;
    od_mutex_lock(&p->qlock);
    od_order_t *o = NULL;
    while (w->id < p->target && (o = od_lanes_pop(&p->lanes, od_now_ns())) == NULL && !p->draining) {
        od_thread_set_state("waiting for order");
        od_cond_wait(&p->nonempty, &p->qlock);
    }
    *changed = own->gen != p->gen;
    if (*changed) dropped = adopt_locked(p, own);
    if (o)
        __atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
    else
        w->exited = 1;
    od_mutex_unlock(&p->qlock);
    inventory_free(dropped);
    return o;
}

static void process(od_pool_t *p, worker_t *w, od_stage_ctx_t *ctx, od_order_t *o)
{
    uint64_t start = od_now_ns();
    uint64_t queue_ns = start - o->enqueued_ns; /* o is not to be touched after it retires */
    if (od_trace_active()) od_trace_flow_end(od_order_flow_id(o), od_order_id(o));

    od_results_lock(p->results);
    o->state = OD_STATE_PROCESSING;
    o->worker_id = w->id;
    o->queue_ns = queue_ns; /* over enqueued_ns, which nothing reads once the order is taken */
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

/* the worker's own Lua rules state, (re)built on its thread (NULL when no rules) */
static void build_rules(od_stage_ctx_t *ctx, const own_t *own, int worker_id)
{
    od_rules_destroy(ctx->rules);
    ctx->rules = od_rules_create(own->rules_path, worker_id);
    ctx->hooks = od_rules_stage_hooks(ctx->rules);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    od_pool_t *p = w->pool;
    char name[32];
    snprintf(name, sizeof(name), "worker-%d", w->id);
    od_thread_register(name);
    own_t own = {0};
    od_mutex_lock(&p->qlock);
    adopt_locked(p, &own); /* own held no inventory: nothing dropped */
    od_mutex_unlock(&p->qlock);
    od_stage_ctx_t ctx = {.cfg = &own.cfg, .inv = own.inv, .worker_id = w->id};
    build_rules(&ctx, &own, w->id);

    od_order_t *o;
    int changed;
    while ((o = next_order(p, w, &own, &changed)) != NULL) {
        if (changed) { /* a reload: between two orders, the new knobs, inventory and rules */
            ctx.inv = own.inv;
            build_rules(&ctx, &own, w->id);
        }
        od_thread_set_state("processing");
        process(p, w, &ctx, o);
    }
    od_rules_destroy(ctx.rules);
    od_mutex_lock(&p->qlock);
    od_inventory_t *dropped = inventory_unref_locked(own.inv);
    od_mutex_unlock(&p->qlock);
    inventory_free(dropped);
    free(own.rules_path);
    od_thread_unregister();
    return NULL;
}

/* the slot for worker id (grown on demand; main's thread only) */
static worker_t *slot(od_pool_t *p, int id)
{
    if (id >= p->nslots) {
        p->workers = od_realloc(p->workers, (size_t)(id + 1) * sizeof(*p->workers));
        for (int i = p->nslots; i <= id; i++)
            p->workers[i] = od_calloc(1, sizeof(worker_t));
        p->nslots = id + 1;
    }
    return p->workers[id];
}

static int start_worker(od_pool_t *p, int id)
{
    worker_t *w = slot(p, id);
    w->pool = p;
    w->id = id;
    w->exited = 0; /* no thread runs in this slot: nobody else reads it */
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        od_error("cannot start worker %d: %s", id, strerror(rc));
        return -1;
    }
    w->started = 1;
    return 0;
}

int od_pool_start(od_pool_t *p)
{
    for (int i = 0; i < p->cfg.workers; i++)
        if (start_worker(p, i) != 0) {
            od_pool_drain(p);
            return -1;
        }
    return 0;
}

int od_pool_reconfigure(od_pool_t *p, const od_pool_config_t *cfg)
{
    /* built outside the lock; the workers move to it one by one, between orders */
    od_inventory_t *fresh = NULL, *dropped = NULL;
    if (cfg->reserve.stripes != p->cfg.reserve.stripes || cfg->reserve.skus != p->cfg.reserve.skus)
        fresh = inventory_create(cfg->reserve.stripes, cfg->reserve.skus);
    char *path = od_strdup(cfg->rules_path ? cfg->rules_path : "");
    reserve_index(p->results, cfg); /* before the queue lock (lock order) */

    od_mutex_lock(&p->qlock);
    if (p->draining) {
        od_mutex_unlock(&p->qlock);
        inventory_free(fresh);
        free(path);
        return -1;
    }
    int before = p->target;
    char *old_path = p->rules_path; /* the workers copy it under this lock: free it after */
    if (fresh) {
        dropped = inventory_unref_locked(p->inv);
        p->inv = fresh;
    }
    set_config_locked(p, cfg, path);
    /* slots coming back into use: a thread that never left keeps running; one that left is
     * joined (it is past its loop) and started again */
    int n = cfg->workers, restart[n > before ? n - before : 1], nrestart = 0;
    for (int id = before; id < n; id++)
        if (id >= p->nslots || !p->workers[id]->started || p->workers[id]->exited) restart[nrestart++] = id;
    pthread_cond_broadcast(&p->nonempty); /* those beyond the new count leave; the rest adopt */
    od_mutex_unlock(&p->qlock);
    free(old_path);
    inventory_free(dropped);

    for (int i = 0; i < nrestart; i++) {
        int id = restart[i];
        if (id < p->nslots && p->workers[id]->started) {
            pthread_join(p->workers[id]->thread, NULL);
            p->workers[id]->started = 0;
        }
        start_worker(p, id); /* logged; the others serve */
    }
    return 0;
}

od_submit_result_t od_pool_submit(od_pool_t *p, od_order_t *o, od_order_receipt_t *receipt)
{
    od_submit_result_t rc = OD_SUBMIT_QUEUED;
    od_results_lock(p->results);
    int generated = od_order_id(o)[0] == '\0';
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
        if (od_trace_active()) od_trace_flow_begin(od_order_flow_id(o), od_order_id(o));
        pthread_cond_signal(&p->nonempty);
    }
    od_mutex_unlock(&p->qlock);

    if (rc == OD_SUBMIT_QUEUED) {
        /* counted before the lock is released: a worker cannot finish it before this */
        od_results_add_locked(p->results, o);
        const char *id = od_order_id(o);
        size_t idlen = strlen(id); /* at most OD_ORDER_ID_MAX: checked by the parse, or made here */
        OD_ASSERT(idlen < sizeof(receipt->id));
        memcpy(receipt->id, id, idlen + 1); /* not snprintf: this runs for every POST */
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
    /* every slot: those a smaller worker count let go have left already */
    for (int i = 0; i < p->nslots; i++)
        if (p->workers[i]->started) pthread_join(p->workers[i]->thread, NULL);
}

size_t od_pool_abandon(od_pool_t *p, od_buf_t *ids)
{
    size_t n = 0;
    od_mutex_lock(&p->qlock);
    p->draining = 1;
    od_order_t *o;
    while ((o = od_lanes_pop(&p->lanes, 0)) != NULL) { /* ids are immutable: no results lock */
        od_buf_puts(ids, od_order_id(o));
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
    inventory_free(inventory_unref_locked(p->inv)); /* the workers' references are gone */
    for (int i = 0; i < p->nslots; i++)
        free(p->workers[i]);
    free(p->workers);
    free(p->rules_path);
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
    out->workers = p->target;
    out->generation = p->gen;
    od_mutex_unlock(&p->qlock);
    out->active = __atomic_load_n(&p->active, __ATOMIC_RELAXED);
}
