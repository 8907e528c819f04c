/*
 * capture — one call that takes a profile of any kind and turns it into bytes: the common
 * ground of the HTTP endpoints (http/profiling.c) and the profiling schedule.
 *
 *   kind        collector                      formats
 *   cpu         prof/cpu.h (gperftools)        pprof legacy text folded svg; `seconds` window
 *   memory      prof/heap.h (tcmalloc sample)  pprof legacy text folded svg
 *   goroutines  prof/threads.h (live stacks)   pprof legacy text folded svg
 *   block       prof/lockprof.h                pprof legacy text folded svg
 *   mutex       prof/lockprof.h                pprof legacy text folded svg
 *   trace       prof/trace.h                   always Chrome Trace Event JSON; `seconds` window
 *   gc          prof/gc.h (tcmalloc statistics) JSON (text with OD_FMT_TEXT)
 *
 * CPU profiles and traces run for a window and are exclusive (one of each at a time in the
 * process); the other kinds are snapshots and may run concurrently.
 *
 * Threading: every function is thread-safe.  od_capture and od_capture_profile block (a CPU
 * profile or a trace for its whole window): call them off the event loop (od_defer, or the
 * schedule's own thread).  `cancelled(arg)` is polled on the calling thread about every
 * 100 ms during a window; when it returns non-zero the window ends early and what was
 * gathered so far is returned.
 *
 * Ownership: the caller owns every buffer and profile passed in; strings returned through
 * `ext` and `content_type` are static.
 */
#ifndef OD_PROF_CAPTURE_H
#define OD_PROF_CAPTURE_H

#include "prof/format.h"
#include "prof/profile.h"
#include "base/util.h"

typedef enum od_capture_kind {
    OD_CAP_CPU,
    OD_CAP_MEMORY,
    OD_CAP_GOROUTINES,
    OD_CAP_BLOCK,
    OD_CAP_MUTEX,
    OD_CAP_TRACE,
    OD_CAP_GC,
} od_capture_kind_t;

#define OD_CAP_COUNT 7

/** od_capture's answer when a CPU profile (or a trace) is already running: HTTP 409 */
#define OD_CAPTURE_BUSY (-2)

/**
 * parses a kind name: "cpu", "memory" (or "heap"), "goroutines" (or "goroutine", "threads"),
 * "block", "mutex", "trace", "gc"
 * @return 0 if successful, -1 if the name is unknown
 */
int od_capture_kind_parse(const char *name, od_capture_kind_t *out);

/** @return the canonical name of a kind ("cpu", "memory", "goroutines", ...) */
const char *od_capture_kind_name(od_capture_kind_t k);

/** @return 1 if the kind runs for a window of `seconds` (cpu, trace), 0 if it is a snapshot */
int od_capture_kind_timed(od_capture_kind_t k);

/** @return 1 if the kind takes ?format= (cpu, memory, goroutines, block, mutex), 0 if not */
int od_capture_kind_has_format(od_capture_kind_t k);

/**
 * captures a profile of kind `kind` and appends it to `out`: in format `fmt` for the profile
 * kinds, Chrome Trace Event JSON for trace (`fmt` ignored) and JSON for gc (text when `fmt` is
 * OD_FMT_TEXT).  `seconds` is
 * the window for cpu and trace (ignored for the others; bounds are the caller's business,
 * at least 0.01 is used).  On success *ext is the file extension ("pb.gz", "prof", "json",
 * ...) and *content_type the MIME type to serve it with (either pointer may be NULL).
 * @return 0 if successful, OD_CAPTURE_BUSY if a CPU profile (for cpu) or a trace (for trace)
 * is already running, or -1 with a message appended to err (collector unavailable or
 * failed)
 */
int od_capture(od_capture_kind_t kind, double seconds, od_prof_format_t fmt, int (*cancelled)(void *),
               void *arg, od_buf_t *out, const char **ext, const char **content_type, od_buf_t *err);

/**
 * the first half of od_capture for the profile kinds (cpu, memory, goroutines, block,
 * mutex): collects into `p` without writing it, for callers that adjust the profile first
 * (the default sample type of /debug/pprof/allocs, delta profiles).  `p` is initialized by
 * this call whatever the result and must be released with od_profile_dispose.
 * @return 0 if successful, OD_CAPTURE_BUSY (cpu only), or -1 with a message appended to err
 * (also for trace and gc, which are not profiles)
 */
int od_capture_profile(od_capture_kind_t kind, double seconds, int (*cancelled)(void *), void *arg,
                       od_profile_t *p, od_buf_t *err);

/**
 * a delta profile, as Go's ?seconds= on its named profiles: takes a profile of kind `kind`
 * (memory, goroutines, block or mutex), waits `seconds` (ending early when cancelled(arg)
 * says so), takes another and stores in `p` the second minus the first, stack by stack
 * and label set (as Go's profile.Merge keys samples)
 * (stacks only in the first appear negated; all-zero stacks are left out); time_ns is the
 * second's, duration_ns the time between them.  `p` is initialized by this call whatever the
 * result and must be released with od_profile_dispose.
 * @return 0 if successful, -1 with a message appended to err
 */
int od_capture_delta(od_capture_kind_t kind, double seconds, int (*cancelled)(void *), void *arg,
                     od_profile_t *p, od_buf_t *err);

/**
 * returns free allocator memory to the operating system (tcmalloc's ReleaseFreeMemory), as
 * Go's ?gc=1 runs a collection before a heap profile; does nothing without tcmalloc
 */
void od_capture_release_memory(void);

#endif
