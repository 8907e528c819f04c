/*
 * gc — allocator statistics around a release of free memory to the OS: the native analogue
 * of Go's forced GC behind /profile/gc (and of debug.FreeOSMemory).
 *
 * tcmalloc has no collector; what it can do is hand the free spans of its page heap back to
 * the kernel (MallocExtension_ReleaseFreeMemory, madvise(MADV_DONTNEED) underneath).  A
 * report reads tcmalloc's numeric properties and the RSS, releases, times the release, and
 * reads them again.  Memory held in the central, transfer and per-thread caches is not
 * released (only the page heap's free spans are), so those numbers rarely move.
 *
 * JSON form (od_gc_report):
 *   {"allocator":"tcmalloc",
 *    "before":{"allocated_bytes":N,"heap_size_bytes":N,"physical_bytes":N,
 *              "pageheap_free_bytes":N,"pageheap_unmapped_bytes":N,"central_cache_free_bytes":N,
 *              "transfer_cache_free_bytes":N,"thread_cache_free_bytes":N,"rss_bytes":N},
 *    "after":{...same keys...},
 *    "released_bytes":N,   page-heap bytes unmapped by the release (after - before unmapped)
 *    "release_us":N}       how long the release took
 * allocated_bytes is generic.current_allocated_bytes (what the program holds), heap_size_bytes
 * generic.heap_size (what tcmalloc has reserved, free or not, unmapped included),
 * physical_bytes generic.total_physical_bytes (heap_size minus unmapped, plus metadata).
 * A property tcmalloc does not know is left out rather than reported as 0.
 *
 * Sanitizer builds (-DOD_NO_TCMALLOC) have no tcmalloc: the report is
 *   {"allocator":"sanitizer","rss_bytes":N,"message":"..."}
 * saying the allocator statistics and the release are unavailable.
 *
 * Threading: thread-safe (tcmalloc's calls take its own locks).  A report blocks for the
 * release (milliseconds for a large free heap): call it off the event loop.
 */
#ifndef OD_PROF_GC_H
#define OD_PROF_GC_H

#include <stdint.h>

#include "base/util.h"

/** releases free memory to the OS and appends the JSON report described above to json */
void od_gc_report(od_buf_t *json);

/** the same, as human-readable text (a before/after/change table), appended to out */
void od_gc_report_text(od_buf_t *out);

/** @return the bytes the program has allocated and not freed (tcmalloc's
 *  generic.current_allocated_bytes), for /metrics; 0 when unknown (sanitizer builds) */
uint64_t od_alloc_bytes(void);

#endif
