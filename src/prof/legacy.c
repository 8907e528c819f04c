/*
 * legacy — gperftools' formats (see legacy.h).  Readers checked: go tool pprof 1.19
 * (internal/profile/legacy_profile.go: parseCPU, parseHeap, parseContention, parseThread) and
 * google-pprof 2.10 (ReadCPUProfile, ReadHeapProfile, ReadSynchProfile).
 */
#include "prof/legacy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prof/symbolize.h"

int od_legacy_append_maps(od_buf_t *out)
{
    size_t len = 0;
    char *maps = od_read_file("/proc/self/maps", &len);
    if (maps == NULL) return -1;
    od_buf_append(out, maps, len);
    if (len && maps[len - 1] != '\n') od_buf_putc(out, '\n');
    free(maps);
    return 0;
}

static void put_pcs(od_buf_t *out, const od_prof_sample_t *s)
{
    od_buf_puts(out, " @");
    for (size_t j = 0; j < s->npcs; j++)
        od_buf_printf(out, " 0x%llx", (unsigned long long)s->pcs[j]);
}

static int type_index(const od_profile_t *p, const char *type)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (p->types[i].type && strcmp(p->types[i].type, type) == 0) return (int)i;
    return -1;
}

/* --- heap and contention lines ---------------------------------------------------------------- */

int od_legacy_lines_init(od_legacy_lines_t *l, const od_profile_t *p, od_buf_t *err)
{
    memset(l, 0, sizeof(*l));
    l->p = p;
    l->kind = p->kind;
    l->rate = 1;
    l->divisor = 1;
    l->inuse_n = l->inuse_b = l->alloc_n = l->alloc_b = l->count_i = l->delay_i = -1;
    if (p->kind == OD_PROF_HEAP) {
        l->inuse_n = type_index(p, "inuse_objects");
        l->inuse_b = type_index(p, "inuse_space");
        l->alloc_n = type_index(p, "alloc_objects");
        l->alloc_b = type_index(p, "alloc_space");
        if (l->inuse_n < 0 && l->inuse_b < 0 && l->alloc_n < 0) { /* {objects, space} */
            l->inuse_n = type_index(p, "objects");
            l->inuse_b = type_index(p, "space");
        }
        if ((l->inuse_n < 0) != (l->inuse_b < 0) || (l->alloc_n < 0) != (l->alloc_b < 0) ||
            (l->inuse_n < 0 && l->alloc_n < 0)) {
            od_buf_puts(err,
                        "legacy: heap profile needs inuse_objects/inuse_space or alloc_objects/alloc_space");
            return -1;
        }
        if (p->period > 1) l->rate = p->period;
        return 0;
    }
    if (p->kind == OD_PROF_BLOCK || p->kind == OD_PROF_MUTEX) {
        l->count_i = type_index(p, "contentions");
        l->delay_i = type_index(p, "delay");
        if (l->count_i < 0 || l->delay_i < 0) {
            if (p->ntypes < 2) {
                od_buf_puts(err, "legacy: contention profile needs contentions and delay values");
                return -1;
            }
            l->count_i = 0, l->delay_i = 1;
        }
        /* The readers multiply by the sampling period: divide only when it is exact. */
        int64_t d = p->period > 1 ? p->period : 1;
        for (size_t i = 0; i < p->nsamples && d > 1; i++) {
            const int64_t *v = p->samples[i].values;
            if (v[l->count_i] % d != 0 || v[l->delay_i] % d != 0) d = 1;
        }
        l->divisor = d;
        return 0;
    }
    od_buf_puts(err, "legacy: not a heap or contention profile");
    return -1;
}

/* tcmalloc's raw sampled (count, bytes) for the estimated (n, b): the inverse of the readers'
 * scaling, which multiplies both by 1/(1-exp(-S/rate)) with S = bytes/count of the file.  The
 * raw count is n*(1-exp(-S/rate)) rounded; S is then solved from b = rc*S/(1-exp(-S/rate))
 * (increasing in S) so that the readers find b again even though n was rounded. */
static void heap_raw(int64_t rate, int64_t n, int64_t b, int64_t *rn, int64_t *rb)
{
    if (n <= 0) {
        *rn = *rb = 0;
        return;
    }
    if (b <= 0) {
        *rn = n, *rb = 0;
        return;
    }
    if (rate <= 1) {
        *rn = n, *rb = b;
        return;
    }
    double r = (double)rate, avg = (double)b / (double)n;
    int64_t rc = llround((double)n * (1.0 - exp(-avg / r)));
    if (rc < 1) rc = 1;
    double lo = 0, hi = (double)b / (double)rc; /* scale >= 1, so S <= b/rc */
    for (int i = 0; i < 100; i++) {
        double s = (lo + hi) / 2;
        if (s > 0 && (double)rc * s / -expm1(-s / r) > (double)b)
            hi = s;
        else
            lo = s;
    }
    *rn = rc;
    *rb = llround((double)rc * (lo + hi) / 2);
    if (*rb < 1) *rb = 1;
}

static void heap_pairs(const od_legacy_lines_t *l, const int64_t *v, int64_t out[4])
{
    int64_t in = l->inuse_n >= 0 ? v[l->inuse_n] : 0, ib = l->inuse_b >= 0 ? v[l->inuse_b] : 0;
    int64_t an = l->alloc_n >= 0 ? v[l->alloc_n] : 0, ab = l->alloc_b >= 0 ? v[l->alloc_b] : 0;
    heap_raw(l->rate, in, ib, &out[0], &out[1]);
    heap_raw(l->rate, an, ab, &out[2], &out[3]);
}

void od_legacy_lines_go(od_legacy_lines_t *l)
{
    if (l->kind != OD_PROF_BLOCK && l->kind != OD_PROF_MUTEX) return;
    l->go = 1;
    if (l->kind == OD_PROF_BLOCK) l->divisor = 1; /* the readers then take a period of 1 */
}

void od_legacy_lines_header(const od_legacy_lines_t *l, od_buf_t *out)
{
    const od_profile_t *p = l->p;
    if (l->kind == OD_PROF_HEAP) {
        int64_t t[4] = {0, 0, 0, 0}, r[4];
        for (size_t i = 0; i < p->nsamples; i++) {
            heap_pairs(l, p->samples[i].values, r);
            for (int k = 0; k < 4; k++)
                t[k] += r[k];
        }
        od_buf_printf(out, "heap profile: %lld: %lld [%lld: %lld] @ heap_v2/%lld\n", (long long)t[0],
                      (long long)t[1], (long long)t[2], (long long)t[3], (long long)l->rate);
        return;
    }
    if (l->go) {
        /* Go's runtime/pprof: no "ms since reset" (readers skip the comment) */
        od_buf_printf(out, "--- %s:\n", l->kind == OD_PROF_MUTEX ? "mutex" : "contention");
        od_buf_puts(out, "cycles/second=1000000000\n");
        if (l->kind == OD_PROF_MUTEX) od_buf_printf(out, "sampling period=%lld\n", (long long)l->divisor);
        if (p->duration_ns) od_buf_printf(out, "# duration: %.3f s\n", (double)p->duration_ns / 1e9);
        return;
    }
    od_buf_puts(out, "--- contention:\n");
    od_buf_puts(out, "cycles/second = 1000000000\n"); /* delays are in nanoseconds */
    od_buf_printf(out, "sampling period = %lld\n", (long long)l->divisor);
    od_buf_printf(out, "ms since reset = %llu\n", (unsigned long long)(p->duration_ns / 1000000));
}

int od_legacy_lines_sample(const od_legacy_lines_t *l, size_t i, od_buf_t *out)
{
    const od_prof_sample_t *s = &l->p->samples[i];
    if (l->kind == OD_PROF_HEAP) {
        int64_t r[4];
        heap_pairs(l, s->values, r);
        od_buf_printf(out, "%lld: %lld [%lld: %lld]", (long long)r[0], (long long)r[1], (long long)r[2],
                      (long long)r[3]);
        put_pcs(out, s);
        return 0;
    }
    int64_t count = s->values[l->count_i] / l->divisor, delay = s->values[l->delay_i] / l->divisor;
    if (count <= 0 && delay <= 0) return -1;
    if (count <= 0) count = 1; /* google-pprof divides delay by count */
    if (delay < 0) delay = 0;
    od_buf_printf(out, "%lld %lld", (long long)delay, (long long)count);
    put_pcs(out, s);
    return 0;
}

/* --- per kind -------------------------------------------------------------------------------- */

static void put_word(od_buf_t *out, uintptr_t w)
{
    od_buf_append(out, &w, sizeof(w));
}

/* Whether gperftools' bytes already end with their memory map: walks the binary records to the
 * trailer and looks for text after it. */
static int cpu_raw_has_map(const od_buf_t *raw)
{
    const size_t W = sizeof(uintptr_t);
    size_t nw = raw->len / W, i;
    uintptr_t w[2];
    if (nw < 5) return 0;
    memcpy(w, raw->base + W, W);
    i = 2 + w[0];
    while (i + 2 <= nw) {
        memcpy(w, raw->base + i * W, 2 * W);
        uintptr_t count = w[0], depth = w[1], first = 0;
        if (i + 2 < nw) memcpy(&first, raw->base + (i + 2) * W, W);
        i += 2 + depth;
        if (count == 0 && depth == 1 && first == 0) break;
        if (depth > raw->len) return 0;
    }
    return i * W < raw->len;
}

static int write_cpu(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    if (p->raw_legacy.len > 0) {
        od_buf_append(out, p->raw_legacy.base, p->raw_legacy.len);
        if (!cpu_raw_has_map(&p->raw_legacy)) od_legacy_append_maps(out);
        return 0;
    }
    int ci = type_index(p, "samples");
    int ti = ci < 0 ? type_index(p, "cpu") : -1;
    if (ci < 0 && (ti < 0 || p->period <= 0)) {
        if (p->ntypes == 0) {
            od_buf_puts(err, "legacy: CPU profile has no sample types");
            return -1;
        }
        ci = 0;
    }
    uint64_t period_us = p->period > 0 ? (uint64_t)p->period / 1000 : 10000;
    if (period_us == 0) period_us = 1;
    put_word(out, 0);
    put_word(out, 3);
    put_word(out, 0);
    put_word(out, (uintptr_t)period_us);
    put_word(out, 0);
    for (size_t i = 0; i < p->nsamples; i++) {
        const od_prof_sample_t *s = &p->samples[i];
        int64_t n = ci >= 0 ? s->values[ci] : s->values[ti] / p->period;
        if (n <= 0 || s->npcs == 0) continue;
        put_word(out, (uintptr_t)n);
        put_word(out, (uintptr_t)s->npcs);
        for (size_t j = 0; j < s->npcs; j++)
            put_word(out, s->pcs[j]);
    }
    put_word(out, 0);
    put_word(out, 1);
    put_word(out, 0);
    od_legacy_append_maps(out);
    return 0;
}

static int write_lines(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    od_legacy_lines_t l;
    if (od_legacy_lines_init(&l, p, err) != 0) return -1;
    od_legacy_lines_header(&l, out);
    for (size_t i = 0; i < p->nsamples; i++)
        if (od_legacy_lines_sample(&l, i, out) == 0) od_buf_putc(out, '\n');
    od_buf_puts(out, p->kind == OD_PROF_HEAP ? "\nMAPPED_LIBRARIES:\n" : "--- Memory map: ---\n");
    od_legacy_append_maps(out);
    return 0;
}

/* The thread names of a threads sample: the first string label whose key names threads. */
static const char *thread_names(const od_prof_sample_t *s)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        const char *k = s->labels[i].key;
        if (s->labels[i].str && (strstr(k, "thread") || strstr(k, "name"))) return s->labels[i].str;
    }
    return NULL;
}

/* Copies the k-th name of a comma-separated list into buf ("thread" when there is none). */
static void nth_name(const char *list, size_t k, char *buf, size_t size)
{
    const char *p = list;
    for (size_t i = 0; p && i < k; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (p == NULL) p = "thread";
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ",");
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n == 0) p = "thread", n = 6;
    if (n >= size) n = size - 1;
    for (size_t i = 0; i < n; i++) /* the reader's regex: keep '/' and newlines out of names */
        buf[i] = p[i] == '/' || p[i] == '\n' ? '_' : p[i];
    buf[n] = '\0';
}

static int write_threads(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    int64_t total = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].npcs > 0 && p->ntypes > 0) total += p->samples[i].values[0];
    od_buf_printf(out, "--- threadz %lld ---\n", (long long)total);
    size_t serial = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const od_prof_sample_t *s = &p->samples[i];
        int64_t n = p->ntypes > 0 ? s->values[0] : 1;
        if (s->npcs == 0 || n <= 0) continue; /* an empty stack would read as "same as previous" */
        const char *names = thread_names(s);
        for (int64_t k = 0; k < n; k++) {
            char name[128];
            nth_name(names, names ? (size_t)k : 0, name, sizeof(name));
            serial++;
            od_buf_printf(out, "--- Thread %zx (name: %s/%zu) stack: ---\n", serial, name, serial);
            if (k > 0) {
                od_buf_puts(out, "  same as previous thread\n");
                continue;
            }
            od_buf_puts(out, " ");
            for (size_t j = 0; j < s->npcs; j++) /* the reader adjusts all but the leaf */
                od_buf_printf(out, " 0x%llx",
                              (unsigned long long)(j == 0 ? od_sym_lookup_pc(s->pcs[0], 0, 0) : s->pcs[j]));
            od_buf_putc(out, '\n');
        }
    }
    od_buf_puts(out, "--- Memory map: ---\n");
    od_legacy_append_maps(out);
    return 0;
}

int od_legacy_write(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    switch (p->kind) {
    case OD_PROF_CPU:
        return write_cpu(p, out, err);
    case OD_PROF_HEAP:
        if (p->raw_legacy.len > 0) { /* tcmalloc's own heap sample text */
            od_buf_append(out, p->raw_legacy.base, p->raw_legacy.len);
            if (strstr(p->raw_legacy.base, "MAPPED_LIBRARIES:") == NULL) {
                od_buf_puts(out, "\nMAPPED_LIBRARIES:\n");
                od_legacy_append_maps(out);
            }
            return 0;
        }
        return write_lines(p, out, err);
    case OD_PROF_BLOCK:
    case OD_PROF_MUTEX:
        return write_lines(p, out, err);
    case OD_PROF_THREADS:
        return write_threads(p, out, err);
    }
    od_buf_printf(err, "legacy: unknown profile kind %d", (int)p->kind);
    return -1;
}
