/*
 * capture — dispatch from a profile kind to its collector and writer (see capture.h).
 */
#include "prof/capture.h"

#include <string.h>

#include "prof/cpu.h"
#include "prof/heap.h"
#include "prof/lockprof.h"
#include "prof/threads.h"
#include "prof/trace.h"

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

/* TEMPORARY: heap.c is still being written; until it lands these resolve to NULL */
#pragma weak od_heap_profile

static const struct {
    const char *name;
    od_capture_kind_t kind;
} kind_names[] = {
    {"cpu", OD_CAP_CPU},       {"memory", OD_CAP_MEMORY},         {"heap", OD_CAP_MEMORY},
    {"goroutines", OD_CAP_GOROUTINES}, {"goroutine", OD_CAP_GOROUTINES}, {"threads", OD_CAP_GOROUTINES},
    {"block", OD_CAP_BLOCK},   {"mutex", OD_CAP_MUTEX},           {"trace", OD_CAP_TRACE},
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
    case OD_CAP_CPU: return "cpu";
    case OD_CAP_MEMORY: return "memory";
    case OD_CAP_GOROUTINES: return "goroutines";
    case OD_CAP_BLOCK: return "block";
    case OD_CAP_MUTEX: return "mutex";
    case OD_CAP_TRACE: return "trace";
    case OD_CAP_GC: return "gc";
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
    case OD_CAP_MEMORY:
        if (od_heap_profile == NULL) {
            od_profile_init(p, OD_PROF_HEAP);
            od_buf_puts(err, "the heap profiler is not built into this orderd yet");
            return -1;
        }
        return od_heap_profile(p, err);
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
    case OD_CAP_GC: break;
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

static int capture_trace(double seconds, int (*cancelled)(void *), void *arg, od_buf_t *out)
{
    if (od_trace_start() != 0) return OD_CAPTURE_BUSY;
    wait_window(window_ns(seconds), cancelled, arg);
    od_trace_stop(out);
    return 0;
}

static int capture_gc(od_buf_t *out, od_buf_t *err)
{
    (void)out;
    od_buf_puts(err, "allocator statistics are not built into this orderd yet");
    return -1;
}

int od_capture(od_capture_kind_t kind, double seconds, od_prof_format_t fmt, int (*cancelled)(void *),
               void *arg, od_buf_t *out, const char **ext, const char **content_type, od_buf_t *err)
{
    const char *e = "json", *ct = "application/json";
    int rc;
    if (kind == OD_CAP_TRACE) {
        rc = capture_trace(seconds, cancelled, arg, out);
    } else if (kind == OD_CAP_GC) {
        rc = capture_gc(out, err);
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
