/*
 * format — turns an od_profile_t into bytes a person or a tool reads.
 *
 *   pprof   gzipped profile.proto, symbolized in-process (function, file, line, with
 *           inlined frames) so `go tool pprof FILE` needs no binary
 *   legacy  gperftools' formats with the memory map appended: the CPU profile's raw bytes,
 *           heap_v2 for the heap, "--- contention:" for block/mutex, "threadz" counts for
 *           threads — readable by google-pprof
 *   text    human-readable, Go's debug=1 (runtime/pprof's headers; idle profiler threads folded)
 *   folded  one "root;caller;leaf N" line per stack (the default sample type)
 *   svg     a flame graph that opens in a browser (zoom, search; flame.h)
 *
 * What the writers assume of a profile (collectors fill it this way):
 *   - values are what a user should see, already unsampled (as Go writes profile.proto);
 *     the legacy writer converts them back where its format carries raw samples (heap_v2
 *     counts, the contention sampling period)
 *   - pcs are leaf first and return addresses, looked up at pc - 1; only the leaf of a CPU
 *     sample is the exact interrupted PC (gperftools' convention, which pprof follows)
 *   - thread samples carry string labels "threads" (names, comma-separated) and "state"
 *   - p->default_type names the default sample type; NULL means the last one
 * Writers: format.c dispatches to pprof.c, legacy.c, render.c (text, folded) and flame.c (svg), all
 * symbolizing through symbolize.h.
 *
 * Thread-safe (symbolization is cached behind a lock).
 */
#ifndef OD_PROF_FORMAT_H
#define OD_PROF_FORMAT_H

#include "prof/profile.h"

typedef enum od_prof_format {
    OD_FMT_PPROF,
    OD_FMT_LEGACY,
    OD_FMT_TEXT,
    OD_FMT_FOLDED,
    OD_FMT_SVG,
} od_prof_format_t;

/** @return 0 if `name` is a known format ("pprof", "legacy", "text", "folded", "svg"), -1 if not */
int od_prof_format_parse(const char *name, od_prof_format_t *out);
/** file extension for a download, e.g. "pb.gz", "prof", "heap", "txt", "folded", "svg" */
const char *od_prof_format_ext(od_prof_format_t fmt, od_prof_kind_t kind);
/** MIME type, e.g. "application/octet-stream", "text/plain; charset=utf-8", "image/svg+xml" */
const char *od_prof_format_content_type(od_prof_format_t fmt);

/**
 * appends the profile to out in the given format
 * @return 0 if successful, -1 if not (message appended to err)
 */
int od_prof_write(const od_profile_t *p, od_prof_format_t fmt, od_buf_t *out, od_buf_t *err);

#endif
