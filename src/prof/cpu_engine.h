/*
 * cpu_engine — what the CPU profile's front (prof/cpu.c) shares with its two engines
 * (prof/cpu_perf.c, prof/cpu_itimer.c).  Internal to the CPU profile; see prof/cpu.h for
 * the contract.
 *
 * An engine's run function is called by od_cpu_profile with the busy flag held, on the
 * caller's thread, with `out` initialized; it fills the samples, types and period, appends
 * one "cpu engine: ..." line to `note`, and sets *was_cancelled.
 */
#ifndef OD_PROF_CPU_ENGINE_H
#define OD_PROF_CPU_ENGINE_H

#include <signal.h>
#include <stdint.h>

#include "prof/profile.h"
#include "base/util.h"

/** the perf_event engine's overflow signal where SIGTRAP delivery is missing (fasync; the
 * thread-stack capture in threads.h uses SIGRTMIN + 3) */
#define OD_CPU_SIGNAL (SIGRTMIN + 4)

/** od_cpu_perf_run's answer when perf_event_open is refused: the caller falls back */
#define OD_CPU_REFUSED (-3)

/* A table of sample indexes by stack, so identical stacks merge into one sample. */
typedef struct od_cpu_stack_index {
    size_t *slots; /* owned; sample index + 1; 0 = empty */
    size_t cap;    /* power of two */
} od_cpu_stack_index_t;

/** sets kind, the sample types samples/count and cpu/nanoseconds and the period */
void od_cpu_set_types(od_profile_t *p, int64_t period_ns);

/** adds `count` samples of the stack to p (values {count, count * period}), merging */
void od_cpu_add_stack(od_profile_t *p, od_cpu_stack_index_t *ix, const uintptr_t *pcs, size_t n,
                      int64_t count);

/**
 * parses gperftools legacy CPU profile bytes (with or without the trailing memory map)
 * into p, which must have been initialized with od_profile_init; sets the types, period and
 * samples (not time_ns, duration_ns or raw_legacy).  Exposed for tests too.
 * @return the length of the binary part (header to trailer inclusive) if successful, or -1
 * with a message appended to err
 */
long od_cpu_parse_legacy(const void *data, size_t len, od_profile_t *p, od_buf_t *err);

/** releases the index's table (not the profile) */
void od_cpu_stack_index_dispose(od_cpu_stack_index_t *ix);

/**
 * gperftools libprofiler for the window; `hz` is its rate in force (CPUPROFILE_FREQUENCY as it
 * read it) and `tick_hz` the kernel tick that caps it, both for the note
 * @return 0 if successful, -1 with a message appended to err
 */
int od_cpu_itimer_run(uint64_t duration_ns, int hz, int tick_hz, int (*cancelled)(void *), void *arg,
                      od_profile_t *out, int *was_cancelled, od_buf_t *note, od_buf_t *err);

/**
 * per-thread perf_event CPU-clock sampling at `hz` for the window
 * @return 0 if successful, OD_CPU_REFUSED (reason in err, nothing collected) if
 * perf_event_open is refused for the process, -1 with a message appended to err
 */
int od_cpu_perf_run(uint64_t duration_ns, int hz, int (*cancelled)(void *), void *arg, od_profile_t *out,
                    int *was_cancelled, od_buf_t *note, od_buf_t *err);

/**
 * opens and closes one CPU-clock event on the calling thread
 * @return 0 if allowed (with *exclude_kernel 1 if only user-space counting is), or the errno
 * of the refusal
 */
int od_cpu_perf_probe(int *exclude_kernel);

/**
 * opens the process-wide event at `hz` (1 to OD_CPU_PERF_MAX_HZ, as od_cpu_configure checked): one disabled
 * CPU-clock event on the calling thread, inherited by every thread created after it (see cpu_perf.c); windows
 * at that rate then enable and disable it instead of opening an event per thread.  Call while the caller is
 * the only thread.
 * @return 0 if successful (or armed already at hz), -1 with *why (static) naming the reason
 */
int od_cpu_perf_arm(int hz, const char **why);

/** @return the process-wide event's rate, or 0 if none is armed */
int od_cpu_perf_armed(void);

/** 1: deliver samples by the fasync signal even where SIGTRAP samples work (for tests) */
void od_cpu_perf_set_fasync(int on);

#endif
