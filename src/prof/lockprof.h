/*
 * lockprof — the server's own mutexes, condition waits and blocking waits, instrumented for
 * the mutex and block profiles (Go's runtime.SetMutexProfileFraction and
 * SetBlockProfileRate, natively).
 *
 * od_mutex_t wraps pthread_mutex_t.  od_mutex_lock first tries the lock; only when that
 * fails (the lock is contended) and the mutex profile is on does it time the wait and, for
 * 1 of every `mutex_fraction` contended acquisitions, record the waiter's stack with count
 * and delay.  Uncontended locking costs one trylock.
 *
 * Blocking waits (a worker waiting for an order, the payment wait, ...) go through
 * od_cond_wait / od_cond_timedwait / od_block_sleep_ns, or are bracketed by
 * od_block_begin/od_block_end; events that last at least `block_rate_ns` record the stack
 * with count and delay.
 *
 * Configuration (od_lockprof_configure) may change at any time (atomics).  Recording is
 * thread-safe: samples go into a bounded table keyed by stack (hash), so memory stays
 * bounded however long the server runs.  Both profiles are cumulative since start, as in Go.
 */
#ifndef OD_PROF_LOCKPROF_H
#define OD_PROF_LOCKPROF_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "prof/profile.h"

typedef struct od_mutex {
    pthread_mutex_t m;
    const char *name; /* static: "inventory", "queue", "results", ... (shown in traces) */
} od_mutex_t;

/** mutex_fraction: record 1 of N contended acquisitions, 0 = off;
 *  block_rate_ns: record blocking events lasting >= this many ns, 0 = off */
void od_lockprof_configure(int mutex_fraction, int64_t block_rate_ns);

void od_mutex_init(od_mutex_t *m, const char *name);
void od_mutex_destroy(od_mutex_t *m);
void od_mutex_lock(od_mutex_t *m);
void od_mutex_unlock(od_mutex_t *m);

/** pthread_cond_wait on m, recorded as a block event */
void od_cond_wait(pthread_cond_t *c, od_mutex_t *m);
/** pthread_cond_timedwait (CLOCK_MONOTONIC deadline) on m, recorded as a block event;
 *  @return 0 when signalled, ETIMEDOUT on timeout */
int od_cond_timedwait(pthread_cond_t *c, od_mutex_t *m, const struct timespec *abs_monotonic);
/** initializes a condition variable that uses CLOCK_MONOTONIC (for od_cond_timedwait) */
void od_cond_init(pthread_cond_t *c);
/** sleeps ns, recorded as a block event */
void od_block_sleep_ns(uint64_t ns);
/** brackets any other blocking wait; od_block_begin returns a token for od_block_end */
uint64_t od_block_begin(void);
void od_block_end(uint64_t token);

/**
 * copies the recorded samples into p (kind OD_PROF_MUTEX or OD_PROF_BLOCK, sample types
 * contentions/count and delay/nanoseconds)
 * @return 0 if successful, -1 if not
 */
int od_lockprof_snapshot(od_profile_t *p, od_prof_kind_t kind);
/** total events recorded so far (for the /debug/pprof/ index counts) */
uint64_t od_lockprof_count(od_prof_kind_t kind);

#endif
