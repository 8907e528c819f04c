/*
 * cpu — the CPU profile: a window of stack samples taken every 1/hz s of CPU time, parsed
 * into an od_profile_t.  Two engines collect it:
 *
 *   perf_event  (prof/cpu_perf.c) a perf_event_open CPU-clock timer per thread (the
 *               kernel's high-resolution per-thread CPU-time clock, as Linux perf and
 *               async-profiler use), each overflow a signal (SIGTRAP, or OD_CPU_SIGNAL on
 *               kernels before 5.13) to the thread that ran, which walks its own stack from
 *               the signal context.  The timers are copies of one event that od_cpu_arm
 *               opens before the first thread starts (cheap at a context switch), or else
 *               opened per thread for each window.  Any rate up to OD_CPU_PERF_MAX_HZ;
 *               short bursts between scheduler ticks are counted.
 *   itimer      (prof/cpu_itimer.c) gperftools' libprofiler: the process-wide ITIMER_PROF
 *               timer, driven by the scheduler tick, so it delivers at most CONFIG_HZ
 *               samples per CPU-second (od_cpu_itimer_max_hz) and under-credits short
 *               bursts.  Its frequency is read once, from CPUPROFILE_FREQUENCY, when
 *               libprofiler loads — so orderd must have it in its environment at exec (see
 *               prof/prof_env.h).  Kept for where perf_event_open is refused (paranoid level,
 *               seccomp, permissions).
 *
 * od_cpu_configure picks the engine once at startup (`auto` = perf_event where a probe
 * perf_event_open succeeds, else itimer); if perf_event_open is refused later, that one
 * profile falls back to itimer and says so (one warning in the log, a comment line).
 *
 * Both engines keep program counters as gperftools does: pc[0] is the interrupted
 * instruction itself, the callers are return addresses (the instruction after the call).
 * Writers that need call sites (symbolization, pprof locations) subtract 1 from all but
 * the leaf.
 *
 * The gperftools legacy file format (what the itimer engine writes, and what
 * od_cpu_parse_legacy, in cpu_engine.h, reads) is an array of native machine words:
 *
 *   header   0, 3, 0, sampling period in microseconds, 0
 *   records  count, depth, pc[0] ... pc[depth-1]      (pc[0] is the leaf)
 *   trailer  0, 1, 0
 *
 * followed by a text copy of /proc/self/maps.  A stack may appear in several records; they
 * are merged.
 *
 * Threading: od_cpu_configure runs before threads start (not thread-safe).  od_cpu_profile
 * blocks for the whole window, so call it from a thread that is not an event loop.  Only
 * one profile can run at a time in the process; a concurrent call returns OD_CPU_BUSY at
 * once.  The other functions may be called from any thread.
 */
#ifndef OD_PROF_CPU_H
#define OD_PROF_CPU_H

#include <signal.h>
#include <stdint.h>

#include "prof/profile.h"
#include "base/util.h"

/** od_cpu_profile's answer when another CPU profile is already running */
#define OD_CPU_BUSY (-2)

/** the highest cpu_hz accepted at all (libprofiler's cap) */
#define OD_CPU_HZ_MAX 4000

/**
 * the perf_event engine's limit, by measurement against perf record on the loaded server (in a
 * 2-core VM, ~40 us a sample): up to 2000 Hz every function's share stayed within 1.2 points
 * and the total within 4 % of /proc; at 4000 Hz the handler's own cost, which the profile
 * credits to the interrupted code, put shares 2.7-7.7 points off
 */
#define OD_CPU_PERF_MAX_HZ 2000

typedef enum od_cpu_engine {
    OD_CPU_ENGINE_AUTO, /* perf_event where allowed, else itimer */
    OD_CPU_ENGINE_PERF_EVENT,
    OD_CPU_ENGINE_ITIMER,
} od_cpu_engine_t;

/**
 * parses "auto", "perf_event" or "itimer"
 * @return 0 if successful, -1 if not
 */
int od_cpu_engine_parse(const char *name, od_cpu_engine_t *out);

/** @return the engine's name as the config spells it (static) */
const char *od_cpu_engine_label(od_cpu_engine_t e);

/**
 * @return 1 if perf_event_open is allowed for this process (probed once, on the first
 * call's thread, by a cheap open and close), 0 if not; *why (may be NULL) then names the
 * reason (static string)
 */
int od_cpu_perf_available(const char **why);

/** @return the engine `choice` means here: auto resolved by od_cpu_perf_available */
od_cpu_engine_t od_cpu_engine_resolve(od_cpu_engine_t choice);

/** @return the itimer engine's rate: CPUPROFILE_FREQUENCY as libprofiler read it */
int od_cpu_itimer_hz(void);

/**
 * @return the itimer engine's real maximum rate: the kernel tick, CONFIG_HZ from
 * /proc/config.gz or /boot/config-RELEASE, or measured once with a short ITIMER_PROF probe
 */
int od_cpu_itimer_max_hz(void);

/** @return the highest cpu_hz engine `e` (auto resolved) delivers */
int od_cpu_engine_max_hz(od_cpu_engine_t e);

/**
 * chooses the engine (auto resolved) and, for perf_event, the rate; the itimer engine's
 * rate is CPUPROFILE_FREQUENCY's.  Without a call the engine is itimer (as before engines
 * existed).  Call before threads start.
 * @return 0 if successful, -1 if not (hz out of the engine's range: nothing changed)
 */
int od_cpu_configure(od_cpu_engine_t choice, int hz);

/**
 * for perf_event: opens now, while the caller is the only thread, the one event every
 * thread started later inherits, so that a profile enables it instead of opening an event
 * per thread (whose timer the kernel stops and restarts at each of that thread's context
 * switches: ~3 us each in a VM, against ~0.3 us for inherited copies, which it swaps).
 * Without it, or where it fails, each profile opens per-thread events.  Call after
 * od_cpu_configure, before any thread starts.
 * @return 0 if successful, -1 with *why (static) naming the reason
 */
int od_cpu_arm(const char **why);

/**
 * changes the perf_event engine's rate for the profiles that start from now on (a reload's
 * profiling.cpu_hz).  At a rate other than the one od_cpu_arm armed, a profile opens
 * per-thread events (slower at context switches, as without arming).  The itimer engine's
 * rate cannot change: libprofiler read it at exec (a hand-over applies it).  Any thread.
 * @return 0 if successful, -1 if the engine is itimer or hz is out of range (nothing changed)
 */
int od_cpu_set_hz(int hz);

/** @return the engine in use: "perf_event" or "itimer" (static) */
const char *od_cpu_engine_name(void);

/**
 * @return the sampling frequency in force: the configured rate for perf_event; for itimer,
 * CPUPROFILE_FREQUENCY as libprofiler parses it (a positive integer, capped at 4000), or
 * its default 100
 */
int od_cpu_hz(void);

/**
 * runs a CPU profile for `duration_ns`, polling `cancelled(arg)` about every 100 ms (it may
 * be NULL); when it returns non-zero (the HTTP client went away) the profile stops early and
 * what was gathered is still returned, flagged: out->comment then starts with "cancelled".
 * `cancelled` is called on this thread.
 *
 * `out` is initialized by this call whatever the result (it must not hold a profile) and
 * must be released with od_profile_dispose.  On success it holds kind OD_PROF_CPU, sample
 * types samples/count and cpu/nanoseconds (the default), period_type cpu/nanoseconds, the
 * period in ns (perf_event: exactly 1e9/hz; itimer: as gperftools wrote it, 1e9/hz rounded
 * to whole microseconds), time_ns (wall clock at the start), duration_ns (as actually run),
 * one sample per distinct stack with values {count, count * period}, a comment line
 * "cpu engine: ..." naming the engine, its rate and period (and for perf_event the threads
 * sampled and the samples dropped), and for the itimer engine, in out->raw_legacy, the
 * gperftools bytes from the header to the trailer inclusive, without the memory map (the
 * legacy writer appends a fresh one; for perf_event it encodes the samples).
 *
 * @return 0 if successful, OD_CPU_BUSY if a profile is already running, or -1 with a message
 * appended to err
 */
int od_cpu_profile(uint64_t duration_ns, int (*cancelled)(void *), void *arg, od_profile_t *out,
                   od_buf_t *err);

/** @return 1 while a profile runs, 0 otherwise */
int od_cpu_busy(void);

#endif
