#include "prof/prof_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static int g_reexeced;    /* this process image was started by the re-exec */
static int g_marker_seen; /* the marker has been looked at (and removed) */

static void check_marker(void)
{
    if (g_marker_seen) return;
    g_marker_seen = 1;
    if (getenv(OD_PROF_REEXEC_ENV) != NULL) {
        g_reexeced = 1;
        unsetenv(OD_PROF_REEXEC_ENV);
    }
}

int od_prof_env_reexeced(void)
{
    check_marker();
    return g_reexeced;
}

/* Parses an environment value as the libraries would see a number; returns `dflt` when the
 * variable is unset, -1 when it is not a number. */
static long env_num(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    return v;
}

int od_prof_env_reexec(char **argv, int cpu_hz, long heap_sample_bytes)
{
    check_marker();
    int need = 0;
    char hz[32], sample[32];
    snprintf(hz, sizeof(hz), "%d", cpu_hz);
    snprintf(sample, sizeof(sample), "%ld", heap_sample_bytes);

    if (cpu_hz > 0 && env_num("CPUPROFILE_FREQUENCY", 100) != cpu_hz) need |= 1;
    if (heap_sample_bytes >= 0 && env_num("TCMALLOC_SAMPLE_PARAMETER", 0) != heap_sample_bytes) need |= 2;
    if (!need) return 0;

    if (g_reexeced) {
        od_warn("profiling: environment still lacks%s%s%s%s after the re-exec; going on with the values "
                "the profilers loaded with",
                need & 1 ? " CPUPROFILE_FREQUENCY=" : "", need & 1 ? hz : "",
                need & 2 ? " TCMALLOC_SAMPLE_PARAMETER=" : "", need & 2 ? sample : "");
        return -1;
    }
    if ((need & 1) && setenv("CPUPROFILE_FREQUENCY", hz, 1) != 0) goto fail;
    if ((need & 2) && setenv("TCMALLOC_SAMPLE_PARAMETER", sample, 1) != 0) goto fail;
    if (setenv(OD_PROF_REEXEC_ENV, "1", 1) != 0) goto fail;
    fflush(NULL); /* buffered output would be lost, or written twice */
    execv("/proc/self/exe", argv);
fail:;
    int e = errno;
    unsetenv(OD_PROF_REEXEC_ENV);
    od_warn("profiling: cannot re-exec /proc/self/exe to set%s%s%s%s: %s; going on with the values the "
            "profilers loaded with",
            need & 1 ? " CPUPROFILE_FREQUENCY=" : "", need & 1 ? hz : "",
            need & 2 ? " TCMALLOC_SAMPLE_PARAMETER=" : "", need & 2 ? sample : "", strerror(e));
    return -1;
}
