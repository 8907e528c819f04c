/*
 * cpu_itimer — the itimer CPU engine: gperftools' libprofiler (process-wide ITIMER_PROF)
 * run for a window, its legacy profile written to a memfd (through /proc/self/fd/N, so
 * nothing touches the disk), read back and parsed.  See cpu.h.
 */
#include <errno.h>
#include <gperftools/profiler.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prof/cpu_engine.h"

#define POLL_NS 100000000ull /* how often `cancelled` is asked */

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

int od_cpu_itimer_run(uint64_t duration_ns, int hz, int tick, int (*cancelled)(void *), void *arg,
                      od_profile_t *out, int *was_cancelled, od_buf_t *note, od_buf_t *err)
{
    int ret = -1, fd = -1, started = 0;
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
            *was_cancelled = 1;
            break;
        }
    }
    ProfilerStop();
    started = 0;

    if (read_all(fd, &raw, err) != 0) goto cleanup;
    long blen = od_cpu_parse_legacy(raw.base, raw.len, out, err);
    if (blen < 0) goto cleanup;
    od_buf_append(&out->raw_legacy, raw.base, (size_t)blen);
    od_buf_printf(note,
                  "cpu engine: itimer (gperftools, process-wide ITIMER_PROF), %d Hz, period %.3g ms%s\n",
                  hz > tick ? tick : hz, out->period / 1e6,
                  hz > tick ? " (fewer than asked: the kernel tick caps it)" : "");
    ret = 0;

cleanup:
    if (started) ProfilerStop();
    if (fd >= 0) close(fd);
    od_buf_dispose(&raw);
    return ret;
}
