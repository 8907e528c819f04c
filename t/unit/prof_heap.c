/*
 * prof_heap — the heap collector (src/prof/heap.c, heap_shim.cc).
 *
 * The test re-executes itself with TCMALLOC_SAMPLE_PARAMETER=65536 (through
 * od_prof_env_reexec), keeps 20 MiB live from hold_memory_hot, allocates and frees 40 MiB in
 * churn_memory_hot, and checks the profile attributes them: in-use to the first, allocated
 * to both, within +-50 % (sampling).  The allocations run on a new thread, whose tcmalloc
 * sampler starts cleanly (the main thread's skips its first 16 MiB).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prof/format.h"
#include "prof/heap.h"
#include "prof/prof_env.h"
#include "tap.h"
#include "testutil.h"

#define PERIOD 65536
#define BLOCK (64 * 1024)
#define HOLD_BYTES (20u << 20)
#define CHURN_BYTES (40u << 20)
#define MiB (1024.0 * 1024.0)

static void *g_held[HOLD_BYTES / BLOCK];
static void *volatile g_sink;

/* Exported and noinline so that dladdr1 finds their address ranges (-rdynamic). */
void hold_memory_hot(void) __attribute__((noinline));
void hold_memory_hot(void)
{
    for (size_t i = 0; i < OD_ARRAY_SIZE(g_held); i++)
        g_held[i] = od_malloc(BLOCK); /* through the wrapper: it must not show as the leaf */
}

void churn_memory_hot(void) __attribute__((noinline));
void churn_memory_hot(void)
{
    for (size_t i = 0; i < CHURN_BYTES / BLOCK; i++) {
        void *p = malloc(BLOCK);
        g_sink = p;
        free(p);
    }
}

static void *allocator_thread(void *arg)
{
    hold_memory_hot();
    churn_memory_hot();
    return NULL;
}

static int has(const od_prof_sample_t *s, range_t r)
{
    for (size_t i = 0; i < s->npcs; i++)
        if (s->pcs[i] > r.lo && s->pcs[i] <= r.hi) return 1; /* return addresses: (lo, hi] */
    return 0;
}

static int type_is(const od_profile_t *p, size_t i, const char *type, const char *unit)
{
    return p->ntypes > i && strcmp(p->types[i].type, type) == 0 && strcmp(p->types[i].unit, unit) == 0;
}

/* The writers (src/prof/format.c): the folded form names the holder, and google-pprof reading
 * the legacy form (which carries raw sampled counts under heap_v2/PERIOD and scales them up
 * itself) must find about the same 20 MiB under hold_memory_hot. */
static void test_writers(const od_profile_t *p)
{
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    int rc = od_prof_write(p, OD_FMT_FOLDED, &out, &err);
    ok(rc == 0 && out.base && strstr(out.base, "hold_memory_hot") != NULL,
       "folded form names hold_memory_hot%s%s", err.len ? ": " : "", err.len ? err.base : "");
    od_buf_reset(&out);
    rc = od_prof_write(p, OD_FMT_LEGACY, &out, &err);
    ok(rc == 0 && out.base && strncmp(out.base, "heap profile:", 13) == 0 &&
           strstr(out.base, "@ heap_v2/65536"),
       "legacy form: heap_v2/65536 header");
    char path[] = "/tmp/prof_heap_XXXXXX";
    int fd = rc == 0 ? mkstemp(path) : -1;
    if (fd < 0 || write(fd, out.base, out.len) != (ssize_t)out.len ||
        system("command -v google-pprof >/dev/null")) {
        skip(1, "google-pprof or the legacy form unavailable");
    } else {
        /* /proc/PID/exe: still readable if the binary is relinked meanwhile; a time limit
         * because google-pprof (perl, nm, objdump) can take seconds on a loaded machine */
        char exe[64], cmd[512];
        snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)getpid());
        snprintf(cmd, sizeof(cmd), "timeout 6 google-pprof --text --inuse_space '%s' '%s' 2>/dev/null", exe,
                 path);
        FILE *f = popen(cmd, "r");
        char line[512];
        double mb = -1;
        while (f && fgets(line, sizeof(line), f))
            if (strstr(line, "hold_memory_hot")) mb = atof(line);
        int st = f ? pclose(f) : -1;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 124)
            skip(1, "google-pprof timed out");
        else
            ok(mb >= 10 && mb <= 30, "google-pprof --inuse_space on the legacy form: hold_memory_hot %.1f MB",
               mb);
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

static void test_heap(void)
{
    range_t hold = fn_range((void *)hold_memory_hot), churn = fn_range((void *)churn_memory_hot);
    ok(hold.lo != 0 && churn.lo != 0, "found hold_memory_hot and churn_memory_hot");

    pthread_t th;
    pthread_create(&th, NULL, allocator_thread, NULL);
    pthread_join(th, NULL);

    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    int rc = od_heap_profile(&p, &err);
    ok(rc == 0, "od_heap_profile succeeded%s%s", err.len ? ": " : "", err.len ? err.base : "");
    ok(p.kind == OD_PROF_HEAP && p.ntypes == 4 && type_is(&p, 0, "alloc_objects", "count") &&
           type_is(&p, 1, "alloc_space", "bytes") && type_is(&p, 2, "inuse_objects", "count") &&
           type_is(&p, 3, "inuse_space", "bytes") && p.default_type &&
           strcmp(p.default_type, "inuse_space") == 0,
       "Go's four sample types, default inuse_space");
    ok(p.period == PERIOD && p.period_type.type && strcmp(p.period_type.type, "space") == 0 &&
           strcmp(p.period_type.unit, "bytes") == 0,
       "period_type space/bytes, period %lld", (long long)p.period);
    ok(p.comment == NULL, "no comment (%s)", p.comment ? p.comment : "none");

    double hold_inuse = 0, hold_alloc = 0, hold_objs = 0, churn_inuse = 0, churn_alloc = 0, total_inuse = 0;
    int leaf_ok = 0, leaf_bad = 0, alloc_ge = 1;
    for (size_t i = 0; i < p.nsamples; i++) {
        od_prof_sample_t *s = &p.samples[i];
        total_inuse += s->values[3];
        if (s->values[0] < s->values[2] || s->values[1] < s->values[3]) alloc_ge = 0;
        if (has(s, hold)) {
            hold_inuse += s->values[3];
            hold_alloc += s->values[1];
            hold_objs += s->values[2];
            if (s->pcs[0] > hold.lo && s->pcs[0] <= hold.hi)
                leaf_ok = 1;
            else
                leaf_bad = 1;
        }
        if (has(s, churn)) {
            churn_inuse += s->values[3];
            churn_alloc += s->values[1];
        }
    }
    ok(hold_inuse >= HOLD_BYTES * 0.5 && hold_inuse <= HOLD_BYTES * 1.5,
       "inuse_space under hold_memory_hot %.1f MiB (20 MiB live, +-50%%)", hold_inuse / MiB);
    ok(hold_objs >= 320 * 0.5 && hold_objs <= 320 * 1.5,
       "inuse_objects under hold_memory_hot %.0f (320 blocks)", hold_objs);
    ok(leaf_ok && !leaf_bad, "hold_memory_hot is the leaf: allocator frames and od_malloc removed");
    ok(hold_alloc >= hold_inuse, "alloc_space >= inuse_space under hold_memory_hot (%.1f MiB)",
       hold_alloc / MiB);
    ok(churn_alloc >= CHURN_BYTES * 0.5 && churn_alloc <= CHURN_BYTES * 1.5,
       "alloc_space under churn_memory_hot %.1f MiB (40 MiB allocated and freed, +-50%%)", churn_alloc / MiB);
    ok(churn_inuse < 2 * MiB, "inuse_space under churn_memory_hot %.1f MiB (all freed)", churn_inuse / MiB);
    ok(alloc_ge, "every sample: alloc_* >= inuse_*");
    ok(total_inuse >= hold_inuse && p.time_ns > 0, "total inuse_space %.1f MiB", total_inuse / MiB);
    test_writers(&p);

    od_profile_dispose(&p);
    od_buf_dispose(&err);
    for (size_t i = 0; i < OD_ARRAY_SIZE(g_held); i++)
        free(g_held[i]);
}

static void test_growth(void)
{
    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    int rc = od_heap_growth(&p, &err);
    ok(rc == 0, "od_heap_growth succeeded%s%s", err.len ? ": " : "", err.len ? err.base : "");
    int64_t bytes = 0;
    for (size_t i = 0; i < p.nsamples; i++)
        bytes += p.samples[i].values[3];
    ok(p.nsamples > 0 && bytes >= (int64_t)HOLD_BYTES, "%zu growth stacks, %.1f MiB", p.nsamples,
       bytes / MiB);
    ok(p.raw_legacy.len > 0 && strncmp(p.raw_legacy.base, "heap profile:", 13) == 0 &&
           strstr(p.raw_legacy.base, "@ growth") != NULL &&
           strstr(p.raw_legacy.base, "MAPPED_LIBRARIES") == NULL,
       "raw_legacy holds tcmalloc's growth text without the map");
    od_profile_dispose(&p);
    od_buf_dispose(&err);
}

int main(int argc, char **argv)
{
#ifdef OD_NO_TCMALLOC
    /* Sanitizer build: no tcmalloc; the collector must say so. */
    plan(2);
    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    int rc = od_heap_profile(&p, &err);
    ok(rc == -1 && err.base && strstr(err.base, "sanitizer") != NULL,
       "heap profile unavailable in a sanitizer build: %s", err.base ? err.base : "");
    od_profile_dispose(&p);
    od_buf_reset(&err);
    rc = od_heap_growth(&p, &err);
    ok(rc == -1 && err.base && strstr(err.base, "sanitizer") != NULL,
       "growth profile unavailable in a sanitizer build: %s", err.base ? err.base : "");
    od_profile_dispose(&p);
    od_buf_dispose(&err);
    return done_testing();
#endif
    od_prof_env_reexec(argv, 0, PERIOD);
    plan(21);
    ok(getenv("TCMALLOC_SAMPLE_PARAMETER") && atol(getenv("TCMALLOC_SAMPLE_PARAMETER")) == PERIOD,
       "TCMALLOC_SAMPLE_PARAMETER=%d at exec (re-executed: %d)", PERIOD, od_prof_env_reexeced());
    ok(od_heap_alloc_period() == PERIOD, "allocation sampler installed at load, period %ld",
       od_heap_alloc_period());
    test_heap();
    test_growth();
    return done_testing();
}
