/*
 * cpu — the CPU profile's front: which engine runs, at what rate, and the busy flag; the
 * engines (cpu_perf.c, cpu_itimer.c) get what they need from it as parameters, and share
 * cpu_samples.c.  See cpu.h for the contract.
 */
#include "prof/cpu.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"
#include "prof/cpu_engine.h"

/* 1 while a profile runs; taken with a compare-and-swap so a second caller never waits. */
static atomic_int g_busy;

#define HZ_DEFAULT 100 /* libprofiler's kDefaultFrequency */

/* Set by od_cpu_configure before threads start, read-only afterwards; the perf_event rate
 * may change later (od_cpu_set_hz), so it is read atomically. */
static od_cpu_engine_t g_engine = OD_CPU_ENGINE_ITIMER;
static _Atomic int g_perf_hz = HZ_DEFAULT;

int od_cpu_busy(void)
{
    return atomic_load(&g_busy);
}

/* --- engines and rates ------------------------------------------------------------------- */

static const char *const engine_names[] = {"auto", "perf_event", "itimer"};

int od_cpu_engine_parse(const char *name, od_cpu_engine_t *out)
{
    for (size_t i = 0; i < OD_ARRAY_SIZE(engine_names); i++)
        if (strcmp(name, engine_names[i]) == 0) {
            *out = (od_cpu_engine_t)i;
            return 0;
        }
    return -1;
}

const char *od_cpu_engine_label(od_cpu_engine_t e)
{
    return (unsigned)e < OD_ARRAY_SIZE(engine_names) ? engine_names[e] : "?";
}

static int g_perf_ok;
static const char *g_perf_why = "";
static pthread_once_t g_perf_once = PTHREAD_ONCE_INIT;

static void perf_probe_once(void)
{
    int excl = 0;
    int e = od_cpu_perf_probe(&excl);
    g_perf_ok = e == 0;
#ifdef __SANITIZE_THREAD__
    /* TSan defers signals to its own safe points: the stack at the handler is no longer the
     * interrupted one, so the perf_event engine's stacks would be wrong. */
    if (g_perf_ok) {
        g_perf_ok = 0;
        g_perf_why =
            "ThreadSanitizer defers signals, so stacks taken in the handler are not the interrupted ones";
    }
#endif
    if (e == EACCES || e == EPERM)
        g_perf_why = "perf_event_open is not permitted (kernel.perf_event_paranoid, capabilities or seccomp)";
    else if (e == ENOSYS)
        g_perf_why = "perf_event_open is not available (ENOSYS: kernel or seccomp)";
    else if (e == ENOENT || e == EOPNOTSUPP || e == EINVAL)
        g_perf_why = "the kernel has no software cpu-clock event for perf_event_open";
    else if (e != 0)
        g_perf_why = "perf_event_open failed for the probe event";
}

int od_cpu_perf_available(const char **why)
{
    pthread_once(&g_perf_once, perf_probe_once);
    if (why) *why = g_perf_why;
    return g_perf_ok;
}

od_cpu_engine_t od_cpu_engine_resolve(od_cpu_engine_t choice)
{
    if (choice != OD_CPU_ENGINE_AUTO) return choice;
    return od_cpu_perf_available(NULL) ? OD_CPU_ENGINE_PERF_EVENT : OD_CPU_ENGINE_ITIMER;
}

/* CONFIG_HZ=N from a kernel config (gzipped or plain: gzgets reads both); 0 if absent. */
static int config_hz_from(const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL) return 0;
    char line[256];
    int hz = 0;
    while (hz == 0 && gzgets(f, line, sizeof(line)) != NULL)
        if (strncmp(line, "CONFIG_HZ=", 10) == 0) hz = atoi(line + 10);
    gzclose(f);
    return hz > 0 && hz <= 100000 ? hz : 0;
}

static volatile sig_atomic_t g_probe_ticks;
static void probe_tick(int sig)
{
    g_probe_ticks++;
}

/* Where no kernel config is readable: count ITIMER_PROF signals asked for at 10 kHz over
 * ~100 ms of this thread's CPU time; the tick caps what arrives. */
static int measure_tick_hz(void)
{
    struct sigaction sa = {.sa_handler = probe_tick}, old;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGPROF, &sa, &old) != 0) return HZ_DEFAULT;
    struct itimerval it = {{0, 100}, {0, 100}}, off = {{0, 0}, {0, 0}}, oldit;
    g_probe_ticks = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    setitimer(ITIMER_PROF, &it, &oldit);
    volatile uint64_t x = 1;
    do {
        for (int i = 0; i < 100000; i++)
            x = x * 6364136223846793005ull + 1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 100e6);
    setitimer(ITIMER_PROF, &off, NULL);
    sigaction(SIGPROF, &old, NULL);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    double rate = g_probe_ticks / s;
    static const int ticks[] = {100, 250, 300, 1000};
    int best = ticks[0];
    for (size_t i = 1; i < OD_ARRAY_SIZE(ticks); i++) /* the nearest usual CONFIG_HZ */
        if (abs(ticks[i] - (int)rate) < abs(best - (int)rate)) best = ticks[i];
    return best;
}

static int g_tick_hz;
static pthread_once_t g_tick_once = PTHREAD_ONCE_INIT;

static void tick_once(void)
{
    struct utsname u;
    char path[300];
    g_tick_hz = config_hz_from("/proc/config.gz");
    if (g_tick_hz == 0 && uname(&u) == 0) {
        snprintf(path, sizeof(path), "/boot/config-%s", u.release);
        g_tick_hz = config_hz_from(path);
    }
    if (g_tick_hz == 0) g_tick_hz = measure_tick_hz();
}

int od_cpu_itimer_max_hz(void)
{
    pthread_once(&g_tick_once, tick_once);
    return g_tick_hz < OD_CPU_HZ_MAX ? g_tick_hz : OD_CPU_HZ_MAX;
}

int od_cpu_engine_max_hz(od_cpu_engine_t e)
{
    return od_cpu_engine_resolve(e) == OD_CPU_ENGINE_ITIMER ? od_cpu_itimer_max_hz() : OD_CPU_PERF_MAX_HZ;
}

int od_cpu_configure(od_cpu_engine_t choice, int hz)
{
    od_cpu_engine_t e = od_cpu_engine_resolve(choice);
    if (e == OD_CPU_ENGINE_PERF_EVENT && (hz < 1 || hz > OD_CPU_PERF_MAX_HZ)) return -1;
    g_engine = e;
    if (e == OD_CPU_ENGINE_PERF_EVENT) g_perf_hz = hz;
    return 0;
}

int od_cpu_arm(const char **why)
{
    if (g_engine != OD_CPU_ENGINE_PERF_EVENT) {
        *why = "the engine is itimer";
        return -1;
    }
    return od_cpu_perf_arm(g_perf_hz, why); /* od_cpu_configure bounded the rate */
}

int od_cpu_set_hz(int hz)
{
    if (g_engine != OD_CPU_ENGINE_PERF_EVENT || hz < 1 || hz > OD_CPU_PERF_MAX_HZ) return -1;
    atomic_store(&g_perf_hz, hz); /* the next profile's: a running one keeps the rate it took */
    return 0;
}

const char *od_cpu_engine_name(void)
{
    return od_cpu_engine_label(g_engine);
}

static int g_itimer_hz;
static pthread_once_t g_itimer_hz_once = PTHREAD_ONCE_INIT;

/* Mirrors libprofiler's own parsing ("%u%c" must match one field, > 0, capped) so that the
 * value reported is the one in force. */
static void itimer_hz_init(void)
{
    const char *s = getenv("CPUPROFILE_FREQUENCY");
    unsigned v;
    char junk;
    g_itimer_hz = HZ_DEFAULT;
    if (s != NULL && sscanf(s, "%u%c", &v, &junk) == 1 && v > 0)
        g_itimer_hz = v > OD_CPU_HZ_MAX ? OD_CPU_HZ_MAX : (int)v;
}

int od_cpu_itimer_hz(void)
{
    pthread_once(&g_itimer_hz_once, itimer_hz_init);
    return g_itimer_hz;
}

int od_cpu_hz(void)
{
    return g_engine == OD_CPU_ENGINE_PERF_EVENT ? g_perf_hz : od_cpu_itimer_hz();
}

/* --- the front --------------------------------------------------------------------------- */

int od_cpu_profile(uint64_t duration_ns, int (*cancelled)(void *), void *arg, od_profile_t *out,
                   od_buf_t *err)
{
    od_profile_init(out, OD_PROF_CPU);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_busy, &expected, 1)) return OD_CPU_BUSY;

    int rc = -1, was_cancelled = 0;
    od_buf_t note = OD_BUF_INIT, why = OD_BUF_INIT;
    out->time_ns = od_wall_ns();
    uint64_t t0 = od_now_ns();
    od_cpu_engine_t e = g_engine;
    if (e == OD_CPU_ENGINE_PERF_EVENT) {
        rc = od_cpu_perf_run(duration_ns, atomic_load(&g_perf_hz), cancelled, arg, out, &was_cancelled, &note,
                             &why);
        if (rc == OD_CPU_REFUSED) {
            static atomic_int warned;
            if (atomic_exchange(&warned, 1) == 0)
                od_warn("profiling: %s; this CPU profile (and any later one refused alike) falls back to the "
                        "itimer engine at %d Hz",
                        why.len ? why.base : "perf_event_open refused", od_cpu_itimer_hz());
            od_buf_printf(&note, "cpu engine: perf_event refused (%s): fell back to itimer\n",
                          why.len ? why.base : "?");
            e = OD_CPU_ENGINE_ITIMER;
        } else if (rc != 0) {
            od_buf_append(err, why.base, why.len);
        }
    }
    if (e == OD_CPU_ENGINE_ITIMER)
        rc = od_cpu_itimer_run(duration_ns, od_cpu_itimer_hz(), od_cpu_itimer_max_hz(), cancelled, arg, out,
                               &was_cancelled, &note, err);
    if (rc != 0) goto cleanup;
    out->duration_ns = od_now_ns() - t0;
    /* "cancelled" first: callers look for it at the start */
    out->comment = was_cancelled
                       ? od_asprintf("cancelled after %.3f s of %.3f s: the client went away\n%s",
                                     out->duration_ns / 1e9, duration_ns / 1e9, note.len ? note.base : "")
                       : od_strdup(note.len ? note.base : "");
    size_t n = strlen(out->comment);
    if (n && out->comment[n - 1] == '\n') out->comment[n - 1] = '\0';

cleanup:
    od_buf_dispose(&note);
    od_buf_dispose(&why);
    atomic_store(&g_busy, 0);
    return rc;
}
