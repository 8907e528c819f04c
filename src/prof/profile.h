/*
 * profile — the in-memory profile every collector produces and every writer reads.
 *
 * A profile is a list of samples; each sample is a call stack (program counters, leaf
 * first) with one value per sample type, and optional string labels (thread name, state).
 * Collectors (cpu, heap, threads, contention) fill one; writers (pprof proto, legacy
 * gperftools formats, text, folded, SVG flame graph) turn it into bytes.
 *
 * Ownership: the profile owns its samples, their pcs, values and label strings (all copied
 * in by od_profile_add); release everything with od_profile_dispose.  Not thread-safe: one
 * profile is built and written by one thread.
 */
#ifndef OD_PROF_PROFILE_H
#define OD_PROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define OD_PROF_MAX_TYPES 4
#define OD_PROF_MAX_DEPTH 64
#define OD_PROF_MAX_LABELS 4

typedef enum od_prof_kind {
    OD_PROF_CPU,
    OD_PROF_HEAP,
    OD_PROF_THREADS, /* goroutines */
    OD_PROF_BLOCK,
    OD_PROF_MUTEX,
} od_prof_kind_t;

typedef struct od_prof_valtype {
    const char *type; /* static string, e.g. "samples", "cpu", "alloc_space", "contentions" */
    const char *unit; /* static string, e.g. "count", "nanoseconds", "bytes" */
} od_prof_valtype_t;

typedef struct od_prof_label {
    char *key;            /* owned */
    char *str;            /* owned; NULL for a numeric label */
    int64_t num;          /* numeric label value (e.g. "bytes" for heap samples) */
    const char *num_unit; /* static; for numeric labels */
} od_prof_label_t;

typedef struct od_prof_sample {
    uintptr_t *pcs; /* owned; leaf first; return addresses as captured (writers adjust) */
    size_t npcs;
    int64_t values[OD_PROF_MAX_TYPES];
    od_prof_label_t labels[OD_PROF_MAX_LABELS];
    size_t nlabels;
} od_prof_sample_t;

typedef struct od_profile {
    od_prof_kind_t kind;
    od_prof_valtype_t types[OD_PROF_MAX_TYPES];
    size_t ntypes;
    const char *default_type; /* static; NULL = the last type */
    od_prof_valtype_t period_type;
    int64_t period;   /* e.g. 10000000 ns for 100 Hz CPU, sampling bytes for heap */
    uint64_t time_ns; /* wall clock at the start of collection */
    uint64_t duration_ns;
    od_prof_sample_t *samples; /* owned */
    size_t nsamples, cap;
    /* Raw legacy bytes when the collector produced them (the gperftools CPU profile):
     * the legacy writer emits these verbatim (plus the memory map) instead of re-encoding. */
    od_buf_t raw_legacy;
    /* Free-form comment lines (e.g. "heap profiling unavailable in sanitizer builds"). */
    char *comment; /* owned, may be NULL */
} od_profile_t;

void od_profile_init(od_profile_t *p, od_prof_kind_t kind);
void od_profile_dispose(od_profile_t *p);
/** appends a value type (static strings) */
void od_profile_add_type(od_profile_t *p, const char *type, const char *unit);
/**
 * appends a sample, copying pcs and values (ntypes values); returns the sample so that
 * the caller can add labels with od_profile_label_str / od_profile_label_num
 */
od_prof_sample_t *od_profile_add(od_profile_t *p, const uintptr_t *pcs, size_t npcs, const int64_t *values);
void od_profile_label_str(od_prof_sample_t *s, const char *key, const char *value);
void od_profile_label_num(od_prof_sample_t *s, const char *key, int64_t value, const char *unit);

/**
 * a hash of the stack pcs[0..n), for the collectors' tables that merge identical stacks;
 * it neither allocates nor locks, so the heap sampler's malloc hook may call it
 */
static inline uint64_t od_prof_hash_pcs(const uintptr_t *pcs, size_t n)
{
    uint64_t h = OD_HASH_INIT ^ n;
    for (size_t i = 0; i < n; i++) {
        h = od_hash_word(h, (uint64_t)pcs[i]);
        h ^= h >> 29; /* return addresses differ in their low bits: fold the high ones down */
    }
    return h;
}

#endif
