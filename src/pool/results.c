#include "pool/results.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * The index is open addressing with linear probing: one array of slots, each an order's
 * address with 16 more bits of its id's hash in the top bits (x86-64 and arm64 user addresses
 * fit in 48).  A lookup of an id nobody has, which is every POST's duplicate check, reads
 * only the slots (one cache line, nearly always) and never an order: with a million orders
 * queued, touching them cost a cache miss per POST.  At most half the slots are used; a
 * removal shifts the cluster back (no tombstones).
 */
#define SLOT_PTR(v) ((od_order_t *)(uintptr_t)((v) & ((UINT64_C(1) << 48) - 1)))
#define SLOT_TAG(v) ((uint32_t)((v) >> 48))

struct od_results {
    od_mutex_t lock;
    uint64_t *slots;
    size_t nslots; /* power of two, at least twice count */
    size_t count;
    size_t kept, finished;
    od_order_t *oldest, *newest; /* finished orders, eviction order */
};

/* Tables from 2 MiB up are mapped, not calloc'd: the kernel's zero pages cost nothing until
 * a slot is written, so a table sized for a long queue holds no memory while the queue is
 * short (calloc would clear it all at once), and in huge pages, as the heap past 8 MiB is, so
 * that a random slot is not a TLB miss each. */
#define SLOTS_MAPPED_BYTES ((size_t)2 << 20)

static uint64_t *slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(uint64_t);
    if (bytes < SLOTS_MAPPED_BYTES) return od_calloc(n, sizeof(uint64_t));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) od_fatal("results: cannot map an index of %zu slots: %s", n, strerror(errno));
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
    return p;
}

static void slots_free(uint64_t *slots, size_t n)
{
    if (n * sizeof(uint64_t) < SLOTS_MAPPED_BYTES)
        free(slots);
    else
        munmap(slots, n * sizeof(uint64_t));
}

/* the table sized up front for `orders` orders, at most OD_RESULTS_RESERVE_MAX of them: a
 * power of two, at least twice as many slots (beyond that, the index grows as it fills) */
static size_t slots_for(size_t orders)
{
    if (orders > OD_RESULTS_RESERVE_MAX) orders = OD_RESULTS_RESERVE_MAX;
    size_t n = 2048;
    while (n < 2 * orders)
        n *= 2;
    return n;
}

od_results_t *od_results_create(size_t results_kept)
{
    od_results_t *r = od_calloc(1, sizeof(*r));
    od_mutex_init(&r->lock, "results");
    /* sized for the kept orders and 1024 more until od_results_reserve says what the queue may
     * hold; beyond OD_RESULTS_RESERVE_MAX it grows, doubling */
    r->nslots = slots_for(results_kept + 1024);
    r->slots = slots_alloc(r->nslots);
    r->kept = results_kept;
    return r;
}

void od_results_destroy(od_results_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->nslots; i++)
        if (r->slots[i]) od_order_free(SLOT_PTR(r->slots[i]));
    slots_free(r->slots, r->nslots);
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

/* One 32-bit hash of the id (kept in the order as id_hash) gives both the home slot, from
 * its low bits, and the tag, its top 16: up to 2^16 slots the two are independent, and at 2^20
 * (half a million orders) 12 bits of the tag still tell apart the ids that share a home, so a
 * duplicate check reads an order for nothing on fewer than one POST in a thousand. */
static uint32_t tag_of(uint32_t h)
{
    return h >> 16;
}

static od_order_t *find(od_results_t *r, const char *id, uint32_t h)
{
    size_t mask = r->nslots - 1;
    uint32_t tag = tag_of(h);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t v = r->slots[i];
        if (v == 0) return NULL;
        if (SLOT_TAG(v) == tag && strcmp(od_order_id(SLOT_PTR(v)), id) == 0) return SLOT_PTR(v);
    }
}

od_order_t *od_results_find_locked(od_results_t *r, const char *id)
{
    return find(r, id, (uint32_t)od_hash_str(id));
}

int od_results_claim_locked(od_results_t *r, od_order_t *o)
{
    const char *id = od_order_id(o);
    o->id_hash = (uint32_t)od_hash_str(id);
    return find(r, id, o->id_hash) == NULL ? 0 : -1;
}

void od_results_prefetch(od_results_t *r, const char *id, size_t len)
{
    /* unlocked, so the table may be swapped meanwhile: the two loads are atomic (a torn pair
     * only prefetches a useless line), and a prefetch never faults, even on freed memory */
    uint64_t *slots = __atomic_load_n(&r->slots, __ATOMIC_RELAXED);
    size_t mask = __atomic_load_n(&r->nslots, __ATOMIC_RELAXED) - 1;
    uintptr_t at = (uintptr_t)slots + ((uint32_t)od_hash_bytes(id, len) & mask) * sizeof(*slots);
    __builtin_prefetch((const void *)at);
}

/* v: the slot's value (the order and its tag); h: the order's id_hash */
static void put(uint64_t *slots, size_t mask, uint64_t v, uint32_t h)
{
    size_t i = h & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = v;
}

static uint64_t slot_of(const od_order_t *o)
{
    OD_ASSERT(((uintptr_t)o >> 48) == 0);
    return ((uint64_t)tag_of(o->id_hash) << 48) | (uintptr_t)o;
}

/* Rehashing reads every order's id_hash: a cache miss each, with the queue long.  Asking for
 * the order a few slots ahead lets those misses overlap instead of queueing one by one. */
#define GROW_AHEAD 8

static void resize(od_results_t *r, size_t n)
{
    uint64_t *s = slots_alloc(n);
    for (size_t i = 0; i < r->nslots; i++) {
        if (i + GROW_AHEAD < r->nslots && r->slots[i + GROW_AHEAD])
            __builtin_prefetch(&SLOT_PTR(r->slots[i + GROW_AHEAD])->id_hash);
        uint64_t v = r->slots[i];
        if (v) put(s, n - 1, v, SLOT_PTR(v)->id_hash);
    }
    uint64_t *old = r->slots;
    size_t old_n = r->nslots;
    __atomic_store_n(&r->slots, s, __ATOMIC_RELAXED); /* od_results_prefetch reads them unlocked */
    __atomic_store_n(&r->nslots, n, __ATOMIC_RELAXED);
    slots_free(old, old_n); /* a prefetch of a line in it meanwhile cannot fault */
}

void od_results_reserve(od_results_t *r, size_t in_flight)
{
    size_t n = slots_for(r->kept + in_flight);
    od_results_lock(r);
    if (n > r->nslots) resize(r, n);
    od_results_unlock(r);
}

size_t od_results_slots(od_results_t *r)
{
    od_results_lock(r);
    size_t n = r->nslots;
    od_results_unlock(r);
    return n;
}

void od_results_add_locked(od_results_t *r, od_order_t *o)
{
    if (2 * (r->count + 1) > r->nslots) resize(r, r->nslots * 2);
    put(r->slots, r->nslots - 1, slot_of(o), o->id_hash);
    r->count++;
}

/* removes o's slot and moves back each later slot of the cluster that may move (its home is
 * not between the hole and itself), so that every probe still finds what it looks for */
static void unlink_hash(od_results_t *r, od_order_t *o)
{
    size_t mask = r->nslots - 1, i = o->id_hash & mask;
    while (SLOT_PTR(r->slots[i]) != o) {
        OD_ASSERT(r->slots[i] != 0);
        i = (i + 1) & mask;
    }
    for (size_t j = (i + 1) & mask; r->slots[j]; j = (j + 1) & mask) {
        size_t home = SLOT_PTR(r->slots[j])->id_hash & mask;
        /* the slot at j stays when its home lies cyclically in (i, j] */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) continue;
        r->slots[i] = r->slots[j];
        i = j;
    }
    r->slots[i] = 0;
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
        if (r->oldest == NULL) r->newest = NULL;
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

size_t od_results_export(od_results_t *r, od_buf_t *out)
{
    size_t n = 0;
    od_results_lock(r);
    for (size_t i = 0; i < r->nslots; i++) {
        if (!r->slots[i]) continue;
        od_order_t *o = SLOT_PTR(r->slots[i]);
        od_buf_puts(out, od_order_id(o));
        od_buf_puts(out, "\t");
        od_order_json(o, out);
        od_buf_puts(out, "\n");
        n++;
    }
    od_results_unlock(r);
    return n;
}

size_t od_results_count(od_results_t *r)
{
    od_results_lock(r);
    size_t n = r->count;
    od_results_unlock(r);
    return n;
}
