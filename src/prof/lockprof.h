/*
 * lockprof — the server's own mutexes, condition waits and blocking waits, instrumented for
 * the mutex and block profiles (Go's runtime.SetMutexProfileFraction and
 * SetBlockProfileRate, natively).
 *
 * od_mutex_t wraps pthread_mutex_t.  od_mutex_lock first tries the lock; only when that
 * fails (the lock is contended) and the mutex profile is on does it time the wait and, for
 * 1 of every `mutex_fraction` contended acquisitions (chosen at random, as Go does), record
 * the waiter's stack with count and delay.  Uncontended locking costs one trylock.  A
 * sampled event is recorded scaled by the fraction in force (count N, delay N x wait), so
 * the profile estimates the true totals, as Go's mutex profile reports them.  Mutex samples
 * are kept per stack and lock: each carries the label `lock` = the od_mutex_t's name
 * ("inventory", "results", "queue", ...), so identical stacks on different locks stay apart.  While a
 * trace runs (prof/trace.h), every contended wait is also a "lock wait: <name>" span.
 *
 * Blocking waits (a worker waiting for an order, the payment wait, ...) go through
 * od_cond_wait / od_cond_timedwait / od_block_sleep_ns, or are bracketed by
 * od_block_begin/od_block_end; events that last at least `block_rate_ns` record the stack
 * with count 1 and the delay (rate 1 records everything, as Go's rate 1).
 *
 * Stacks: the waiter's own frames, leaf first, starting at the function that called the
 * od_ wrapper (the lockprof frames are skipped).  They are taken by walking frame pointers
 * (the build uses -fno-omit-frame-pointer), bounded by the thread's stack, so recording
 * costs ~100 ns instead of a DWARF unwind; the walk stops at the first frame from a
 * library built without frame pointers (the server's own frames, which are what the
 * profiles are about, always come first).
 *
 * Cost when off: one relaxed atomic load of the configuration (plus, for a contended
 * od_mutex_lock, one for od_trace_active).
 *
 * Configuration (od_lockprof_configure) may change at any time (atomics).  Recording is
 * thread-safe: samples go into a bounded table per profile keyed by stack (hash; 16
 * stripes, each behind its own internal lock), holding at most OD_LOCKPROF_MAX_STACKS
 * distinct stacks; events whose stack does not fit are added to one "overflow" sample with
 * an empty stack, so memory stays bounded however long the server runs.  Both profiles are
 * cumulative since start (or od_lockprof_reset), as in Go.
 */
#ifndef OD_PROF_LOCKPROF_H
#define OD_PROF_LOCKPROF_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "prof/profile.h"

/** distinct stacks kept per profile; further stacks are counted in the overflow sample */
#define OD_LOCKPROF_MAX_STACKS 4096

typedef struct od_mutex {
    pthread_mutex_t m;
    const char *name; /* static: "inventory", "queue", "results", ... (traces; the mutex
                         profile's `lock` label) */
} od_mutex_t;

/** mutex_fraction: record 1 of N contended acquisitions, 0 = off;
 *  block_rate_ns: record blocking events >= this many ns, 0 = off (negative = 0) */
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
/** brackets any other blocking wait; od_block_begin returns a token for od_block_end
 *  (0 when block profiling is off, and od_block_end(0) does nothing) */
uint64_t od_block_begin(void);
void od_block_end(uint64_t token);

/**
 * initializes p (any previous content is dropped, not released: pass a fresh or disposed
 * profile) and copies the recorded samples into it: kind OD_PROF_MUTEX or OD_PROF_BLOCK,
 * sample types contentions/count and delay/nanoseconds (the default), period the current
 * fraction or rate; mutex samples labelled `lock` (the mutex's name).  The caller owns p and releases it with
 * od_profile_dispose.
 * @return 0 if successful, -1 if not (kind is neither mutex nor block)
 */
int od_lockprof_snapshot(od_profile_t *p, od_prof_kind_t kind);
/** total events recorded so far (for the /debug/pprof/ index counts); 0 for other kinds */
uint64_t od_lockprof_count(od_prof_kind_t kind);
/** distinct stacks held so far (Go's index page counts these) */
uint64_t od_lockprof_stacks(od_prof_kind_t kind);
/** forgets everything recorded in both profiles (tests; a running server never needs it) */
void od_lockprof_reset(void);

#endif
