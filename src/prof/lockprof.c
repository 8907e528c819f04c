/*
 * lockprof — mutex and block profiling.  See lockprof.h for the contract.
 *
 * Layout: one table per profile (mutex, block), split into STRIPES stripes by the stack's
 * hash; each stripe is an open-addressing index over a fixed array of entries behind its
 * own pthread mutex (never an od_mutex: recording must not recurse).  Everything is static
 * storage: the pages of unused entries are never touched.
 */
#include "prof/lockprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "prof/trace.h"

#define STRIPES 16
#define STRIPE_ENTRIES (OD_LOCKPROF_MAX_STACKS / STRIPES)
#define STRIPE_SLOTS (STRIPE_ENTRIES * 2) /* load factor <= 1/2: short probes */

typedef struct entry {
    uint64_t hash;
    const char *lock; /* static: the mutex's name (mutex profile), NULL for blocking waits */
    uint32_t npcs;
    int64_t count;
    int64_t delay;
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
} entry_t;

typedef struct stripe {
    pthread_mutex_t lock; /* guards everything below */
    uint32_t n;           /* entries used */
    int64_t overflow_count, overflow_delay;
    uint16_t index[STRIPE_SLOTS]; /* 0 = empty, else entry number + 1 */
    entry_t entries[STRIPE_ENTRIES];
} stripe_t;

typedef struct table {
    uint64_t events; /* atomic: record calls */
    stripe_t stripes[STRIPES];
} table_t;

enum { T_MUTEX, T_BLOCK };
static table_t tables[2];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Configuration: atomics, relaxed (a stale value for a moment is harmless). */
static int cfg_mutex_fraction;
static int64_t cfg_block_rate_ns;

static void tables_init(void)
{
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < STRIPES; s++)
            pthread_mutex_init(&tables[t].stripes[s].lock, NULL);
}

void od_lockprof_configure(int mutex_fraction, int64_t block_rate_ns)
{
    pthread_once(&tables_once, tables_init);
    __atomic_store_n(&cfg_mutex_fraction, mutex_fraction > 0 ? mutex_fraction : 0, __ATOMIC_RELAXED);
    __atomic_store_n(&cfg_block_rate_ns, block_rate_ns > 0 ? block_rate_ns : 0, __ATOMIC_RELAXED);
}

/* --- stacks ------------------------------------------------------------------------------ */

static __thread uintptr_t stack_lo, stack_hi; /* this thread's stack, found on first use */

static void find_stack_bounds(void)
{
    pthread_attr_t a;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &addr, &size) == 0) {
            stack_lo = (uintptr_t)addr;
            stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&a);
    }
    if (stack_hi == 0) { /* unknown: allow nothing beyond a generous window above us */
        uintptr_t here = (uintptr_t)__builtin_frame_address(0);
        stack_lo = here - 4096;
        stack_hi = here + (1u << 20);
    }
}

/*
 * Walks the frame-pointer chain of the calling thread into pcs (return addresses, leaf
 * first), dropping the frames up to the one returning to `from` (the return address of the
 * public od_ wrapper: the first pc kept is in the wrapper's caller).  Every frame pointer
 * must lie inside this thread's stack, be aligned and grow strictly upwards, so a frame
 * from code built without frame pointers ends the walk instead of derailing it.
 * @return the number of pcs stored
 */
__attribute__((noinline, no_sanitize_address)) static uint32_t walk_stack(uintptr_t *pcs, const void *from)
{
    if (stack_hi == 0) find_stack_bounds();
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uint32_t n = 0, skipped = 0;
    int found = 0;
    uintptr_t tmp[8]; /* frames before `from`, kept in case it is never found */
    while (n < OD_PROF_MAX_DEPTH) {
        if (fp < stack_lo || fp + 2 * sizeof(uintptr_t) > stack_hi || (fp & 7) != 0) break;
        uintptr_t next = ((const uintptr_t *)fp)[0];
        uintptr_t ret = ((const uintptr_t *)fp)[1];
        if (ret < 4096) break;
        if (found) {
            pcs[n++] = ret;
        } else if (ret == (uintptr_t)from) {
            found = 1;
            pcs[n++] = ret;
        } else if (skipped < OD_ARRAY_SIZE(tmp)) {
            tmp[skipped++] = ret;
        } else {
            break;
        }
        if (next <= fp) break;
        fp = next;
    }
    if (!found) { /* should not happen; keep what was seen rather than nothing */
        memcpy(pcs, tmp, skipped * sizeof(*tmp));
        n = skipped;
    }
    return n;
}

/* the key of an entry: the stack and, for the mutex profile, the lock (identical stacks on
 * different locks are different samples) */
static uint64_t hash_stack(const char *lock, const uintptr_t *pcs, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n ^ (uint64_t)(uintptr_t)lock;
    for (uint32_t i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xbf58476d1ce4e5b9u;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

static void record(int t, const char *lock, const uintptr_t *pcs, uint32_t npcs, int64_t count, int64_t delay)
{
    pthread_once(&tables_once, tables_init);
    table_t *tab = &tables[t];
    uint64_t h = hash_stack(lock, pcs, npcs);
    stripe_t *s = &tab->stripes[h >> 60];
    __atomic_add_fetch(&tab->events, 1, __ATOMIC_RELAXED);

    pthread_mutex_lock(&s->lock);
    uint32_t slot = (uint32_t)(h % STRIPE_SLOTS);
    for (;;) {
        uint16_t ix = s->index[slot];
        if (ix == 0) {
            if (s->n == STRIPE_ENTRIES) {
                s->overflow_count += count;
                s->overflow_delay += delay;
                break;
            }
            entry_t *e = &s->entries[s->n++];
            e->hash = h;
            e->lock = lock;
            e->npcs = npcs;
            memcpy(e->pcs, pcs, npcs * sizeof(*pcs));
            e->count = count;
            e->delay = delay;
            s->index[slot] = (uint16_t)s->n;
            break;
        }
        entry_t *e = &s->entries[ix - 1];
        if (e->hash == h && e->lock == lock && e->npcs == npcs &&
            memcmp(e->pcs, pcs, npcs * sizeof(*pcs)) == 0) {
            e->count += count;
            e->delay += delay;
            break;
        }
        slot = (slot + 1) % STRIPE_SLOTS;
    }
    pthread_mutex_unlock(&s->lock);
}

/* --- sampling ---------------------------------------------------------------------------- */

static __thread uint64_t rng_state;

/* xorshift64*: per thread, no shared state, good enough to pick 1 of N */
static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    if (x == 0) x = (uintptr_t)&rng_state ^ od_now_ns() ^ 0x2545f4914f6cdd1du;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1du;
}

/* --- mutexes ----------------------------------------------------------------------------- */

void od_mutex_init(od_mutex_t *m, const char *name)
{
    pthread_once(&tables_once, tables_init);
    pthread_mutex_init(&m->m, NULL);
    m->name = name ? name : "mutex";
}

void od_mutex_destroy(od_mutex_t *m)
{
    pthread_mutex_destroy(&m->m);
}

__attribute__((noinline)) static void lock_slow(od_mutex_t *m, int fraction, int tracing, const void *from)
{
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
    uint32_t npcs = 0;
    int sampled = fraction > 0 && (fraction == 1 || rng_next() % (uint64_t)fraction == 0);
    if (sampled) npcs = walk_stack(pcs, from); /* before waiting: the holder is not delayed */
    uint64_t t0 = od_now_ns();
    pthread_mutex_lock(&m->m);
    uint64_t t1 = od_now_ns();
    if (sampled) record(T_MUTEX, m->name, pcs, npcs, fraction, (int64_t)(t1 - t0) * fraction);
    if (tracing) od_trace_lock_wait(m->name, t0, t1);
}

void od_mutex_lock(od_mutex_t *m)
{
    if (pthread_mutex_trylock(&m->m) == 0) return;
    int fraction = __atomic_load_n(&cfg_mutex_fraction, __ATOMIC_RELAXED);
    int tracing = od_trace_active();
    if (fraction == 0 && !tracing) {
        pthread_mutex_lock(&m->m);
        return;
    }
    lock_slow(m, fraction, tracing, __builtin_return_address(0));
}

void od_mutex_unlock(od_mutex_t *m)
{
    pthread_mutex_unlock(&m->m);
}

/* --- blocking waits ---------------------------------------------------------------------- */

__attribute__((noinline)) static void block_done(uint64_t t0, int64_t rate, const void *from)
{
    uint64_t d = od_now_ns() - t0;
    if ((int64_t)d < rate) return;
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
    uint32_t npcs = walk_stack(pcs, from);
    record(T_BLOCK, NULL, pcs, npcs, 1, (int64_t)d);
}

void od_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

void od_cond_wait(pthread_cond_t *c, od_mutex_t *m)
{
    int64_t rate = __atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED);
    if (rate == 0) {
        pthread_cond_wait(c, &m->m);
        return;
    }
    uint64_t t0 = od_now_ns();
    pthread_cond_wait(c, &m->m);
    block_done(t0, rate, __builtin_return_address(0));
}

int od_cond_timedwait(pthread_cond_t *c, od_mutex_t *m, const struct timespec *abs_monotonic)
{
    int64_t rate = __atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED);
    if (rate == 0) return pthread_cond_timedwait(c, &m->m, abs_monotonic);
    uint64_t t0 = od_now_ns();
    int rc = pthread_cond_timedwait(c, &m->m, abs_monotonic);
    block_done(t0, rate, __builtin_return_address(0));
    return rc;
}

void od_block_sleep_ns(uint64_t ns)
{
    int64_t rate = __atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED);
    if (rate == 0) {
        od_sleep_ns(ns);
        return;
    }
    uint64_t t0 = od_now_ns();
    od_sleep_ns(ns);
    block_done(t0, rate, __builtin_return_address(0));
}

uint64_t od_block_begin(void)
{
    if (__atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED) == 0) return 0;
    uint64_t t = od_now_ns();
    return t ? t : 1;
}

void od_block_end(uint64_t token)
{
    if (token == 0) return;
    int64_t rate = __atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED);
    if (rate == 0) return; /* turned off meanwhile */
    block_done(token, rate, __builtin_return_address(0));
}

/* --- reading ----------------------------------------------------------------------------- */

static int table_of(od_prof_kind_t kind)
{
    return kind == OD_PROF_MUTEX ? T_MUTEX : kind == OD_PROF_BLOCK ? T_BLOCK : -1;
}

int od_lockprof_snapshot(od_profile_t *p, od_prof_kind_t kind)
{
    int t = table_of(kind);
    od_profile_init(p, kind);
    if (t < 0) {
        od_error("lockprof: snapshot of kind %d: only the mutex and block profiles live here", (int)kind);
        return -1;
    }
    pthread_once(&tables_once, tables_init);
    od_profile_add_type(p, "contentions", "count");
    od_profile_add_type(p, "delay", "nanoseconds");
    p->period_type = (od_prof_valtype_t){"contentions", "count"};
    p->period = t == T_MUTEX ? __atomic_load_n(&cfg_mutex_fraction, __ATOMIC_RELAXED)
                             : __atomic_load_n(&cfg_block_rate_ns, __ATOMIC_RELAXED);
    if (p->period == 0) p->period = 1;
    p->time_ns = od_wall_ns();

    /* Copy each stripe under its lock, then build samples (which allocates) outside it. */
    entry_t *copy = od_malloc(sizeof(entry_t) * STRIPE_ENTRIES);
    int64_t ovf[2] = {0, 0};
    for (int i = 0; i < STRIPES; i++) {
        stripe_t *s = &tables[t].stripes[i];
        pthread_mutex_lock(&s->lock);
        uint32_t n = s->n;
        memcpy(copy, s->entries, n * sizeof(entry_t));
        ovf[0] += s->overflow_count;
        ovf[1] += s->overflow_delay;
        pthread_mutex_unlock(&s->lock);
        for (uint32_t j = 0; j < n; j++) {
            int64_t v[2] = {copy[j].count, copy[j].delay};
            od_prof_sample_t *smp = od_profile_add(p, copy[j].pcs, copy[j].npcs, v);
            if (copy[j].lock) od_profile_label_str(smp, "lock", copy[j].lock);
        }
    }
    free(copy);
    if (ovf[0] != 0) {
        od_prof_sample_t *s = od_profile_add(p, NULL, 0, ovf);
        od_profile_label_str(s, "overflow", "stacks beyond the table's capacity");
    }
    return 0;
}

uint64_t od_lockprof_count(od_prof_kind_t kind)
{
    int t = table_of(kind);
    return t < 0 ? 0 : __atomic_load_n(&tables[t].events, __ATOMIC_RELAXED);
}

uint64_t od_lockprof_stacks(od_prof_kind_t kind)
{
    int t = table_of(kind);
    if (t < 0) return 0;
    pthread_once(&tables_once, tables_init);
    uint64_t n = 0;
    int overflow = 0;
    for (int i = 0; i < STRIPES; i++) {
        stripe_t *s = &tables[t].stripes[i];
        pthread_mutex_lock(&s->lock);
        n += s->n;
        overflow |= s->overflow_count != 0;
        pthread_mutex_unlock(&s->lock);
    }
    return n + (uint64_t)overflow;
}

void od_lockprof_reset(void)
{
    pthread_once(&tables_once, tables_init);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < STRIPES; i++) {
            stripe_t *s = &tables[t].stripes[i];
            pthread_mutex_lock(&s->lock);
            s->n = 0;
            s->overflow_count = s->overflow_delay = 0;
            memset(s->index, 0, sizeof(s->index));
            pthread_mutex_unlock(&s->lock);
        }
        __atomic_store_n(&tables[t].events, 0, __ATOMIC_RELAXED);
    }
}
