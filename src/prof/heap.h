/*
 * heap — the memory profile: tcmalloc's sampled heap, with Go's four sample types.
 *
 * In use.  tcmalloc samples about one allocation per TCMALLOC_SAMPLE_PARAMETER bytes
 * (`profiling.heap_sample_bytes`, read when tcmalloc loads: see prof/prof_env.h) and keeps the
 * stack of every sampled object until it is freed; MallocExtension::GetHeapSample lists the
 * live ones ("heap profile: ... @ heap_v2/PERIOD", then "1: SIZE [1: SIZE] @ pc ..." per
 * object).  Those give inuse_objects and inuse_space.
 *
 * Allocated.  tcmalloc keeps nothing about objects already freed (its growth stacks record
 * page-heap growth, not allocations), so alloc_objects and alloc_space come from a sampler of
 * our own: a MallocHook new-hook installed at load time (a constructor, reading the same
 * TCMALLOC_SAMPLE_PARAMETER as tcmalloc, so both sample with the same period) that counts
 * bytes down per thread and, once per exponentially distributed interval of mean PERIOD
 * bytes, records the caller's stack (libgcc's unwinder) into a fixed table (4096 slots, 3072
 * stacks; samples of further new stacks are counted as dropped and reported in the profile's
 * comment).  Counts are cumulative since the process started, as in Go.
 *
 * Why a hook, and what it costs.  The alternative, alloc_* equal to inuse_*, would make
 * /debug/pprof/allocs a copy of /debug/pprof/heap and hide allocation churn, the usual
 * reason to look.  Any new-hook moves every malloc off tcmalloc's fast path; the hook's own
 * fast path is one TLS decrement, and the sampled path (one allocation in ~PERIOD bytes)
 * walks the stack and takes a mutex.  Measured on a malloc/free loop of 16..520-byte
 * objects (CPU time per pair): 4.5 ns with heap profiling off, 15 ns with tcmalloc's
 * sampling alone (its libunwind stack walks are mostly sigprocmask system calls), 21 ns
 * with this sampler too — about +6 ns per allocation, paid only when heap_sample_bytes > 0.
 * The two samplers are independent, so for a stack whose objects are all still live the
 * alloc estimate could come out below the in-use one; alloc_* is raised to at least inuse_*
 * per stack.
 *
 * Values are unsampled, as Go's runtime writes them into profile.proto: each sampled object
 * of SIZE bytes stands for 1/(1-exp(-SIZE/PERIOD)) objects (the probability that a Poisson
 * sampler of mean PERIOD hits it), and SIZE times that many bytes.  `period` holds PERIOD for
 * reference only; the pprof writer emits the values as they are, and the legacy writer
 * converts them back to raw sampled counts for its "heap_v2/PERIOD" header (which the
 * readers scale again).
 *
 * Stacks.  Leaf first, every pc a return address (the leaf is the return address into the
 * function that called the allocator).  Allocator frames are removed from the leaf end:
 * frames inside libtcmalloc, libc's allocating helpers (strdup, vasprintf...) and orderd's
 * own wrappers (od_malloc, od_calloc, od_realloc, od_strdup, od_strndup, od_asprintf and
 * the od_buf_* growth functions), so the leaf is the code that asked for memory, as in Go.
 * Stacks are cut to 28 frames (tcmalloc keeps 31 including its own) so that both sources
 * name the same stack identically.
 *
 * A tcmalloc quirk: a thread's sampler that starts before tcmalloc has read its
 * configuration (the main thread, at load) skips its first 16 MiB of allocation.
 *
 * Sanitizer builds (-DOD_NO_TCMALLOC) have no tcmalloc: the functions here fail with a
 * message saying so, and no hook is installed.
 *
 * Threading: all functions are thread-safe.  The hook's table is guarded by one mutex
 * (`alloc_lock` in heap.c), held only to record a sampled allocation or to copy the table.
 */
#ifndef OD_PROF_HEAP_H
#define OD_PROF_HEAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "prof/profile.h"
#include "base/util.h"

/**
 * takes the heap profile.  `out` is initialized by this call whatever the result (it must
 * not hold a profile) and must be released with od_profile_dispose.  On success: kind
 * OD_PROF_HEAP; types alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes (default inuse_space); period_type space/bytes; period = the sampling
 * period in bytes; time_ns = now; one sample per distinct stack; no raw_legacy (the legacy
 * writer re-encodes, which keeps the alloc values); a comment when allocations were dropped
 * or the alloc sampler is off.
 * @return 0 if successful, -1 if heap profiling is unavailable (sanitizer build, or
 * heap_sample_bytes 0 so tcmalloc samples nothing) or failed, with a message appended to err
 */
int od_heap_profile(od_profile_t *out, od_buf_t *err);

/**
 * whether a heap profile (growth 0) or a growth profile (growth 1) can be taken, without
 * taking one: not in a build without tcmalloc, and a heap profile not when tcmalloc samples
 * nothing (heap_sample_bytes 0).  A HEAD answers from this what the GET would.
 * @return 1 if it can, 0 if not with the reason (the GET's message) appended to why
 */
int od_heap_available(int growth, od_buf_t *why);

/**
 * takes tcmalloc's heap growth profile (for /pprof/growth): one sample per stack that grew
 * the page heap, every growth recorded (not sampled; works whatever heap_sample_bytes is).
 * Same four types, all carrying the growth (objects = growth events, space = bytes), period
 * 0; out->raw_legacy holds tcmalloc's own text ("heap profile: ... @ growth" and its lines,
 * without the memory map), which the legacy writer emits verbatim.
 * @return 0 if successful, -1 with a message appended to err (sanitizer builds)
 */
int od_heap_growth(od_profile_t *out, od_buf_t *err);

/** @return the period in bytes of the allocation sampler (alloc_*), 0 when it is off */
long od_heap_alloc_period(void);

/* --- heap_shim.cc ------------------------------------------------------------------------ */

/** MallocExtension::GetHeapSample's text, malloc'd and NUL-terminated (caller frees with
 *  free(3)); NULL in sanitizer builds or when out of memory */
char *od_heap_shim_sample(size_t *len);
/** MallocExtension::GetHeapGrowthStacks's text, as od_heap_shim_sample */
char *od_heap_shim_growth(size_t *len);

#ifdef __cplusplus
}
#endif

#endif
