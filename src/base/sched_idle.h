/*
 * sched_idle — start a process at idle priority and raise it back once it serves.
 *
 * Why: a hand-over (handover.h) starts a second orderd beside the one serving.  Its start-up
 * (exec, the dynamic loader, tcmalloc, Lua, the threads: about 30 ms of CPU here, most of it
 * page faults) ran in the scheduler's slices of 3-4 ms on the CPU the old process served on,
 * and a request arriving meanwhile waited out the slice: 2.7 requests per hand-over took
 * over 1.5 ms at 200/s, against 0.3 in any other 100 ms.  A SCHED_IDLE task yields the CPU
 * at once to any ordinary one that wakes, so the start-up runs in the old process's idle
 * time; with it, 1.4.
 *
 * How: the spawning thread lowers itself to SCHED_IDLE around posix_spawn, so the child is
 * idle from its first instruction (glibc's posix_spawnattr refuses SCHED_IDLE), and raises
 * itself back.  Once the child serves, or after a second if it has not (an idle task on a
 * saturated machine would wait for a spare moment that never comes), the parent raises every
 * thread of the child to SCHED_OTHER.
 *
 * Leaving SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE of 20 or more (sched(7)): without
 * either, a process lowered could never be raised, so od_sched_idle_possible says no and the
 * child starts at normal priority, as before.
 *
 * Threading: od_sched_idle_self acts on the calling thread only.  All functions are
 * thread-safe (no shared state).
 */
#ifndef OD_SCHED_IDLE_H
#define OD_SCHED_IDLE_H

#include <sys/types.h>

/** @return 1 if this process may lower a thread to SCHED_IDLE and raise it back, else 0 */
int od_sched_idle_possible(void);

/** the calling thread to SCHED_IDLE (on = 1) or SCHED_OTHER (on = 0); 0 or -1 (errno) */
int od_sched_idle_self(int on);

/**
 * every thread of process pid that is SCHED_IDLE to SCHED_OTHER, in passes until one finds
 * none (a thread created meanwhile by one still idle is caught by the next pass)
 * @return the threads raised, or -1 (errno) on the first that could not be
 */
int od_sched_idle_raise(pid_t pid);

#endif
