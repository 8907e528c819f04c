/*
 * symbolize — orderd's side of symbolization: a bounded cache of the helper process's answers
 * (prof/symhelper.h), with their strings interned, all kept off the sampled heap.  See
 * symbolize.h for the contract.  Everything here runs under sym_lock.
 */
#include "prof/symbolize.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"
#include "prof/symhelper.h"

/* Sizes of the three mmap'd regions (reserved once; pages are touched as they fill).  They
 * are the only memory symbolization costs orderd: small, bounded, and not malloc'ed, so the
 * heap profile shows the program, not its profiler. */
#define CACHE_SLOTS 8192         /* power of two; emptied when 3/4 full */
#define RECORDS_BYTES (2u << 20) /* the cached answers; emptied with the cache */
#define INTERN_SLOTS 32768       /* power of two; at most 3/4 used */
#define INTERN_BYTES (4u << 20)  /* beyond this, new names become "?" */
#define BUILD_IDS 64             /* modules whose build ID is remembered */

/* a cached answer: an od_sym_t without its unused frames */
typedef struct record {
    const char *module, *symbol;
    uintptr_t module_base, symbol_addr;
    size_t nframes;
    od_sym_frame_t frames[];
} record_t;

typedef struct cache_slot {
    uintptr_t pc;
    record_t *rec; /* NULL = empty */
} cache_slot_t;

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
/* guarded by sym_lock: */
static cache_slot_t *cache;
static size_t cache_used;
static char *records;
static size_t records_used;
static const char **intern_tab;
static size_t intern_count;
static char *intern_mem;
static size_t intern_used;
static struct {
    uintptr_t addr;
    const char *hex; /* interned; "" = none */
} build_ids[BUILD_IDS];
static size_t nbuild_ids;
static int helper_failing; /* the last call failed: log once per episode */

static void *region(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) od_fatal("symbolize: cannot map %zu bytes", bytes);
    return p;
}

static void setup(void)
{
    if (cache) return;
    cache = region(CACHE_SLOTS * sizeof(*cache));
    records = region(RECORDS_BYTES);
    intern_tab = region(INTERN_SLOTS * sizeof(*intern_tab));
    intern_mem = region(INTERN_BYTES);
}

/* --- interned strings ------------------------------------------------------------------------ */

/* Returns a copy of s[0..n) that lives for the life of the process. */
static const char *intern(const char *s, size_t n)
{
    if (n == 0) return "";
    size_t i = od_hash_bytes(s, n) & (INTERN_SLOTS - 1);
    while (intern_tab[i]) {
        if (strncmp(intern_tab[i], s, n) == 0 && intern_tab[i][n] == '\0') return intern_tab[i];
        i = (i + 1) & (INTERN_SLOTS - 1);
    }
    if (intern_count >= INTERN_SLOTS * 3 / 4 || intern_used + n + 1 > INTERN_BYTES) return "?";
    char *c = intern_mem + intern_used;
    memcpy(c, s, n);
    c[n] = '\0';
    intern_used += n + 1;
    intern_count++;
    intern_tab[i] = c;
    return c;
}

/* --- the helper's answers -------------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
    int bad;
} cursor_t;

static void take(cursor_t *c, void *out, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, c->p, n);
    c->p += n;
}

static const char *take_str(cursor_t *c)
{
    uint16_t n = 0;
    take(c, &n, sizeof(n));
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return "";
    }
    const char *s = intern(c->p, n);
    c->p += n;
    return s;
}

/* Reads one answer into *out.  Returns 0 or -1 (malformed). */
static int take_sym(cursor_t *c, od_sym_t *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t v;
    uint8_t nf = 0;
    out->module = take_str(c);
    take(c, &v, sizeof(v));
    out->module_base = (uintptr_t)v;
    out->symbol = take_str(c);
    take(c, &v, sizeof(v));
    out->symbol_addr = (uintptr_t)v;
    take(c, &nf, 1);
    if (nf > OD_SYM_MAX_FRAMES) c->bad = 1;
    for (size_t i = 0; i < nf && !c->bad; i++) {
        od_sym_frame_t *f = &out->frames[i];
        int32_t l[2];
        f->func = take_str(c);
        f->sysname = take_str(c);
        f->file = take_str(c);
        take(c, l, sizeof(l));
        f->line = l[0];
        f->start_line = l[1];
    }
    out->nframes = c->bad ? 0 : nf;
    return c->bad ? -1 : 0;
}

/* the helper's call, with one log line when it starts failing and one when it recovers */
static int call_helper(uint32_t op, const uint64_t *in, size_t n, od_buf_t *reply)
{
    od_buf_t err = OD_BUF_INIT;
    int rc = od_symhelper_call(op, in, n, reply, &err);
    if (rc != 0 && !helper_failing)
        od_warn("symbolize: %s; profiles show hex addresses until it works again",
                err.base ? err.base : "the helper failed");
    else if (rc == 0 && helper_failing)
        od_info("symbolize: the symbolizer helper answers again");
    helper_failing = rc != 0;
    od_buf_dispose(&err);
    return rc;
}

/* --- the cache ------------------------------------------------------------------------------- */

static uint64_t hash_pc(uintptr_t pc)
{
    uint64_t h = (uint64_t)pc * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static void cache_clear(void)
{
    memset(cache, 0, CACHE_SLOTS * sizeof(*cache));
    cache_used = 0;
    records_used = 0;
}

/* the slot of pc: its entry, or the empty slot where it would go */
static cache_slot_t *slot_of(uintptr_t pc)
{
    size_t i = hash_pc(pc) & (CACHE_SLOTS - 1);
    while (cache[i].rec && cache[i].pc != pc)
        i = (i + 1) & (CACHE_SLOTS - 1);
    return &cache[i];
}

static int cache_full(size_t nframes)
{
    return cache_used >= CACHE_SLOTS * 3 / 4 ||
           records_used + sizeof(record_t) + nframes * sizeof(od_sym_frame_t) + 16 > RECORDS_BYTES;
}

static void cache_put(uintptr_t pc, const od_sym_t *s)
{
    if (cache_full(s->nframes)) cache_clear(); /* bounded: start over */
    cache_slot_t *slot = slot_of(pc);
    if (slot->rec) return;
    record_t *r = (record_t *)(records + records_used);
    records_used += (sizeof(record_t) + s->nframes * sizeof(od_sym_frame_t) + 15) & ~(size_t)15;
    r->module = s->module;
    r->symbol = s->symbol;
    r->module_base = s->module_base;
    r->symbol_addr = s->symbol_addr;
    r->nframes = s->nframes;
    memcpy(r->frames, s->frames, s->nframes * sizeof(od_sym_frame_t));
    slot->pc = pc;
    slot->rec = r;
    cache_used++;
}

static void from_record(const record_t *r, od_sym_t *out)
{
    memset(out, 0, sizeof(*out));
    out->module = r->module;
    out->symbol = r->symbol;
    out->module_base = r->module_base;
    out->symbol_addr = r->symbol_addr;
    out->nframes = r->nframes;
    memcpy(out->frames, r->frames, r->nframes * sizeof(od_sym_frame_t));
}

/* Asks the helper about pcs[0..n) (n <= the batch limit) and caches the answers; on failure
 * caches nothing (a later call tries again).  Returns 0 or -1. */
static int fetch(const uint64_t *pcs, size_t n)
{
    if (n == 0) return 0;
    od_buf_t reply = OD_BUF_INIT; /* transient: nothing of it stays on the heap */
    int rc = call_helper(OD_SYMHELPER_SYM, pcs, n, &reply);
    cursor_t c = {reply.base, reply.base + reply.len, 0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        od_sym_t s;
        if (take_sym(&c, &s) != 0) {
            od_warn("symbolize: the helper's answer is malformed at PC %zu of %zu", i, n);
            rc = -1;
            break;
        }
        cache_put((uintptr_t)pcs[i], &s);
    }
    od_buf_dispose(&reply);
    return rc;
}

/* --- public ---------------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void od_symbolize_prefetch(const uintptr_t *pcs, size_t n)
{
    pthread_mutex_lock(&sym_lock);
    setup();
    uint64_t *missing = od_malloc((n ? n : 1) * sizeof(*missing));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (slot_of(pcs[i])->rec == NULL) missing[m++] = pcs[i];
    qsort(missing, m, sizeof(*missing), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || missing[u - 1] != missing[i]) missing[u++] = missing[i];
    /* what does not fit the cache would only push out what was just fetched */
    if (cache_used + u > CACHE_SLOTS * 3 / 4) cache_clear();
    if (u > CACHE_SLOTS * 3 / 4) u = CACHE_SLOTS * 3 / 4;
    for (size_t i = 0; i < u; i += OD_SYMHELPER_BATCH_MAX) {
        size_t k = u - i < OD_SYMHELPER_BATCH_MAX ? u - i : OD_SYMHELPER_BATCH_MAX;
        if (fetch(missing + i, k) != 0) break;
    }
    free(missing);
    pthread_mutex_unlock(&sym_lock);
}

int od_symbolize(uintptr_t pc, od_sym_t *out)
{
    pthread_mutex_lock(&sym_lock);
    setup();
    cache_slot_t *slot = slot_of(pc);
    if (slot->rec == NULL) {
        uint64_t w = pc;
        fetch(&w, 1);
        slot = slot_of(pc);
    }
    if (slot->rec) {
        from_record(slot->rec, out);
    } else { /* the helper failed: unknown, not cached */
        memset(out, 0, sizeof(*out));
        out->module = out->symbol = "";
    }
    pthread_mutex_unlock(&sym_lock);
    return out->nframes > 0 && out->frames[0].func[0] ? 0 : -1;
}

int od_symbolize_name(uintptr_t pc, od_buf_t *out)
{
    od_sym_t s;
    if (od_symbolize(pc, &s) != 0) return -1;
    od_buf_puts(out, s.frames[0].func);
    return 0;
}

int od_symbolize_build_id(uintptr_t addr, od_buf_t *out)
{
    pthread_mutex_lock(&sym_lock);
    setup();
    const char *hex = NULL;
    for (size_t i = 0; i < nbuild_ids && hex == NULL; i++)
        if (build_ids[i].addr == addr) hex = build_ids[i].hex;
    if (hex == NULL) {
        uint64_t w = addr;
        od_buf_t reply = OD_BUF_INIT;
        if (call_helper(OD_SYMHELPER_BUILD_ID, &w, 1, &reply) == 0) {
            cursor_t c = {reply.base, reply.base + reply.len, 0};
            hex = take_str(&c);
            if (c.bad) hex = NULL;
        }
        od_buf_dispose(&reply);
        if (hex && nbuild_ids < BUILD_IDS) {
            build_ids[nbuild_ids].addr = addr;
            build_ids[nbuild_ids++].hex = hex;
        }
    }
    int rc = hex && hex[0] ? 0 : -1;
    if (rc == 0) od_buf_puts(out, hex);
    pthread_mutex_unlock(&sym_lock);
    return rc;
}

void od_symbolize_reset(void)
{
    pthread_mutex_lock(&sym_lock);
    if (cache) cache_clear();
    nbuild_ids = 0;
    od_symhelper_stop();
    pthread_mutex_unlock(&sym_lock);
}

void od_symbolize_footprint(size_t *touched_bytes, size_t *reserved_bytes)
{
    pthread_mutex_lock(&sym_lock);
    size_t t = 0;
    if (cache)
        t = CACHE_SLOTS * sizeof(*cache) + records_used + INTERN_SLOTS * sizeof(*intern_tab) + intern_used;
    if (touched_bytes) *touched_bytes = t;
    if (reserved_bytes)
        *reserved_bytes =
            CACHE_SLOTS * sizeof(*cache) + RECORDS_BYTES + INTERN_SLOTS * sizeof(*intern_tab) + INTERN_BYTES;
    pthread_mutex_unlock(&sym_lock);
}

void od_symbolize_profile(const od_profile_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        n += p->samples[i].npcs;
    if (n == 0) return;
    uintptr_t *all = od_malloc(n * sizeof(*all)), *a = all;
    int leaf_exact = p->kind == OD_PROF_CPU;
    for (size_t i = 0; i < p->nsamples; i++)
        for (size_t j = 0; j < p->samples[i].npcs; j++)
            *a++ = od_sym_lookup_pc(p->samples[i].pcs[j], j, leaf_exact);
    od_symbolize_prefetch(all, n);
    free(all);
}
