/*
 * threads — the registry of the server's named threads ("http-0", "worker-3",
 * "scheduler", ...) and the live capture of their stacks for the goroutines profile.
 *
 * Every long-lived thread calls od_thread_register(name) first thing and
 * od_thread_unregister() before it exits.  The registry is what the goroutine profile, the
 * trace (thread-name metadata) and the state column read.  Threads publish their state with
 * od_thread_set_state (a static string: "running", "idle", "waiting for order",
 * "blocked on payment", ...); it is a relaxed store, cheap enough for hot paths.
 *
 * Thread-safe.  The registry holds at most OD_THREADS_MAX threads.
 */
#ifndef OD_PROF_THREADS_H
#define OD_PROF_THREADS_H

#include "prof/profile.h"

#define OD_THREADS_MAX 256

/** registers the calling thread under `name` (copied) and sets its kernel thread name */
void od_thread_register(const char *name);
void od_thread_unregister(void);
/** the calling thread's registered name, or "unnamed" */
const char *od_thread_name(void);
/** the calling thread's registry slot (0..OD_THREADS_MAX-1), or -1 if unregistered */
int od_thread_slot(void);
/** publishes the calling thread's state; `state` must be a static string */
void od_thread_set_state(const char *state);

/**
 * captures the stack of every registered thread, live, into `p` (kind OD_PROF_THREADS,
 * one sample type "goroutine"/"count"), grouped by identical stack, each sample labelled
 * with the threads' names and states
 * @return 0 if successful, -1 if not
 */
int od_threads_capture(od_profile_t *p);

/**
 * calls fn(slot, name, tid, arg) for every registered thread (under the registry lock: fn
 * must not block)
 */
void od_threads_foreach(void (*fn)(int slot, const char *name, int tid, void *arg), void *arg);

#endif
