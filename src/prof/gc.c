#include "prof/gc.h"

#include <stddef.h>
#include <stdio.h>

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_extension_c.h>

/* The statistics reported, in order: JSON key, tcmalloc property, text label. */
static const struct stat_def {
    const char *key, *property, *label;
} stats[] = {
    {"allocated_bytes", "generic.current_allocated_bytes", "allocated (in use by the program)"},
    {"heap_size_bytes", "generic.heap_size", "heap size (reserved by tcmalloc)"},
    {"physical_bytes", "generic.total_physical_bytes", "physical (heap - unmapped + metadata)"},
    {"pageheap_free_bytes", "tcmalloc.pageheap_free_bytes", "free in the page heap"},
    {"pageheap_unmapped_bytes", "tcmalloc.pageheap_unmapped_bytes", "unmapped (returned to the OS)"},
    {"central_cache_free_bytes", "tcmalloc.central_cache_free_bytes", "free in the central cache"},
    {"transfer_cache_free_bytes", "tcmalloc.transfer_cache_free_bytes", "free in the transfer cache"},
    {"thread_cache_free_bytes", "tcmalloc.thread_cache_free_bytes", "free in the thread caches"},
};
#define NSTATS (sizeof(stats) / sizeof(stats[0]))
#define UNMAPPED 4 /* index of pageheap_unmapped_bytes */

typedef struct snapshot {
    size_t v[NSTATS];
    int known[NSTATS];
    uint64_t rss;
} snapshot_t;

typedef struct gc_run {
    snapshot_t before, after;
    uint64_t release_ns;
} gc_run_t;

static void take(snapshot_t *s)
{
    for (size_t i = 0; i < NSTATS; i++)
        s->known[i] = MallocExtension_GetNumericProperty(stats[i].property, &s->v[i]) != 0;
    s->rss = od_rss_bytes();
}

static void run(gc_run_t *r)
{
    take(&r->before);
    uint64_t t0 = od_now_ns();
    MallocExtension_ReleaseFreeMemory();
    r->release_ns = od_now_ns() - t0;
    take(&r->after);
}

static uint64_t released(const gc_run_t *r)
{
    if (!r->before.known[UNMAPPED] || !r->after.known[UNMAPPED]) return 0;
    size_t b = r->before.v[UNMAPPED], a = r->after.v[UNMAPPED];
    return a > b ? a - b : 0;
}

static void json_snapshot(od_buf_t *j, const snapshot_t *s)
{
    od_buf_putc(j, '{');
    for (size_t i = 0; i < NSTATS; i++)
        if (s->known[i]) od_buf_printf(j, "\"%s\":%zu,", stats[i].key, s->v[i]);
    od_buf_printf(j, "\"rss_bytes\":%llu}", (unsigned long long)s->rss);
}

void od_gc_report(od_buf_t *json)
{
    gc_run_t r;
    run(&r);
    od_buf_puts(json, "{\"allocator\":\"tcmalloc\",\"before\":");
    json_snapshot(json, &r.before);
    od_buf_puts(json, ",\"after\":");
    json_snapshot(json, &r.after);
    od_buf_printf(json, ",\"released_bytes\":%llu,\"release_us\":%llu}", (unsigned long long)released(&r),
                  (unsigned long long)(r.release_ns / 1000));
}

static void text_row(od_buf_t *o, const char *label, int known_b, uint64_t b, int known_a, uint64_t a)
{
    if (!known_b || !known_a) {
        od_buf_printf(o, "%-40s %14s %14s\n", label, "n/a", "n/a");
        return;
    }
    od_buf_printf(o, "%-40s %14llu %14llu %+15lld  (%+.1f MiB)\n", label, (unsigned long long)b,
                  (unsigned long long)a, (long long)a - (long long)b, ((double)a - (double)b) / 1048576.0);
}

void od_gc_report_text(od_buf_t *out)
{
    gc_run_t r;
    run(&r);
    od_buf_puts(out, "allocator: tcmalloc — statistics before and after releasing free memory to the OS\n\n");
    od_buf_printf(out, "%-40s %14s %14s %15s\n", "bytes", "before", "after", "change");
    for (size_t i = 0; i < NSTATS; i++)
        text_row(out, stats[i].label, r.before.known[i], r.before.v[i], r.after.known[i], r.after.v[i]);
    text_row(out, "resident set size (RSS)", r.before.rss != 0, r.before.rss, r.after.rss != 0, r.after.rss);
    uint64_t rel = released(&r);
    od_buf_printf(out, "\nreleased %llu bytes (%.1f MiB) to the OS in %llu us\n", (unsigned long long)rel,
                  rel / 1048576.0, (unsigned long long)(r.release_ns / 1000));
}

uint64_t od_alloc_bytes(void)
{
    size_t v = 0;
    if (!MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &v)) return 0;
    return v;
}

#else /* OD_NO_TCMALLOC: the sanitizer owns malloc */

#define SAN_MESSAGE                                                                                          \
    "allocator statistics and releasing free memory are unavailable in sanitizer builds (compiled with "     \
    "OD_NO_TCMALLOC: the sanitizer replaces malloc, there is no tcmalloc); only the RSS is reported"

void od_gc_report(od_buf_t *json)
{
    od_buf_printf(json, "{\"allocator\":\"sanitizer\",\"rss_bytes\":%llu,\"message\":",
                  (unsigned long long)od_rss_bytes());
    od_buf_json_str(json, SAN_MESSAGE);
    od_buf_putc(json, '}');
}

void od_gc_report_text(od_buf_t *out)
{
    od_buf_printf(out, "allocator: sanitizer\nresident set size (RSS): %llu bytes\n\n%s\n",
                  (unsigned long long)od_rss_bytes(), SAN_MESSAGE);
}

uint64_t od_alloc_bytes(void)
{
    return 0;
}

#endif
