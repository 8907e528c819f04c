#include "prof/heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_hook_c.h>
#include <link.h>
#include <unwind.h>
#endif

#include "base/hashmap.h"

#define HEAP_OFF                                                                                             \
    "heap profiling is off: profiling.heap_sample_bytes is 0 (TCMALLOC_SAMPLE_PARAMETER was unset or 0 "     \
    "when orderd started), so tcmalloc samples no allocations"
#define HEAP_NONE                                                                                            \
    "heap profiling is unavailable in sanitizer builds (compiled with OD_NO_TCMALLOC: the sanitizer "        \
    "replaces malloc, so there is no tcmalloc to sample the heap)"
#define GROWTH_NONE                                                                                          \
    "heap growth profile is unavailable in sanitizer builds (compiled with OD_NO_TCMALLOC: no tcmalloc)"

#define HEAP_DEPTH 28       /* frames kept per stack, after tcmalloc's own (see heap.h) */
#define ALLOC_SLOTS 4096    /* the allocation sampler's table; a power of two */
#define ALLOC_MAX_USED 3072 /* load limit of that table */

/* --- the allocation sampler (alloc_*) ---------------------------------------------------- */

static long g_alloc_period; /* 0 = sampler off; set once by the constructor */

long od_heap_alloc_period(void)
{
    return g_alloc_period;
}

#ifndef OD_NO_TCMALLOC

typedef struct alloc_rec {
    uint64_t hash;
    uint32_t depth; /* 0 = empty slot */
    uintptr_t pcs[HEAP_DEPTH];
    double objects, bytes; /* unsampled */
} alloc_rec_t;

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
/* guarded by alloc_lock: */
static alloc_rec_t g_alloc[ALLOC_SLOTS];
static size_t g_alloc_used;
static uint64_t g_alloc_dropped;

/* Per thread: bytes left before the next sample, the PRNG, and a guard that keeps the hook
 * from recording while this thread holds alloc_lock or is already inside the hook.  The
 * initial-exec model keeps TLS access free of allocation. */
#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS int64_t t_left;
static TLS uint64_t t_rng;
static TLS int t_busy;

/* 1/(1-exp(-size/period)): how many objects of `size` bytes one sample stands for. */
static double unsample_weight(double size, double period)
{
    if (period <= 0 || size <= 0) return 1.0;
    return 1.0 / -expm1(-size / period);
}

/* An exponentially distributed interval of mean g_alloc_period bytes (xorshift64*). */
static int64_t next_interval(void)
{
    uint64_t x = t_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t_rng = x;
    double u = (double)((x * 2685821657736338717ull) >> 11) * 0x1.0p-53; /* [0, 1) */
    double v = -log1p(-u) * (double)g_alloc_period;
    return v < 1.0 ? 1 : v > 4e18 ? (int64_t)4e18 : (int64_t)v;
}

static void record_alloc(const uintptr_t *pcs, size_t depth, size_t size)
{
    double w = unsample_weight((double)size, (double)g_alloc_period);
    uint64_t h = od_prof_hash_pcs(pcs, depth);
    pthread_mutex_lock(&alloc_lock);
    size_t j = h & (ALLOC_SLOTS - 1);
    for (;;) {
        alloc_rec_t *r = &g_alloc[j];
        if (r->depth == 0) {
            if (g_alloc_used >= ALLOC_MAX_USED) {
                g_alloc_dropped++;
                break;
            }
            r->hash = h;
            r->depth = (uint32_t)depth;
            memcpy(r->pcs, pcs, depth * sizeof(*pcs));
            r->objects = w;
            r->bytes = w * (double)size;
            g_alloc_used++;
            break;
        }
        if (r->hash == h && r->depth == depth && memcmp(r->pcs, pcs, depth * sizeof(*pcs)) == 0) {
            r->objects += w;
            r->bytes += w * (double)size;
            break;
        }
        j = (j + 1) & (ALLOC_SLOTS - 1);
    }
    pthread_mutex_unlock(&alloc_lock);
}

/* The text segment(s) of libtcmalloc, found once by the constructor: frames there are the
 * allocator's. */
static uintptr_t g_tc_lo, g_tc_hi;

static int in_tcmalloc(uintptr_t pc)
{
    return pc >= g_tc_lo && pc < g_tc_hi;
}

static int find_tcmalloc_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t probe = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    if (probe < lo || probe >= hi) return 0;
    g_tc_lo = lo;
    g_tc_hi = hi;
    return 1;
}

#define RAW_DEPTH (HEAP_DEPTH + 12) /* room for this hook's and tcmalloc's frames */

typedef struct backtrace_state {
    uintptr_t *pcs;
    int n;
} backtrace_state_t;

static _Unwind_Reason_Code backtrace_step(struct _Unwind_Context *ctx, void *arg)
{
    backtrace_state_t *b = arg;
    uintptr_t pc = (uintptr_t)_Unwind_GetIP(ctx);
    if (pc == 0 || b->n >= RAW_DEPTH) return _URC_END_OF_STACK;
    b->pcs[b->n++] = pc;
    return _URC_NO_REASON;
}

/* A sample: the stack as tcmalloc's own sampler would see it, minus the allocator frames.
 * libgcc's unwinder (DWARF, no system calls, no allocation) rather than gperftools'
 * MallocHook_GetCallerStackTrace, which goes through libunwind and spends most of its time
 * in sigprocmask system calls on Debian's build: 34 ns against 21 ns per malloc+free with
 * heap sampling on (see heap.h). */
__attribute__((noinline)) static void alloc_hook_sample(size_t size)
{
    uintptr_t raw[RAW_DEPTH];
    backtrace_state_t b = {raw, 0};
    _Unwind_Backtrace(backtrace_step, &b);
    int i = 0;
    while (i < b.n && !in_tcmalloc(raw[i]))
        i++;             /* this hook */
    if (i == b.n) i = 1; /* no tcmalloc frame seen: skip the hook only */
    while (i < b.n && in_tcmalloc(raw[i]))
        i++; /* the allocator */
    int n = b.n - i;
    if (n > HEAP_DEPTH) n = HEAP_DEPTH;
    if (n > 0) record_alloc(raw + i, (size_t)n, size);
}

/* Runs after every allocation: must not allocate, and costs one TLS decrement unless the
 * countdown runs out (the rest is out of line so the fast path saves no registers). */
static void alloc_hook(const void *ptr, size_t size)
{
    if (ptr == NULL) return;
    t_left -= (int64_t)size;
    if (__builtin_expect(t_left > 0, 1)) return;
    if (t_rng == 0) { /* this thread's first allocation: start a countdown, no sample */
        t_rng = ((uint64_t)(uintptr_t)&t_left * 0x9e3779b97f4a7c15ull) ^ od_now_ns();
        if (t_rng == 0) t_rng = 1;
        t_left = next_interval() - (int64_t)size;
        if (t_left > 0) return;
    }
    t_left = next_interval();
    if (t_busy) return;
    t_busy = 1;
    alloc_hook_sample(size);
    t_busy = 0;
}

/* Installed at load, like tcmalloc's own sampler, from the same variable, so that both use
 * the same period and count from the start. */
__attribute__((constructor)) static void alloc_sampler_init(void)
{
    const char *s = getenv("TCMALLOC_SAMPLE_PARAMETER");
    if (s == NULL) return;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v <= 0) return;
    void *probe = dlsym(RTLD_DEFAULT, "tc_malloc");
    if (probe == NULL) return; /* not running on tcmalloc: no sampler either */
    dl_iterate_phdr(find_tcmalloc_text, probe);
    g_alloc_period = (long)v;
    if (!MallocHook_AddNewHook(alloc_hook)) g_alloc_period = 0;
}

/* --- stacks: allocator frames -------------------------------------------------------------- */

/* Functions that only allocate on behalf of their caller: removed from the leaf end. */
static const char *const wrappers[] = {
    "od_malloc",       "od_calloc",
    "od_realloc",      "od_strdup",
    "od_strndup",      "od_asprintf",
    "od_buf_reserve",  "od_buf_append",
    "od_buf_puts",     "od_buf_putc",
    "od_buf_printf",   "od_buf_vprintf",
    "od_buf_json_str", "malloc",
    "calloc",          "realloc",
    "strdup",          "__strdup",
    "strndup",         "__strndup",
    "vasprintf",       "__vasprintf",
    "asprintf",        "___asprintf",
    "__asprintf",      "__vasprintf_internal",
    "posix_memalign",  "aligned_alloc",
    "memalign",        "reallocarray",
};

typedef struct frame_cache {
    uintptr_t pc[256];
    signed char kind[256]; /* 0 unknown, 1 allocator library, 2 wrapper, 3 ordinary */
    const void *tcmalloc_base;
} frame_cache_t;

static void frame_cache_init(frame_cache_t *fc)
{
    memset(fc, 0, sizeof(*fc));
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "tc_malloc");
    if (sym != NULL && dladdr(sym, &info)) fc->tcmalloc_base = info.dli_fbase;
}

static int frame_kind(frame_cache_t *fc, uintptr_t pc)
{
    size_t j = (pc * 0x9e3779b97f4a7c15ull) >> 56;
    if (fc->kind[j] && fc->pc[j] == pc) return fc->kind[j];
    Dl_info info;
    int kind = 3;
    /* pc is a return address: pc - 1 is inside the calling function */
    if (dladdr((void *)(pc - 1), &info)) {
        if (fc->tcmalloc_base != NULL && info.dli_fbase == fc->tcmalloc_base)
            kind = 1;
        else if (info.dli_sname != NULL)
            for (size_t i = 0; i < OD_ARRAY_SIZE(wrappers); i++)
                if (strcmp(info.dli_sname, wrappers[i]) == 0) kind = 2;
    }
    fc->pc[j] = pc;
    fc->kind[j] = (signed char)kind;
    return kind;
}

/* Normalizes a stack in place as heap.h describes; returns the first frame to keep in *skip
 * and the number of frames kept. */
static size_t normalize(frame_cache_t *fc, const uintptr_t *pcs, size_t n, size_t *skip)
{
    size_t s = 0;
    while (s + 1 < n && frame_kind(fc, pcs[s]) == 1)
        s++;
    if (n - s > HEAP_DEPTH) n = s + HEAP_DEPTH;
    while (s + 1 < n && frame_kind(fc, pcs[s]) != 3)
        s++;
    *skip = s;
    return n - s;
}

/* --- the accumulator: stack -> four unsampled values ---------------------------------------- */

typedef struct acc_entry {
    uintptr_t pcs[HEAP_DEPTH];
    size_t n;
    double v[4]; /* alloc_objects, alloc_space, inuse_objects, inuse_space */
} acc_entry_t;

typedef struct acc {
    acc_entry_t *e;
    size_t n, cap;
    od_map_t index; /* a stack's pcs (bytes) → value.num: its entry's index + 1 */
    frame_cache_t fc;
} acc_t;

static void acc_init(acc_t *a)
{
    memset(a, 0, sizeof(*a));
    frame_cache_init(&a->fc);
}

static void acc_dispose(acc_t *a)
{
    free(a->e);
    od_map_dispose(&a->index);
}

/* Adds values (indexed as acc_entry_t.v) to the stack's entry, normalizing the stack. */
static void acc_add(acc_t *a, const uintptr_t *raw, size_t rawn, const double add[4])
{
    if (rawn == 0) return;
    size_t skip, n = normalize(&a->fc, raw, rawn, &skip);
    const uintptr_t *pcs = raw + skip;
    od_map_entry_t *ix = od_map_put(&a->index, pcs, n * sizeof(*pcs), NULL);
    if (ix->value.num) {
        acc_entry_t *e = &a->e[ix->value.num - 1];
        for (int k = 0; k < 4; k++)
            e->v[k] += add[k];
        return;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->e = od_realloc(a->e, a->cap * sizeof(*a->e));
    }
    acc_entry_t *e = &a->e[a->n++];
    memcpy(e->pcs, pcs, n * sizeof(*pcs));
    e->n = n;
    for (int k = 0; k < 4; k++)
        e->v[k] = add[k];
    ix->value.num = (int64_t)a->n;
}

/* --- tcmalloc's text --------------------------------------------------------------------------- */

/* Parses "heap profile: ... @ heap_v2/N" (or "@ growth") and its entry lines into `a`.  In-use
 * entries are unsampled and go to v[2], v[3]; growth entries go to all four.  Returns the
 * period (0 for growth), or -1; *body_len is set to the length of the text before the
 * memory map. */
static long parse_text(const char *text, size_t len, acc_t *a, size_t *body_len, int *growth, od_buf_t *err)
{
    const char *end = text + len, *nl = memchr(text, '\n', len);
    if (nl == NULL || strncmp(text, "heap profile:", 13) != 0) {
        size_t show = nl ? (size_t)(nl - text) : len;
        od_buf_printf(err, "heap profile: unexpected answer from tcmalloc: \"%.*s\"",
                      (int)(show > 200 ? 200 : show), text);
        return -1;
    }
    const char *at = memchr(text, '@', (size_t)(nl - text));
    long period;
    *growth = 0;
    if (at != NULL && strncmp(at, "@ heap_v2/", 10) == 0) {
        period = strtol(at + 10, NULL, 10);
    } else if (at != NULL && strncmp(at, "@ growth", 8) == 0) {
        period = 0;
        *growth = 1;
    } else {
        od_buf_printf(err, "heap profile: unknown header \"%.*s\"", (int)(nl - text), text);
        return -1;
    }
    const char *line = nl + 1;
    *body_len = len;
    uintptr_t pcs[64];
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) eol = end;
        if (eol == line || strncmp(line, "MAPPED_LIBRARIES:", 17) == 0) { /* the map follows */
            *body_len = (size_t)(line - text);
            break;
        }
        char *p;
        long long cnt = strtoll(line, &p, 10), size;
        if (*p != ':') goto bad;
        size = strtoll(p + 1, &p, 10);
        p = memchr(p, '@', (size_t)(eol - p));
        if (p == NULL || cnt < 0 || size < 0) goto bad;
        p++;
        size_t n = 0;
        while (p < eol && n < OD_ARRAY_SIZE(pcs)) {
            char *q;
            unsigned long long pc = strtoull(p, &q, 16);
            if (q == p) break;
            pcs[n++] = (uintptr_t)pc;
            p = q;
        }
        if (cnt > 0) {
            double w = unsample_weight((double)size / (double)cnt, (double)period);
            double add[4] = {0, 0, cnt * w, size * w};
            if (*growth) add[0] = add[2], add[1] = add[3];
            acc_add(a, pcs, n, add);
        }
        line = eol + 1;
        continue;
    bad:
        od_buf_printf(err, "heap profile: cannot parse tcmalloc line \"%.*s\"",
                      (int)(eol - line > 200 ? 200 : eol - line), line);
        return -1;
    }
    return period;
}

static void heap_types(od_profile_t *p, long period)
{
    od_profile_add_type(p, "alloc_objects", "count");
    od_profile_add_type(p, "alloc_space", "bytes");
    od_profile_add_type(p, "inuse_objects", "count");
    od_profile_add_type(p, "inuse_space", "bytes");
    p->default_type = "inuse_space";
    p->period_type = (od_prof_valtype_t){"space", "bytes"};
    p->period = period;
    p->time_ns = od_wall_ns();
}

static void acc_to_profile(acc_t *a, od_profile_t *p)
{
    for (size_t i = 0; i < a->n; i++) {
        acc_entry_t *e = &a->e[i];
        if (e->v[0] < e->v[2]) e->v[0] = e->v[2]; /* allocated >= still in use */
        if (e->v[1] < e->v[3]) e->v[1] = e->v[3];
        int64_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = llround(e->v[k]);
        od_profile_add(p, e->pcs, e->n, v);
    }
}

/* Adds the allocation sampler's table to `a`; returns the number of dropped samples. */
static uint64_t add_alloc_table(acc_t *a)
{
    t_busy = 1; /* this thread allocates while holding alloc_lock: keep its hook out */
    pthread_mutex_lock(&alloc_lock);
    alloc_rec_t *copy = od_malloc((g_alloc_used ? g_alloc_used : 1) * sizeof(*copy));
    size_t n = 0;
    for (size_t i = 0; i < ALLOC_SLOTS && n < g_alloc_used; i++)
        if (g_alloc[i].depth) copy[n++] = g_alloc[i];
    uint64_t dropped = g_alloc_dropped;
    pthread_mutex_unlock(&alloc_lock);
    t_busy = 0;
    for (size_t i = 0; i < n; i++) {
        double add[4] = {copy[i].objects, copy[i].bytes, 0, 0};
        acc_add(a, copy[i].pcs, copy[i].depth, add);
    }
    free(copy);
    return dropped;
}

int od_heap_available(int growth, od_buf_t *why)
{
    /* tcmalloc read its sample period from the environment at load, which the re-exec set */
    const char *s = getenv("TCMALLOC_SAMPLE_PARAMETER");
    if (!growth && (s == NULL || strtol(s, NULL, 10) <= 0)) {
        od_buf_puts(why, HEAP_OFF);
        return 0;
    }
    return 1;
}

int od_heap_profile(od_profile_t *out, od_buf_t *err)
{
    od_profile_init(out, OD_PROF_HEAP);
    if (!od_heap_available(0, err)) return -1;
    size_t len;
    char *text = od_heap_shim_sample(&len);
    if (text == NULL) {
        od_buf_puts(err, "heap profile: MallocExtension::GetHeapSample failed (out of memory)");
        return -1;
    }
    acc_t a;
    acc_init(&a);
    size_t body;
    int ret = -1, growth;
    long period = parse_text(text, len, &a, &body, &growth, err);
    if (period < 0) goto done;
    if (growth) {
        od_buf_puts(err, "heap profile: tcmalloc answered with growth stacks, not a heap sample");
        goto done;
    }
    if (period == 0) {
        od_buf_puts(err, HEAP_OFF);
        goto done;
    }
    heap_types(out, period);
    uint64_t dropped = 0;
    if (g_alloc_period > 0) dropped = add_alloc_table(&a);
    acc_to_profile(&a, out);
    if (g_alloc_period <= 0)
        out->comment =
            od_strdup("alloc_objects and alloc_space only count what is still in use: the "
                      "allocation sampler was not installed (TCMALLOC_SAMPLE_PARAMETER unset at load)");
    else if (dropped > 0)
        out->comment = od_asprintf("%llu sampled allocations are missing from alloc_objects/alloc_space: "
                                   "more than %d distinct stacks",
                                   (unsigned long long)dropped, ALLOC_MAX_USED);
    else if (g_alloc_period != period)
        out->comment =
            od_asprintf("alloc_* sampled every %ld bytes, inuse_* every %ld bytes", g_alloc_period, period);
    ret = 0;
done:
    acc_dispose(&a);
    free(text);
    return ret;
}

int od_heap_growth(od_profile_t *out, od_buf_t *err)
{
    od_profile_init(out, OD_PROF_HEAP);
    size_t len;
    char *text = od_heap_shim_growth(&len);
    if (text == NULL) {
        od_buf_puts(err, "heap growth profile: MallocExtension::GetHeapGrowthStacks failed (out of memory)");
        return -1;
    }
    acc_t a;
    acc_init(&a);
    size_t body;
    int ret = -1, growth;
    if (parse_text(text, len, &a, &body, &growth, err) < 0) goto done;
    if (!growth) {
        od_buf_puts(err, "heap growth profile: tcmalloc answered with a heap sample, not growth stacks");
        goto done;
    }
    heap_types(out, 0);
    acc_to_profile(&a, out);
    od_buf_append(&out->raw_legacy, text, body);
    out->comment =
        od_strdup("heap growth: each sample is a stack that grew tcmalloc's page heap (every growth, "
                  "not sampled)");
    ret = 0;
done:
    acc_dispose(&a);
    free(text);
    return ret;
}

#else /* OD_NO_TCMALLOC: the sanitizer owns malloc */

int od_heap_available(int growth, od_buf_t *why)
{
    od_buf_puts(why, growth ? GROWTH_NONE : HEAP_NONE);
    return 0;
}

int od_heap_profile(od_profile_t *out, od_buf_t *err)
{
    od_profile_init(out, OD_PROF_HEAP);
    od_heap_available(0, err);
    return -1;
}

int od_heap_growth(od_profile_t *out, od_buf_t *err)
{
    od_profile_init(out, OD_PROF_HEAP);
    od_heap_available(1, err);
    return -1;
}

#endif
