#include "pool/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/threads.h"
#include "prof/trace.h"

void od_inventory_init(od_inventory_t *inv, int stripes, int skus)
{
    inv->nstripes = stripes;
    inv->nskus = skus;
    inv->stripes = od_calloc((size_t)stripes, sizeof(*inv->stripes));
    for (int i = 0; i < stripes; i++)
        od_mutex_init(&inv->stripes[i], "inventory");
    inv->counts = od_calloc((size_t)skus, sizeof(*inv->counts));
    for (int i = 0; i < skus; i++)
        inv->counts[i] = 1000000;
}

void od_inventory_dispose(od_inventory_t *inv)
{
    for (int i = 0; i < inv->nstripes; i++)
        od_mutex_destroy(&inv->stripes[i]);
    free(inv->stripes);
    free(inv->counts);
}

/*
 * Work done while holding a stripe: a wait, not CPU — like the slow call under a lock it
 * stands for — so the mutex profile shows the contention without the CPU profile showing the
 * holder.  (Plain sleep: this is work, not one of the server's blocking waits.)
 */
static __attribute__((noinline)) void hold_stripe(uint32_t us)
{
    od_sleep_ns((uint64_t)us * 1000u);
}

int od_stage_validate(od_stage_ctx_t *ctx, const od_order_t *o, char **err)
{
    if (o->amount > ctx->cfg->validate.max_amount) {
        *err = od_strdup("order amount exceeds limit");
        return -1;
    }
    if ((int)o->nitems > ctx->cfg->validate.max_items) {
        *err = od_strdup("too many items in order");
        return -1;
    }
    return 0;
}

static __attribute__((noinline)) void inventory_take(od_inventory_t *inv, const char *sku, uint32_t hold_us)
{
    uint64_t h = od_hash_str(sku);
    int slot = (int)(h % (uint64_t)inv->nskus);
    od_mutex_t *m = &inv->stripes[slot % inv->nstripes];
    od_mutex_lock(m);
    if (--inv->counts[slot] <= 0) inv->counts[slot] = 1000000; /* restocked */
    if (hold_us) hold_stripe(hold_us);
    od_mutex_unlock(m);
}

int od_stage_reserve(od_stage_ctx_t *ctx, const od_order_t *o, char **err)
{
    (void)err;
    for (size_t i = 0; i < o->nitems; i++)
        inventory_take(ctx->inv, o->items[i], ctx->cfg->reserve.hold_us);
    return 0;
}

/* a fraud score: deliberately CPU-bound arithmetic over the order's fields */
static __attribute__((noinline)) double price_fraud_score(const od_order_t *o, uint64_t rounds)
{
    double score = 0;
    uint64_t h = od_hash_str(o->customer) ^ od_hash_str(o->address);
    for (uint64_t i = 0; i < rounds; i++) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        score += sqrt((double)(h & 0xffff) + o->amount) * 1e-6;
    }
    return fmod(score, 1.0);
}

/* the priority the stages use: the route hook's choice, else the order's own */
static int effective_priority(const od_stage_ctx_t *ctx, const od_order_t *o)
{
    return ctx->priority ? ctx->priority : o->priority;
}

static __attribute__((noinline)) double price_tax_and_discounts(const od_order_t *o, int priority)
{
    double total = o->amount;
    if (o->nitems >= 10) total *= 0.95; /* bulk discount */
    if (priority == 1) total += 15.0;   /* express handling */
    return total * 1.0825;              /* sales tax */
}

int od_stage_price(od_stage_ctx_t *ctx, const od_order_t *o, double *total, char **err)
{
    if (ctx->hooks && ctx->hooks->price) {
        int rc = ctx->hooks->price(ctx->rules, o, effective_priority(ctx, o), total, err);
        __asm__ volatile("" ::: "memory"); /* no tail call: profiles show od_stage_price above the hook */
        return rc;
    }
    *total = price_tax_and_discounts(o, effective_priority(ctx, o));
    uint32_t us = ctx->cfg->price.work_us;
    if (us == 0) return 0;
    /* run the fraud score in slices until the configured time is spent */
    uint64_t end = od_now_ns() + (uint64_t)us * 1000u;
    double score = 0;
    do {
        score += price_fraud_score(o, 2000);
    } while (od_now_ns() < end);
    if (score < 0) { /* never true; keeps the work observable */
        *err = od_strdup("fraud score rejected the order");
        return -1;
    }
    return 0;
}

int od_stage_pay(od_stage_ctx_t *ctx, const od_order_t *o, char **err)
{
    (void)err;
    uint64_t ms =
        (uint64_t)effective_priority(ctx, o) * ctx->cfg->pay.ms_per_priority + ctx->cfg->pay.fixed_ms;
    if (ms) {
        od_thread_set_state("waiting for payment");
        od_block_sleep_ns(ms * 1000000u);
        od_thread_set_state("processing");
    }
    return 0;
}

int od_stage_record(od_stage_ctx_t *ctx, const od_order_t *o, double total, void **record, char **err)
{
    (void)err;
    uint32_t n = ctx->cfg->record.alloc_bytes;
    if (n) {
        char *rec = od_malloc(n);
        /* the receipt and its history: touch every page so the bytes are real */
        int w = snprintf(rec, n, "receipt %s customer=%s total=%.2f items=%zu", od_order_id(o), o->customer,
                         total, o->nitems);
        if (w < 0) w = 0;
        for (uint32_t i = (uint32_t)w + 1; i < n; i += 64)
            rec[i] = (char)i;
        *record = rec;
    }
    if (ctx->cfg->record.leak_bytes) {
        /* leaked on purpose: the heap profile's leak-hunting lesson */
        char *leak = od_malloc(ctx->cfg->record.leak_bytes);
        memset(leak, 0x5a, ctx->cfg->record.leak_bytes);
        __asm__ volatile("" : : "r"(leak) : "memory");
    }
    return 0;
}

#define STAGE(name, call)                                                                                    \
    do {                                                                                                     \
        uint64_t t0_ = od_trace_active() ? od_now_ns() : 0;                                                  \
        rc = (call);                                                                                         \
        if (t0_) od_trace_span(name, od_order_id(o), t0_, od_now_ns());                                      \
        if (rc != 0) goto Failed;                                                                            \
    } while (0)

void od_pipeline_run(od_stage_ctx_t *ctx, od_order_t *o, od_outcome_t *out)
{
    char *err = NULL;
    double total = 0;
    int rc;
    *out = (od_outcome_t){0};
    ctx->priority = o->priority;
    out->priority = o->priority;

    if (ctx->hooks && ctx->hooks->route) {
        STAGE("route", ctx->hooks->route(ctx->rules, o, &ctx->priority, &err));
        out->priority = ctx->priority;
    }
    STAGE("validate", od_stage_validate(ctx, o, &err));
    STAGE("reserve", od_stage_reserve(ctx, o, &err));
    STAGE("price", od_stage_price(ctx, o, &total, &err));
    out->price = total;
    STAGE("pay", od_stage_pay(ctx, o, &err));
    STAGE("record", od_stage_record(ctx, o, total, &out->record, &err));

    /* the seed's business rules */
    out->ok = 1;
    if (o->amount > 1000) {
        out->status = "priority_processing";
        out->message = od_strdup("Order marked for priority processing");
    } else if (ctx->priority == 1) {
        out->status = "expedited";
        out->message = od_strdup("Order expedited");
    } else {
        out->status = "processing";
        out->message = od_strdup("Order processed");
    }
    ctx->priority = 0;
    return;

Failed:
    out->ok = 0;
    out->status = "failed";
    out->message = err ? err : od_strdup("order failed");
    ctx->priority = 0;
}
