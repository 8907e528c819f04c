/*
 * legacy — gperftools' profile formats, each followed by the process's memory map, for
 * google-pprof (which reads nothing else) and for go tool pprof's legacy parsers.
 *
 *   CPU      the binary profile: words of the native size and byte order, header
 *            {0, 3, 0, period_us, 0}, then {count, depth, pc...} per stack, trailer {0, 1, 0},
 *            then the /proc/self/maps text.  When the collector kept gperftools' own bytes
 *            (p->raw_legacy) they are emitted verbatim (the map appended if they lack one).
 *   HEAP     "heap profile: N: M [ N: M] @ heap_v2/RATE", one "N: M [ N: M] @ 0x..." line per
 *            sample (in use first, allocated in brackets), "\nMAPPED_LIBRARIES:\n", the map.
 *   BLOCK,   "--- contention:", "cycles/second = 1000000000", "sampling period = N",
 *   MUTEX    "ms since reset = N", one "DELAY COUNT @ 0x..." line per sample,
 *            "--- Memory map: ---", the map.
 *   THREADS  "--- threadz N ---", then per thread "--- Thread ID (name: NAME/N) stack: ---"
 *            with its PCs (or "same as previous thread"), "--- Memory map: ---", the map.
 *            go tool pprof reads it; google-pprof has no thread profile at all.
 *
 * Values: the profile holds the values a user should see (what the pprof writer emits).  The
 * heap format carries tcmalloc's raw sampled counts, which both readers scale up by
 * 1/(1-exp(-size/RATE)); this writer applies the inverse so the readers show the profile's
 * values again.  The contention readers multiply by the sampling period; values are divided
 * by it only when that is exact, otherwise the period is written as 1.
 *
 * Addresses: PCs are written as captured (return addresses); the readers subtract 1 for the
 * callers themselves.  The threadz reader does not adjust the leaf, so it is written as pc-1.
 *
 * Threading: thread-safe; the profile is only read.
 */
#ifndef OD_PROF_LEGACY_H
#define OD_PROF_LEGACY_H

#include "prof/profile.h"
#include "base/util.h"

/**
 * appends p in gperftools' legacy format for its kind, memory map included
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_legacy_write(const od_profile_t *p, od_buf_t *out, od_buf_t *err);

/**
 * appends the text of /proc/self/maps
 * @return 0 if successful, -1 if it cannot be read (nothing appended)
 */
int od_legacy_append_maps(od_buf_t *out);

/*
 * The text lines of the heap and contention formats, shared with the text writer (Go's
 * debug=1 output uses the same grammar).  od_legacy_lines_init decides the scaling once.
 */
typedef struct od_legacy_lines {
    const od_profile_t *p;
    int kind;                               /* OD_PROF_HEAP, or BLOCK/MUTEX for contention */
    int inuse_n, inuse_b, alloc_n, alloc_b; /* heap: value indices, -1 if absent */
    int count_i, delay_i;                   /* contention: value indices */
    int64_t rate;                           /* heap sampling rate (1 = unsampled) */
    int64_t divisor;                        /* contention: the sampling period written */
    int go;                                 /* contention: Go's debug=1 header (od_legacy_lines_go) */
} od_legacy_lines_t;

/** @return 0 if p is a heap or contention profile with usable sample types, -1 if not */
int od_legacy_lines_init(od_legacy_lines_t *l, const od_profile_t *p, od_buf_t *err);
/** switches l to the contention header Go's runtime/pprof writes for debug=1 (block:
 *  "--- contention:" and "cycles/second=N"; mutex: "--- mutex:", "cycles/second=N",
 *  "sampling period=N"), with a "# duration: S s" comment for a window; block has no
 *  sampling period there, so its values are written whole */
void od_legacy_lines_go(od_legacy_lines_t *l);
/** appends the header line(s), each ending in "\n" */
void od_legacy_lines_header(const od_legacy_lines_t *l, od_buf_t *out);
/** appends sample i's line without the newline; @return 0 if written, -1 if the sample is
 *  skipped (contention samples without events) */
int od_legacy_lines_sample(const od_legacy_lines_t *l, size_t i, od_buf_t *out);

#endif
