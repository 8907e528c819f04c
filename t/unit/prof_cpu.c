/*
 * prof_cpu — the CPU collector (src/prof/cpu.c) and the re-exec helper (src/prof/prof_env.c).
 *
 * The test re-executes itself through od_prof_env_reexec so that libprofiler loads with
 * CPUPROFILE_FREQUENCY=250, then profiles a thread spinning in burn_cpu_hot with the itimer
 * engine and checks the samples land there, the period, the one-at-a-time rule and
 * cancellation.  Then the perf_event engine (where perf_event_open is allowed): at 100, 250
 * and 1000 Hz, with one busy thread and with more busy threads than cores, the stacks run
 * whole from the interrupted instruction in burn_cpu_hot through burner_thread, and samples x
 * period match the burners' own CPU time (CLOCK_THREAD_CPUTIME_ID) within 5 %.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "prof/cpu.h"
#include "prof/cpu_engine.h"
#include "prof/format.h"
#include "prof/prof_env.h"
#include "tap.h"
#include "testutil.h"

#define TEST_HZ 250

/* --- the burner -------------------------------------------------------------------------- */

static atomic_int g_stop;
static volatile uint64_t g_sink;

static __thread uint64_t tl_budget_end; /* this thread's CPU-clock deadline; 0: none */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exported (and noinline) so that dladdr finds it in the dynamic symbol table (-rdynamic).
 * Spins until g_stop, or until the thread's CPU budget is spent. */
void burn_cpu_hot(void) __attribute__((noinline));
void burn_cpu_hot(void)
{
    uint64_t x = 88172645463325252ull;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        for (int i = 0; i < 10000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        g_sink = x;
        if (tl_budget_end && thread_cpu_ns() >= tl_budget_end) break;
    }
}

void *burner_thread(void *arg) __attribute__((noinline));
void *burner_thread(void *arg)
{
    burn_cpu_hot();
    __asm__ volatile("" ::: "memory"); /* keeps the call a call, not a tail jump */
    return NULL;
}
#define burner burner_thread

/* A perf test's burner: off the CPU for 100 ms (the engine attaches threads created during
 * the window at its next rescan), then burns exactly its budget of CPU time, which it
 * reports with the time it finished. */
typedef struct budget {
    uint64_t budget_ns, used_ns, done_ns;
} budget_t;

void *budget_thread(void *arg) __attribute__((noinline));
void *budget_thread(void *arg)
{
    budget_t *b = arg;
    od_sleep_ns(100000000ull);
    uint64_t t0 = thread_cpu_ns();
    tl_budget_end = t0 + b->budget_ns;
    burn_cpu_hot();
    __asm__ volatile("" ::: "memory");
    b->used_ns = thread_cpu_ns() - t0;
    b->done_ns = od_now_ns();
    return NULL;
}

/* --- helpers ----------------------------------------------------------------------------- */

static range_t g_burner; /* burn_cpu_hot's code */

static int in_burner(const od_prof_sample_t *s)
{
    for (size_t i = 0; i < s->npcs; i++)
        if (s->pcs[i] >= g_burner.lo && s->pcs[i] < g_burner.hi) return 1;
    return 0;
}

struct bg_profile {
    uint64_t duration_ns;
    od_profile_t prof;
    od_buf_t err;
    int rc;
};

static uint64_t g_profile_end; /* od_now_ns when bg_profile_run's profile returned */

static void *bg_profile_run(void *arg)
{
    struct bg_profile *b = arg;
    b->rc = od_cpu_profile(b->duration_ns, NULL, NULL, &b->prof, &b->err);
    g_profile_end = od_now_ns();
    return NULL;
}

static uint64_t g_cancel_at;
static int g_cancel_polls;
static int cancel_after(void *arg)
{
    g_cancel_polls++;
    return od_now_ns() >= g_cancel_at;
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_env(char **argv)
{
    ok(od_prof_env_reexeced() ||
           (getenv("CPUPROFILE_FREQUENCY") && atoi(getenv("CPUPROFILE_FREQUENCY")) == TEST_HZ),
       "re-executed by od_prof_env_reexec (or the environment already matched)");
    ok(getenv(OD_PROF_REEXEC_ENV) == NULL, "the marker variable is removed after the re-exec");
    ok(getenv("CPUPROFILE_FREQUENCY") && strcmp(getenv("CPUPROFILE_FREQUENCY"), "250") == 0,
       "CPUPROFILE_FREQUENCY=250 in the environment");
    ok(od_cpu_hz() == TEST_HZ, "od_cpu_hz() is %d (want %d)", od_cpu_hz(), TEST_HZ);
    ok(od_prof_env_reexec(argv, TEST_HZ, 0) == 0, "no re-exec needed when the environment matches");
    if (od_prof_env_reexeced()) {
        /* A mismatch in a re-executed process must not exec again (the loop guard). */
        od_log_level = OD_LOG_ERROR; /* the refusal's warning is expected */
        int rc = od_prof_env_reexec(argv, TEST_HZ + 1, 0);
        od_log_level = OD_LOG_INFO;
        ok(rc == -1, "a re-executed process refuses a second re-exec (rc %d)", rc);
        setenv("CPUPROFILE_FREQUENCY", "250", 1);
    } else {
        skip(1, "environment was already set: no re-exec happened");
    }
}

/* The writers (src/prof/format.c) turn the profile into what the tools read: the burner must
 * be named by the folded form, and google-pprof must read the legacy bytes. */
static void test_writers(const od_profile_t *p)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    int rc = od_prof_write(p, OD_FMT_FOLDED, &out, &err);
    ok(rc == 0 && out.base && strstr(out.base, "burn_cpu_hot") != NULL, "folded form names burn_cpu_hot%s%s",
       err.len ? ": " : "", err.len ? err.base : "");
    od_buf_reset(&out);
    rc = od_prof_write(p, OD_FMT_LEGACY, &out, &err);
    char path[] = "/tmp/prof_cpu_XXXXXX";
    int fd = rc == 0 ? mkstemp(path) : -1;
    if (fd < 0 || write(fd, out.base, out.len) != (ssize_t)out.len ||
        system("command -v google-pprof >/dev/null")) {
        skip(1, "google-pprof or the legacy form unavailable (rc %d)", rc);
    } else {
        /* /proc/PID/exe: still readable if the binary is relinked meanwhile; a time limit
         * because google-pprof (perl, nm, objdump) can take seconds on a loaded machine */
        char exe[64], cmd[512];
        snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)getpid());
        snprintf(cmd, sizeof(cmd), "timeout 6 google-pprof --text '%s' '%s' 2>/dev/null", exe, path);
        FILE *f = popen(cmd, "r");
        char line[512];
        int top = 0, lines = 0;
        while (f && fgets(line, sizeof(line), f))
            if (strstr(line, "%") && lines++ < 1 && strstr(line, "burn_cpu_hot")) top = 1;
        int st = f ? pclose(f) : -1;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 124)
            skip(1, "google-pprof timed out");
        else
            ok(top, "google-pprof --text reads the legacy form: burn_cpu_hot on top");
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

static void test_profile(void)
{
    pthread_t th;
    atomic_store(&g_stop, 0);
    pthread_create(&th, NULL, burner, NULL);

    struct bg_profile b = {.duration_ns = 1500000000ull, .err = OD_BUF_INIT};
    pthread_t pt;
    pthread_create(&pt, NULL, bg_profile_run, &b);
    od_sleep_ns(200000000ull);

    ok(od_cpu_busy() == 1, "od_cpu_busy() while a profile runs");
    od_profile_t p2;
    od_buf_t err2 = OD_BUF_INIT;
    uint64_t t = od_now_ns();
    int rc2 = od_cpu_profile(1000000000ull, NULL, NULL, &p2, &err2);
    /* at once: waiting for the running profile would take over 1 s */
    ok(rc2 == OD_CPU_BUSY && od_now_ns() - t < 500000000ull,
       "a concurrent profile gets OD_CPU_BUSY at once (rc %d)", rc2);
    od_profile_dispose(&p2);
    od_buf_dispose(&err2);

    pthread_join(pt, NULL);
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    ok(od_cpu_busy() == 0, "not busy after the profile");

    od_profile_t *p = &b.prof;
    ok(b.rc == 0, "od_cpu_profile succeeded%s%s", b.err.len ? ": " : "", b.err.len ? b.err.base : "");
    ok(p->kind == OD_PROF_CPU && p->ntypes == 2 && strcmp(p->types[0].type, "samples") == 0 &&
           strcmp(p->types[0].unit, "count") == 0 && strcmp(p->types[1].type, "cpu") == 0 &&
           strcmp(p->types[1].unit, "nanoseconds") == 0,
       "kind and sample types");
    ok(p->period == 1000000000 / TEST_HZ && strcmp(p->period_type.type, "cpu") == 0 &&
           strcmp(p->period_type.unit, "nanoseconds") == 0,
       "period %lld ns matches %d Hz", (long long)p->period, TEST_HZ);
    ok(p->duration_ns >= 1500000000ull && p->duration_ns < 3000000000ull, "duration %.3f s",
       p->duration_ns / 1e9);
    ok(p->time_ns > 1600000000ull * 1000000000ull, "wall-clock start time set");
    ok(p->comment != NULL && strncmp(p->comment, "cancelled", 9) != 0 &&
           strstr(p->comment, "cpu engine: itimer") != NULL && strstr(p->comment, "250 Hz") != NULL,
       "not flagged as cancelled; the comment names the engine: %s", p->comment ? p->comment : "(null)");

    int64_t total = 0, burner_n = 0;
    int values_ok = 1;
    for (size_t i = 0; i < p->nsamples; i++) {
        od_prof_sample_t *s = &p->samples[i];
        total += s->values[0];
        if (in_burner(s)) burner_n += s->values[0];
        if (s->values[1] != s->values[0] * p->period || s->npcs == 0) values_ok = 0;
    }
    /* 1.5 s of one spinning thread at 250 Hz is about 375 samples (fewer on a loaded machine:
     * ITIMER_PROF counts the CPU time the process gets). */
    ok(total >= 75, "%lld samples in %zu distinct stacks", (long long)total, p->nsamples);
    ok(values_ok, "every sample: cpu = count * period, non-empty stack");
    ok(g_burner.lo != 0 && total > 0 && burner_n * 100 >= total * 70,
       "burn_cpu_hot [%#lx, %#lx) in %lld of %lld samples (>= 70%%)", (unsigned long)g_burner.lo,
       (unsigned long)g_burner.hi, (long long)burner_n, (long long)total);

    /* The leaf is the interrupted instruction: for the burner's stacks it must lie inside. */
    int leaf_ok = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].pcs[0] >= g_burner.lo && p->samples[i].pcs[0] < g_burner.hi) leaf_ok = 1;
    ok(leaf_ok, "some sample has its leaf pc inside burn_cpu_hot");

    /* raw_legacy: header to trailer, no memory map, and it parses to the same totals */
    const uintptr_t *w = (const uintptr_t *)p->raw_legacy.base;
    size_t nw = p->raw_legacy.len / sizeof(uintptr_t);
    ok(p->raw_legacy.len % sizeof(uintptr_t) == 0 && nw >= 8 && w[0] == 0 && w[1] == 3 && w[2] == 0 &&
           w[3] == 1000000 / TEST_HZ && w[nw - 3] == 0 && w[nw - 2] == 1 && w[nw - 1] == 0,
       "raw_legacy holds header (period %lu us) .. trailer (%zu words)", nw >= 4 ? (unsigned long)w[3] : 0UL,
       nw);
    od_profile_t q;
    od_profile_init(&q, OD_PROF_CPU);
    od_buf_t e = OD_BUF_INIT;
    long blen = od_cpu_parse_legacy(p->raw_legacy.base, p->raw_legacy.len, &q, &e);
    int64_t qtotal = 0;
    for (size_t i = 0; i < q.nsamples; i++)
        qtotal += q.samples[i].values[0];
    ok(blen == (long)p->raw_legacy.len && qtotal == total, "raw_legacy re-parses to the same %lld samples",
       (long long)qtotal);
    od_profile_dispose(&q);
    od_buf_dispose(&e);

    test_writers(p);
    od_profile_dispose(p);
    od_buf_dispose(&b.err);
}

static void test_cancel(void)
{
    pthread_t th;
    atomic_store(&g_stop, 0);
    pthread_create(&th, NULL, burner, NULL);
    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    uint64_t t0 = od_now_ns();
    g_cancel_at = t0 + 350000000ull;
    int rc = od_cpu_profile(5000000000ull, cancel_after, NULL, &p, &err);
    uint64_t el = od_now_ns() - t0;
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    ok(rc == 0, "cancelled profile still returns 0%s%s", err.len ? ": " : "", err.base ? err.base : "");
    ok(el < 1500000000ull, "cancellation stops it early (%.3f s of 5 s)", el / 1e9);
    /* >= 1: one 100 ms sleep may overrun past the 350 ms cancel on a busy machine */
    ok(g_cancel_polls >= 1 && g_cancel_polls <= 6, "cancelled() polled about every 100 ms (%d polls)",
       g_cancel_polls);
    ok(p.comment != NULL && strncmp(p.comment, "cancelled", 9) == 0, "flagged: %s",
       p.comment ? p.comment : "(null)");
    ok(p.nsamples > 0 && p.duration_ns < 1500000000ull, "what was gathered is returned (%zu stacks)",
       p.nsamples);
    od_profile_dispose(&p);
    od_buf_dispose(&err);
}

static void test_parse_errors(void)
{
    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    uintptr_t bad[] = {0, 3, 0, 4000, 0, 5, 2, 0x1000}; /* truncated record, no trailer */
    od_profile_init(&p, OD_PROF_CPU);
    long rc = od_cpu_parse_legacy(bad, sizeof(bad), &p, &err);
    ok(rc == -1 && err.base != NULL && strstr(err.base, "cpu profile") != NULL,
       "truncated profile is an error: %s", err.base ? err.base : "");
    od_profile_dispose(&p);
    od_buf_reset(&err);
    uintptr_t good[] = {0, 3, 0, 10000, 0, 2, 2, 0x10, 0x20, 3, 2, 0x10, 0x20, 1, 1, 0x30, 0, 1, 0};
    od_profile_init(&p, OD_PROF_CPU);
    long n = od_cpu_parse_legacy(good, sizeof(good), &p, &err);
    ok(n == (long)sizeof(good) && p.nsamples == 2 && p.samples[0].values[0] == 5 &&
           p.samples[0].values[1] == 5 * 10000000LL && p.samples[1].npcs == 1 && p.samples[1].pcs[0] == 0x30,
       "identical stacks are merged (5 = 2 + 3), values and period from the header");
    od_profile_dispose(&p);
    od_buf_dispose(&err);
}

/* --- the perf_event engine ----------------------------------------------------------------- */

#define MAX_BURNERS 8

static range_t g_budget_thread; /* budget_thread's code */
static int g_fasync;            /* od_cpu_perf_set_fasync(1) in force */
static int g_arm_rc = -1;       /* od_cpu_perf_arm at TEST_HZ, before any thread started */
static const char *g_arm_why = "";

/* While a perf_event profile runs at `hz`, `nb` threads created in the window each burn
 * `budget_ns` of CPU time in burn_cpu_hot; their own CPU clocks are the truth.  5 tests. */
static void test_perf(int hz, int nb, uint64_t budget_ns, int writers)
{
    int crc = od_cpu_configure(OD_CPU_ENGINE_PERF_EVENT, hz);
    ok(crc == 0 && strcmp(od_cpu_engine_name(), "perf_event") == 0 && od_cpu_hz() == hz,
       "[%d Hz, %d burners] engine %s at %d Hz", hz, nb, od_cpu_engine_name(), od_cpu_hz());
    pthread_t th[MAX_BURNERS];
    budget_t bud[MAX_BURNERS];
    /* room for the budgets on a busy 2-core machine */
    struct bg_profile b = {.duration_ns = 2000000000ull + (uint64_t)nb * budget_ns * 4, .err = OD_BUF_INIT};
    pthread_t pt;
    atomic_store(&g_stop, 0);
    pthread_create(&pt, NULL, bg_profile_run, &b);
    od_sleep_ns(100000000ull);
    for (int i = 0; i < nb; i++) {
        bud[i] = (budget_t){budget_ns, 0, 0};
        pthread_create(&th[i], NULL, budget_thread, &bud[i]);
    }
    for (int i = 0; i < nb; i++)
        pthread_join(th[i], NULL);
    uint64_t burnt = od_now_ns();
    pthread_join(pt, NULL);
    od_profile_t p = b.prof;
    uint64_t truth_ns = 0;
    for (int i = 0; i < nb; i++)
        truth_ns += bud[i].used_ns;
    /* the profile must have outlived the burners: it returned after they were all joined */
    int in_window = burnt < g_profile_end;

    ok(b.rc == 0 && p.period == 1000000000 / hz && p.ntypes == 2 && strcmp(p.types[1].type, "cpu") == 0,
       "[%d Hz] profile taken, period exactly %lld ns%s%s", hz, (long long)p.period, b.err.len ? ": " : "",
       b.err.len ? b.err.base : "");
    int64_t burner_n = 0, whole = 0, total = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        const od_prof_sample_t *s = &p.samples[i];
        total += s->values[0];
        if (!in_burner(s)) continue;
        burner_n += s->values[0];
        /* the interrupted instruction (in burn_cpu_hot, or in the clock_gettime it calls), then
         * callers up to the return into budget_thread */
        for (size_t j = 0; j + 1 < s->npcs; j++)
            if (s->pcs[j] >= g_burner.lo && s->pcs[j] < g_burner.hi) {
                if (s->pcs[j + 1] >= g_budget_thread.lo && s->pcs[j + 1] < g_budget_thread.hi)
                    whole += s->values[0];
                break;
            }
    }
    double truth = (double)truth_ns, got = (double)burner_n * (double)p.period;
    if (!in_window) /* the machine is too busy for the truth to be inside the window */
        skip(1, "[%d Hz, %d burners] the burners outlasted the %.1f s window", hz, nb, b.duration_ns / 1e9);
    else
        ok(truth > 0 && got / truth >= 0.95 && got / truth <= 1.05,
           "[%d Hz, %d burners] samples x period = %.3f s against the burners' CPU time %.3f s: ratio %.3f "
           "(%lld of %lld samples in burn_cpu_hot)",
           hz, nb, got / 1e9, truth / 1e9, truth > 0 ? got / truth : 0, (long long)burner_n,
           (long long)total);
    ok(burner_n > 0 && whole * 100 >= burner_n * 95,
       "[%d Hz] %lld of %lld burner stacks whole: burn_cpu_hot called from budget_thread", hz,
       (long long)whole, (long long)burner_n);
    char want[64];
    snprintf(want, sizeof(want), ", %d Hz, ", hz);
    /* the rate armed at the start uses the inherited event; the others, an event per thread */
    const char *how = hz == od_cpu_perf_armed() && !g_fasync
                          ? "cpu engine: perf_event (cpu-clock, one event inherited"
                          : "cpu engine: perf_event (cpu-clock, per-thread";
    ok(p.comment && strstr(p.comment, how) && strstr(p.comment, want) &&
           strstr(p.comment, " 0 samples dropped"),
       "[%d Hz] comment: %s", hz, p.comment ? p.comment : "(null)");
    if (writers) test_writers(&p);
    od_profile_dispose(&p);
    od_buf_dispose(&b.err);
}

static void test_perf_all(void)
{
    const char *why = "";
    if (!od_cpu_perf_available(&why)) {
        skip(46, "perf_event_open refused here: %s", why); /* the 46 checks below */
        return;
    }
    ok(od_cpu_configure(OD_CPU_ENGINE_PERF_EVENT, OD_CPU_PERF_MAX_HZ + 1) == -1,
       "a rate over %d Hz is refused", OD_CPU_PERF_MAX_HZ);
    g_budget_thread = fn_range((void *)budget_thread);
    /* armed by main at TEST_HZ while it was the only thread: the 250 Hz windows below use it */
    ok(g_arm_rc == 0 && od_cpu_perf_armed() == TEST_HZ, "the inherited event is armed at %d Hz%s%s", TEST_HZ,
       g_arm_rc ? ": " : "", g_arm_why);
    const char *again = "";
    ok(od_cpu_perf_arm(TEST_HZ, &again) == 0, "arming again at the same rate is a no-op");
    ok(od_cpu_perf_arm(1000, &again) == -1 && strstr(again, "another rate"),
       "arming again at another rate is refused: %s", again);
    /* 100 Hz: 600 ms gives 60 samples a thread, +-1 by where its random first period ends */
    test_perf(100, 1, 800000000ull, 0);
    test_perf(250, 1, 500000000ull, 1);
    test_perf(1000, 1, 400000000ull, 0);
    test_perf(100, 3, 600000000ull, 0);
    test_perf(250, 3, 400000000ull, 0);
    test_perf(1000, 3, 300000000ull, 0);
    /* the delivery for kernels without sigtrap events: a fasync signal, re-armed per sample */
    od_cpu_perf_set_fasync(1);
    g_fasync = 1;
    test_perf(1000, 3, 300000000ull, 0);
    test_perf(TEST_HZ, 3, 300000000ull, 0); /* the armed rate too: per-thread, the fasync way */
    od_cpu_perf_set_fasync(0);
    g_fasync = 0;

    od_cpu_configure(OD_CPU_ENGINE_ITIMER, TEST_HZ);
}

/* CONFIG_HZ as the shell reads it, against od_cpu_itimer_max_hz. */
static void test_tick(void)
{
    FILE *f = popen("(zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null) | "
                    "sed -n 's/^CONFIG_HZ=//p'",
                    "r");
    int hz = 0;
    if (f == NULL || fscanf(f, "%d", &hz) != 1) hz = 0;
    if (f) pclose(f);
    if (hz == 0)
        skip(1, "no kernel config readable: the tick is measured");
    else
        is_int(od_cpu_itimer_max_hz(), hz, "the itimer engine's limit is CONFIG_HZ (%d)", hz);
}

int main(int argc, char **argv)
{
    /* Re-exec with CPUPROFILE_FREQUENCY=250 (prints nothing before, so TAP stays clean). */
    od_prof_env_reexec(argv, TEST_HZ, -1);
    /* before any thread starts (plan() starts none) */
    g_arm_rc = od_cpu_perf_arm(TEST_HZ, &g_arm_why);
    plan(78);
    g_burner = fn_range((void *)burn_cpu_hot);
    ok(od_cpu_configure(OD_CPU_ENGINE_ITIMER, TEST_HZ) == 0 && strcmp(od_cpu_engine_name(), "itimer") == 0,
       "the itimer engine is chosen");
    test_env(argv);
    test_parse_errors();
    test_profile();
    test_cancel();
    test_tick();
    test_perf_all();
    return done_testing();
}
