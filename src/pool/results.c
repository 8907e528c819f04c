#include "pool/results.h"

#include <stdlib.h>
#include <string.h>

struct od_results {
    od_mutex_t lock;
    od_order_t **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t kept, finished;
    od_order_t *oldest, *newest; /* finished orders, eviction order */
};

od_results_t *od_results_create(size_t results_kept)
{
    od_results_t *r = od_calloc(1, sizeof(*r));
    od_mutex_init(&r->lock, "results");
    /* sized for what it will hold (the kept orders and a queue's worth in flight), so that the
     * index rarely grows: a growth rehashes every order with the lock held, the HTTP thread's
     * submits and the workers' finishes waiting behind it */
    r->nbuckets = 1024;
    while (r->nbuckets < results_kept + 1024 && r->nbuckets < ((size_t)1 << 20))
        r->nbuckets *= 2;
    r->buckets = od_calloc(r->nbuckets, sizeof(*r->buckets));
    r->kept = results_kept;
    return r;
}

void od_results_destroy(od_results_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        od_order_t *o = r->buckets[i];
        while (o) {
            od_order_t *next = o->hash_next;
            od_order_free(o);
            o = next;
        }
    }
    free(r->buckets);
    od_mutex_destroy(&r->lock);
    free(r);
}

void od_results_lock(od_results_t *r)
{
    od_mutex_lock(&r->lock);
}

void od_results_unlock(od_results_t *r)
{
    od_mutex_unlock(&r->lock);
}

static od_order_t *find(od_results_t *r, const char *id, uint32_t h)
{
    for (od_order_t *o = r->buckets[h & (r->nbuckets - 1)]; o; o = o->hash_next)
        if (o->id_hash == h && strcmp(o->id, id) == 0) return o;
    return NULL;
}

od_order_t *od_results_find_locked(od_results_t *r, const char *id)
{
    return find(r, id, (uint32_t)od_hash_str(id));
}

int od_results_claim_locked(od_results_t *r, od_order_t *o)
{
    o->id_hash = (uint32_t)od_hash_str(o->id);
    return find(r, o->id, o->id_hash) == NULL ? 0 : -1;
}

/* the stored hashes move the orders without reading their ids */
static void grow(od_results_t *r)
{
    size_t n = r->nbuckets * 2;
    od_order_t **b = od_calloc(n, sizeof(*b));
    for (size_t i = 0; i < r->nbuckets; i++) {
        od_order_t *o = r->buckets[i];
        while (o) {
            od_order_t *next = o->hash_next;
            size_t j = o->id_hash & (n - 1);
            o->hash_next = b[j];
            b[j] = o;
            o = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

void od_results_add_locked(od_results_t *r, od_order_t *o)
{
    if (r->count >= r->nbuckets) grow(r);
    size_t i = o->id_hash & (r->nbuckets - 1);
    o->hash_next = r->buckets[i];
    r->buckets[i] = o;
    r->count++;
}

static void unlink_hash(od_results_t *r, od_order_t *o)
{
    od_order_t **pp = &r->buckets[o->id_hash & (r->nbuckets - 1)];
    while (*pp && *pp != o)
        pp = &(*pp)->hash_next;
    OD_ASSERT(*pp == o);
    *pp = o->hash_next;
    r->count--;
}

void od_results_remove_locked(od_results_t *r, od_order_t *o)
{
    unlink_hash(r, o);
    od_order_free(o);
}

od_order_t *od_results_retire_locked(od_results_t *r, od_order_t *o)
{
    o->done_next = NULL;
    o->done_prev = r->newest;
    if (r->newest)
        r->newest->done_next = o;
    else
        r->oldest = o;
    r->newest = o;
    r->finished++;
    od_order_t *evicted = NULL;
    while (r->finished > r->kept && r->oldest) {
        od_order_t *old = r->oldest;
        r->oldest = old->done_next;
        if (r->oldest)
            r->oldest->done_prev = NULL;
        else
            r->newest = NULL;
        r->finished--;
        unlink_hash(r, old);
        old->done_next = evicted; /* no longer in the store: the chain is the caller's */
        evicted = old;
    }
    return evicted;
}

void od_results_free_evicted(od_order_t *evicted)
{
    while (evicted) {
        od_order_t *next = evicted->done_next;
        od_order_free(evicted);
        evicted = next;
    }
}

void od_results_finish_locked(od_results_t *r, od_order_t *o)
{
    od_results_free_evicted(od_results_retire_locked(r, o));
}

int od_results_json(od_results_t *r, const char *id, od_buf_t *out)
{
    int rc = -1;
    od_results_lock(r);
    od_order_t *o = od_results_find_locked(r, id);
    if (o) {
        od_order_json(o, out);
        rc = 0;
    }
    od_results_unlock(r);
    return rc;
}

size_t od_results_count(od_results_t *r)
{
    od_results_lock(r);
    size_t n = r->count;
    od_results_unlock(r);
    return n;
}
