#include "prof/cpu.h"

#include <errno.h>
#include <gperftools/profiler.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 while a profile runs; taken with a compare-and-swap so a second caller never waits. */
static atomic_int g_busy;

#define POLL_NS 100000000ull /* how often `cancelled` is asked */
#define HZ_DEFAULT 100       /* libprofiler's kDefaultFrequency */
#define HZ_MAX 4000          /* libprofiler's kMaxFrequency */
#define HEADER_WORDS 5
#define MAX_DEPTH 1024 /* sanity bound on a record's depth (gperftools writes <= 64) */

int od_cpu_busy(void)
{
    return atomic_load(&g_busy);
}

static int g_hz;
static pthread_once_t g_hz_once = PTHREAD_ONCE_INIT;

/* Mirrors libprofiler's own parsing ("%u%c" must match one field, > 0, capped) so that the
 * value reported is the one in force. */
static void hz_init(void)
{
    const char *s = getenv("CPUPROFILE_FREQUENCY");
    unsigned v;
    char junk;
    g_hz = HZ_DEFAULT;
    if (s != NULL && sscanf(s, "%u%c", &v, &junk) == 1 && v > 0) g_hz = v > HZ_MAX ? HZ_MAX : (int)v;
}

int od_cpu_hz(void)
{
    pthread_once(&g_hz_once, hz_init);
    return g_hz;
}

/* --- parsing --------------------------------------------------------------------------- */

typedef struct stack_index {
    size_t *slots; /* sample index + 1; 0 = empty */
    size_t cap;    /* power of two */
} stack_index_t;

/* Adds `count` samples of the stack to p, merging with an existing sample of the same
 * stack. */
static void add_stack(od_profile_t *p, stack_index_t *ix, const uintptr_t *pcs, size_t n, int64_t count)
{
    if ((p->nsamples + 1) * 2 > ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 256;
        size_t *nslots = od_calloc(ncap, sizeof(*nslots));
        for (size_t i = 0; i < p->nsamples; i++) {
            size_t j = od_prof_hash_pcs(p->samples[i].pcs, p->samples[i].npcs) & (ncap - 1);
            while (nslots[j])
                j = (j + 1) & (ncap - 1);
            nslots[j] = i + 1;
        }
        free(ix->slots);
        ix->slots = nslots;
        ix->cap = ncap;
    }
    size_t j = od_prof_hash_pcs(pcs, n) & (ix->cap - 1);
    while (ix->slots[j]) {
        od_prof_sample_t *s = &p->samples[ix->slots[j] - 1];
        if (s->npcs == n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0) {
            s->values[0] += count;
            s->values[1] += count * p->period;
            return;
        }
        j = (j + 1) & (ix->cap - 1);
    }
    int64_t values[2] = {count, count * p->period};
    od_profile_add(p, pcs, n, values);
    ix->slots[j] = p->nsamples;
}

long od_cpu_parse_legacy(const void *data, size_t len, od_profile_t *p, od_buf_t *err)
{
    const size_t W = sizeof(uintptr_t);
    size_t nw = len / W, i;
    /* The buffer may be unaligned (it comes from a byte buffer): copy words out. */
#define WORD(k) (memcpy(&w, (const char *)data + (k)*W, W), w)
    uintptr_t w;

    if (nw < HEADER_WORDS || WORD(0) != 0 || WORD(1) != 3 || WORD(2) != 0) {
        od_buf_printf(err, "cpu profile: not a gperftools legacy CPU profile (%zu bytes, bad header)", len);
        return -1;
    }
    uintptr_t period_us = WORD(3);
    if (period_us == 0 || period_us > 1000000) {
        od_buf_printf(err, "cpu profile: implausible sampling period %lu us in header",
                      (unsigned long)period_us);
        return -1;
    }
    p->kind = OD_PROF_CPU;
    p->ntypes = 0;
    od_profile_add_type(p, "samples", "count");
    od_profile_add_type(p, "cpu", "nanoseconds");
    p->default_type = "cpu";
    p->period_type = (od_prof_valtype_t){"cpu", "nanoseconds"};
    p->period = (int64_t)period_us * 1000;

    stack_index_t ix = {NULL, 0};
    uintptr_t pcs[MAX_DEPTH];
    long ret = -1;
    for (i = HEADER_WORDS;;) {
        if (i + 2 > nw) {
            od_buf_printf(err, "cpu profile: truncated at word %zu of %zu (no trailer)", i, nw);
            goto done;
        }
        uintptr_t count = WORD(i), depth = WORD(i + 1);
        if (count == 0) {
            /* the trailer is 0, 1, 0 */
            if (depth != 1 || i + 3 > nw || WORD(i + 2) != 0) {
                od_buf_printf(err, "cpu profile: bad trailer at word %zu", i);
                goto done;
            }
            ret = (long)((i + 3) * W);
            break;
        }
        if (depth > MAX_DEPTH || i + 2 + depth > nw) {
            od_buf_printf(err, "cpu profile: bad record at word %zu (depth %lu)", i, (unsigned long)depth);
            goto done;
        }
        for (size_t d = 0; d < depth; d++)
            pcs[d] = WORD(i + 2 + d);
        size_t n = depth > OD_PROF_MAX_DEPTH ? OD_PROF_MAX_DEPTH : depth;
        add_stack(p, &ix, pcs, n, (int64_t)count);
        i += 2 + depth;
    }
done:
    free(ix.slots);
    return ret;
#undef WORD
}

/* --- collection ------------------------------------------------------------------------ */

static int read_all(int fd, od_buf_t *out, od_buf_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        od_buf_printf(err, "cpu profile: fstat of the memfd failed: %s", strerror(errno));
        return -1;
    }
    od_buf_reserve(out, (size_t)st.st_size + 1);
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = pread(fd, out->base + out->len, (size_t)(st.st_size - off), off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            od_buf_printf(err, "cpu profile: reading the memfd failed: %s",
                          n < 0 ? strerror(errno) : "short read");
            return -1;
        }
        out->len += (size_t)n;
        off += n;
    }
    out->base[out->len] = '\0';
    return 0;
}

int od_cpu_profile(uint64_t duration_ns, int (*cancelled)(void *), void *arg, od_profile_t *out,
                   od_buf_t *err)
{
    od_profile_init(out, OD_PROF_CPU);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_busy, &expected, 1)) return OD_CPU_BUSY;

    int ret = -1, fd = -1, started = 0, was_cancelled = 0;
    od_buf_t raw = OD_BUF_INIT;
    char path[64];

    struct ProfilerState st;
    ProfilerGetCurrentState(&st);
    if (st.enabled) {
        od_buf_printf(err,
                      "cpu profile: the gperftools profiler is already running outside orderd "
                      "(writing to \"%s\"; is CPUPROFILE set?)",
                      st.profile_name);
        goto cleanup;
    }
    fd = memfd_create("orderd-cpu-profile", MFD_CLOEXEC);
    if (fd < 0) {
        od_buf_printf(err, "cpu profile: memfd_create failed: %s", strerror(errno));
        goto cleanup;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    out->time_ns = od_wall_ns();
    uint64_t t0 = od_now_ns();
    if (!ProfilerStart(path)) {
        od_buf_printf(err, "cpu profile: ProfilerStart(%s) failed (SIGPROF handler taken by someone else?)",
                      path);
        goto cleanup;
    }
    started = 1;
    for (;;) {
        uint64_t el = od_now_ns() - t0;
        if (el >= duration_ns) break;
        uint64_t left = duration_ns - el;
        od_sleep_ns(left < POLL_NS ? left : POLL_NS);
        if (cancelled != NULL && cancelled(arg)) {
            was_cancelled = 1;
            break;
        }
    }
    ProfilerStop();
    started = 0;
    out->duration_ns = od_now_ns() - t0;

    if (read_all(fd, &raw, err) != 0) goto cleanup;
    long blen = od_cpu_parse_legacy(raw.base, raw.len, out, err);
    if (blen < 0) goto cleanup;
    od_buf_append(&out->raw_legacy, raw.base, (size_t)blen);
    if (was_cancelled)
        out->comment = od_asprintf("cancelled after %.3f s of %.3f s: the client went away",
                                   out->duration_ns / 1e9, duration_ns / 1e9);
    ret = 0;

cleanup:
    if (started) ProfilerStop();
    if (fd >= 0) close(fd);
    od_buf_dispose(&raw);
    atomic_store(&g_busy, 0);
    return ret;
}
