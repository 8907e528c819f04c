/*
 * cpu — the CPU profile: gperftools' sampling profiler (libprofiler) run for a window and
 * parsed into an od_profile_t.
 *
 * gperftools samples the whole process: ProfilerStart installs a SIGPROF handler and the
 * process-wide ITIMER_PROF timer delivers a signal every 1/hz s of CPU time consumed by any
 * thread; the handler records the interrupted thread's stack.  The frequency is read once,
 * from CPUPROFILE_FREQUENCY, when libprofiler loads — so orderd must have it in its
 * environment at exec (see prof/prof_env.h); od_cpu_hz says what is in force.
 *
 * The profile is written by gperftools to a memfd (through /proc/self/fd/N, so nothing
 * touches the disk), then read back and parsed.  The legacy file format is an array of
 * native machine words:
 *
 *   header   0, 3, 0, sampling period in microseconds, 0
 *   records  count, depth, pc[0] ... pc[depth-1]      (pc[0] is the leaf)
 *   trailer  0, 1, 0
 *
 * followed by a text copy of /proc/self/maps.  A stack may appear in several records
 * (gperftools evicts from a small hash table); they are merged here.
 *
 * Program counters are kept exactly as gperftools recorded them: pc[0] is the interrupted
 * instruction itself, the callers are return addresses (the instruction after the call).
 * Writers that need call sites (symbolization, pprof locations) subtract 1 from all but
 * the leaf.
 *
 * Threading: od_cpu_profile blocks for the whole window, so call it from a thread that is
 * not an event loop.  Only one profile can run at a time in the process (gperftools has a
 * single profiler); a concurrent call returns OD_CPU_BUSY at once.  od_cpu_busy and
 * od_cpu_hz may be called from any thread.
 */
#ifndef OD_PROF_CPU_H
#define OD_PROF_CPU_H

#include <stdint.h>

#include "prof/profile.h"
#include "util.h"

/** od_cpu_profile's answer when another CPU profile is already running */
#define OD_CPU_BUSY (-2)

/**
 * runs a CPU profile for `duration_ns`, polling `cancelled(arg)` about every 100 ms (it may
 * be NULL); when it returns non-zero (the HTTP client went away) the profile stops early and
 * what was gathered is still returned, flagged: out->comment then starts with "cancelled".
 * `cancelled` is called on this thread.
 *
 * `out` is initialized by this call whatever the result (it must not hold a profile) and
 * must be released with od_profile_dispose.  On success it holds kind OD_PROF_CPU, sample
 * types samples/count and cpu/nanoseconds (the default), period_type cpu/nanoseconds, the
 * period in ns as gperftools wrote it (1e9/hz, rounded to whole microseconds), time_ns (wall
 * clock at the start), duration_ns (as actually run), one sample per distinct stack with
 * values {count, count * period}, and in out->raw_legacy the gperftools bytes from the header
 * to the trailer inclusive, without the memory map (the legacy writer appends a fresh one).
 *
 * @return 0 if successful, OD_CPU_BUSY if a profile is already running, or -1 with a message
 * appended to err
 */
int od_cpu_profile(uint64_t duration_ns, int (*cancelled)(void *), void *arg, od_profile_t *out,
                   od_buf_t *err);

/** @return 1 while a profile runs, 0 otherwise */
int od_cpu_busy(void);

/**
 * @return the sampling frequency in force: CPUPROFILE_FREQUENCY as libprofiler parses it
 * (a positive integer, capped at 4000), or its default 100
 */
int od_cpu_hz(void);

/**
 * parses gperftools legacy CPU profile bytes (with or without the trailing memory map)
 * into p, which must have been initialized with od_profile_init; sets the types, period and
 * samples (not time_ns, duration_ns or raw_legacy).  Exposed for tests and for reading
 * profiles written elsewhere.
 * @return the length of the binary part (header to trailer inclusive) if successful, or -1
 * with a message appended to err
 */
long od_cpu_parse_legacy(const void *data, size_t len, od_profile_t *p, od_buf_t *err);

#endif
