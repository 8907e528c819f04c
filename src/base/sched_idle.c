/* sched_idle — see base/sched_idle.h. */
#include "base/sched_idle.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define CAP_SYS_NICE_BIT 23 /* linux/capability.h's CAP_SYS_NICE */

/* CapEff from /proc/self/status: whether CAP_SYS_NICE is in this process's effective set */
static int has_cap_sys_nice(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL) return 0;
    char line[256];
    unsigned long long eff = 0;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = sscanf(line, "CapEff: %llx", &eff) == 1;
    fclose(f);
    return found && (eff >> CAP_SYS_NICE_BIT & 1);
}

int od_sched_idle_possible(void)
{
    /* from SCHED_IDLE back to SCHED_OTHER at nice 0 is allowed with RLIMIT_NICE >= 20 - 0 */
    struct rlimit r;
    if (getrlimit(RLIMIT_NICE, &r) == 0 && (r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= 20)) return 1;
    return has_cap_sys_nice();
}

int od_sched_idle_self(int on)
{
    struct sched_param zero = {0};
    return sched_setscheduler(0, on ? SCHED_IDLE : SCHED_OTHER, &zero) == 0 ? 0 : -1;
}

/* one pass over /proc/PID/task: the threads raised, or -1 */
static int raise_pass(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    struct sched_param zero = {0};
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (sched_getscheduler(tid) != SCHED_IDLE) continue; /* or gone meanwhile */
        if (sched_setscheduler(tid, SCHED_OTHER, &zero) != 0) {
            if (errno == ESRCH) continue;
            int err = errno;
            closedir(d);
            errno = err;
            return -1;
        }
        n++;
    }
    closedir(d);
    return n;
}

int od_sched_idle_raise(pid_t pid)
{
    int total = 0;
    for (int pass = 0; pass < 8; pass++) {
        int n = raise_pass(pid);
        if (n < 0) return -1;
        if (n == 0) return total;
        total += n;
    }
    return total;
}
