/*
 * capture — dispatch from a profile kind to its collector and writer (see capture.h).
 */
#include "prof/capture.h"

#include <stdlib.h>
#include <string.h>

#include "prof/cpu.h"
#include "prof/gc.h"
#include "prof/heap.h"
#include "prof/lockprof.h"
#include "prof/symbolize.h"
#include "prof/threads.h"
#include "prof/trace.h"

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

static const struct {
    const char *name;
    od_capture_kind_t kind;
} kind_names[] = {
    {"cpu", OD_CAP_CPU},
    {"memory", OD_CAP_MEMORY},
    {"heap", OD_CAP_MEMORY},
    {"goroutines", OD_CAP_GOROUTINES},
    {"goroutine", OD_CAP_GOROUTINES},
    {"threads", OD_CAP_GOROUTINES},
    {"block", OD_CAP_BLOCK},
    {"mutex", OD_CAP_MUTEX},
    {"trace", OD_CAP_TRACE},
    {"gc", OD_CAP_GC},
};

int od_capture_kind_parse(const char *name, od_capture_kind_t *out)
{
    if (name == NULL) return -1;
    for (size_t i = 0; i < OD_ARRAY_SIZE(kind_names); i++)
        if (strcmp(name, kind_names[i].name) == 0) {
            *out = kind_names[i].kind;
            return 0;
        }
    return -1;
}

const char *od_capture_kind_name(od_capture_kind_t k)
{
    switch (k) {
    case OD_CAP_CPU:
        return "cpu";
    case OD_CAP_MEMORY:
        return "memory";
    case OD_CAP_GOROUTINES:
        return "goroutines";
    case OD_CAP_BLOCK:
        return "block";
    case OD_CAP_MUTEX:
        return "mutex";
    case OD_CAP_TRACE:
        return "trace";
    case OD_CAP_GC:
        return "gc";
    }
    return "unknown";
}

int od_capture_kind_timed(od_capture_kind_t k)
{
    return k == OD_CAP_CPU || k == OD_CAP_TRACE;
}

int od_capture_kind_has_format(od_capture_kind_t k)
{
    return k != OD_CAP_TRACE && k != OD_CAP_GC;
}

void od_capture_release_memory(void)
{
#ifndef OD_NO_TCMALLOC
    MallocExtension_ReleaseFreeMemory();
#endif
}

/* Says in a heap profile's comments where the symbolizer's memory went (not in it). */
static void note_symbolizer(od_profile_t *p)
{
    size_t touched = 0, reserved = 0;
    od_symbolize_footprint(&touched, &reserved);
    char *line = od_asprintf("symbolization runs in a helper process; orderd's cache of its answers has used "
                             "%zu KiB so far (at most %zu KiB), mmap'd outside this heap",
                             touched >> 10, reserved >> 10);
    char *c = p->comment ? od_asprintf("%s\n%s", p->comment, line) : line;
    if (c != line) free(line);
    free(p->comment);
    p->comment = c;
}

static uint64_t window_ns(double seconds)
{
    if (!(seconds >= 0.01)) seconds = 0.01; /* also catches NaN */
    if (seconds > 86400.0) seconds = 86400.0;
    return (uint64_t)(seconds * 1e9);
}

int od_capture_profile(od_capture_kind_t kind, double seconds, int (*cancelled)(void *), void *arg,
                       od_profile_t *p, od_buf_t *err)
{
    switch (kind) {
    case OD_CAP_CPU: {
        int rc = od_cpu_profile(window_ns(seconds), cancelled, arg, p, err);
        return rc == OD_CPU_BUSY ? OD_CAPTURE_BUSY : rc;
    }
    case OD_CAP_MEMORY: {
        int rc = od_heap_profile(p, err);
        if (rc == 0) note_symbolizer(p);
        return rc;
    }
    case OD_CAP_GOROUTINES:
        od_profile_init(p, OD_PROF_THREADS);
        if (od_threads_capture(p) != 0) {
            od_buf_puts(err, "cannot capture the threads' stacks");
            return -1;
        }
        return 0;
    case OD_CAP_BLOCK:
    case OD_CAP_MUTEX:
        if (od_lockprof_snapshot(p, kind == OD_CAP_BLOCK ? OD_PROF_BLOCK : OD_PROF_MUTEX) != 0) {
            od_buf_puts(err, "cannot copy the contention profile");
            return -1;
        }
        return 0;
    case OD_CAP_TRACE:
    case OD_CAP_GC:
        break;
    }
    od_profile_init(p, OD_PROF_CPU);
    od_buf_printf(err, "a %s capture is not a profile", od_capture_kind_name(kind));
    return -1;
}

/* sleeps until `ns` have passed or cancelled(arg) says stop, polling every 100 ms */
static void wait_window(uint64_t ns, int (*cancelled)(void *), void *arg)
{
    uint64_t end = od_now_ns() + ns;
    for (;;) {
        uint64_t now = od_now_ns();
        if (now >= end) return;
        if (cancelled && cancelled(arg)) return;
        uint64_t left = end - now;
        od_sleep_ns(left < 100000000ull ? left : 100000000ull);
    }
}

/* A sample's key for the delta: its stack and its string labels (the mutex profile keeps
 * identical stacks on different locks apart by the `lock` label). */
static uint64_t stack_hash(const od_prof_sample_t *s)
{
    uint64_t h = OD_HASH_INIT;
    for (size_t i = 0; i < s->npcs; i++)
        h = od_hash_word(h, (uint64_t)s->pcs[i]);
    for (size_t l = 0; l < s->nlabels; l++)
        if (s->labels[l].str) h = od_hash_add(h, s->labels[l].str, strlen(s->labels[l].str));
    return h ^ s->npcs;
}

static int same_labels(const od_prof_sample_t *a, const od_prof_sample_t *b)
{
    if (a->nlabels != b->nlabels) return 0;
    for (size_t l = 0; l < a->nlabels; l++) {
        const od_prof_label_t *x = &a->labels[l], *y = &b->labels[l];
        if (strcmp(x->key, y->key) != 0 || (x->str == NULL) != (y->str == NULL)) return 0;
        if (x->str ? strcmp(x->str, y->str) != 0 : x->num != y->num) return 0;
    }
    return 1;
}

static int same_stack(const od_prof_sample_t *a, const od_prof_sample_t *b)
{
    return a->npcs == b->npcs && memcmp(a->pcs, b->pcs, a->npcs * sizeof(a->pcs[0])) == 0 &&
           same_labels(a, b);
}

static void add_delta(od_profile_t *p, const od_prof_sample_t *s, const int64_t *v)
{
    int nonzero = 0;
    for (size_t t = 0; t < p->ntypes; t++)
        nonzero |= v[t] != 0;
    if (!nonzero) return;
    od_prof_sample_t *d = od_profile_add(p, s->pcs, s->npcs, v);
    for (size_t l = 0; l < s->nlabels; l++) {
        const od_prof_label_t *lb = &s->labels[l];
        if (lb->str)
            od_profile_label_str(d, lb->key, lb->str);
        else
            od_profile_label_num(d, lb->key, lb->num, lb->num_unit);
    }
}

/* p = b - a, stack by stack (a's stacks are matched through an open-addressing table) */
static void subtract(od_profile_t *p, const od_profile_t *a, const od_profile_t *b)
{
    od_profile_init(p, b->kind);
    memcpy(p->types, b->types, sizeof(p->types));
    p->ntypes = b->ntypes;
    p->default_type = b->default_type;
    p->period_type = b->period_type;
    p->period = b->period;
    p->time_ns = b->time_ns;
    p->duration_ns = b->time_ns > a->time_ns ? b->time_ns - a->time_ns : 0;
    if (b->comment) p->comment = od_strdup(b->comment);

    size_t cap = 16;
    while (cap < a->nsamples * 2)
        cap *= 2;
    long *slot = od_malloc(cap * sizeof(*slot));
    char *used = od_calloc(a->nsamples + 1, 1);
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    for (size_t i = 0; i < a->nsamples; i++) {
        size_t h = (size_t)stack_hash(&a->samples[i]) & (cap - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (cap - 1);
        slot[h] = (long)i;
    }
    for (size_t i = 0; i < b->nsamples; i++) {
        const od_prof_sample_t *s = &b->samples[i];
        int64_t v[OD_PROF_MAX_TYPES];
        memcpy(v, s->values, sizeof(v));
        for (size_t h = (size_t)stack_hash(s) & (cap - 1); slot[h] >= 0; h = (h + 1) & (cap - 1)) {
            const od_prof_sample_t *o = &a->samples[slot[h]];
            if (!used[slot[h]] && same_stack(o, s)) {
                for (size_t t = 0; t < b->ntypes; t++)
                    v[t] -= o->values[t];
                used[slot[h]] = 1;
                break;
            }
        }
        add_delta(p, s, v);
    }
    for (size_t i = 0; i < a->nsamples; i++) {
        if (used[i]) continue;
        int64_t v[OD_PROF_MAX_TYPES] = {0};
        for (size_t t = 0; t < a->ntypes; t++)
            v[t] = -a->samples[i].values[t];
        add_delta(p, &a->samples[i], v);
    }
    free(slot);
    free(used);
}

int od_capture_delta(od_capture_kind_t kind, double seconds, int (*cancelled)(void *), void *arg,
                     od_profile_t *p, od_buf_t *err)
{
    if (kind == OD_CAP_CPU || od_capture_kind_timed(kind) || !od_capture_kind_has_format(kind)) {
        od_profile_init(p, OD_PROF_CPU);
        od_buf_printf(err, "a delta needs a cumulative or snapshot profile, not %s",
                      od_capture_kind_name(kind));
        return -1;
    }
    od_profile_t a, b;
    if (od_capture_profile(kind, 0, NULL, NULL, &a, err) != 0) {
        od_profile_dispose(&a);
        od_profile_init(p, OD_PROF_CPU);
        return -1;
    }
    a.time_ns = od_wall_ns();
    wait_window(window_ns(seconds), cancelled, arg);
    if (od_capture_profile(kind, 0, NULL, NULL, &b, err) != 0) {
        od_profile_dispose(&a);
        od_profile_dispose(&b);
        od_profile_init(p, OD_PROF_CPU);
        return -1;
    }
    b.time_ns = od_wall_ns();
    subtract(p, &a, &b);
    od_profile_dispose(&a);
    od_profile_dispose(&b);
    return 0;
}

static int capture_trace(double seconds, int (*cancelled)(void *), void *arg, od_buf_t *out)
{
    if (od_trace_start() != 0) return OD_CAPTURE_BUSY;
    wait_window(window_ns(seconds), cancelled, arg);
    od_trace_stop(out);
    return 0;
}

int od_capture(od_capture_kind_t kind, double seconds, od_prof_format_t fmt, int (*cancelled)(void *),
               void *arg, od_buf_t *out, const char **ext, const char **content_type, od_buf_t *err)
{
    const char *e = "json", *ct = "application/json";
    int rc;
    if (kind == OD_CAP_TRACE) {
        rc = capture_trace(seconds, cancelled, arg, out);
    } else if (kind == OD_CAP_GC) {
        if (fmt == OD_FMT_TEXT) {
            od_gc_report_text(out);
            e = "txt";
            ct = "text/plain; charset=utf-8";
        } else {
            od_gc_report(out);
            od_buf_putc(out, '\n');
        }
        rc = 0;
    } else {
        od_profile_t p;
        rc = od_capture_profile(kind, seconds, cancelled, arg, &p, err);
        if (rc == 0) rc = od_prof_write(&p, fmt, out, err);
        e = od_prof_format_ext(fmt, p.kind);
        ct = od_prof_format_content_type(fmt);
        od_profile_dispose(&p);
    }
    if (rc == 0) {
        if (ext) *ext = e;
        if (content_type) *content_type = ct;
    }
    return rc;
}
