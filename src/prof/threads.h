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
 * Profiler threads: the threads that do the profiler's own work (capture jobs "prof-job-N",
 * scheduled captures "prof-capture-KIND", the symbolizer's "prof-symbolize", and the
 * "scheduler", marked with od_thread_mark_profiler) are named with OD_THREAD_PROF_PREFIX or
 * marked; their samples carry the label profiler=yes, and the text form folds the idle
 * ones into one line, so that the server's own threads are what a reader sees.
 *
 * Live capture (od_threads_capture): the capturing thread sends every other registered
 * thread the signal OD_THREADS_SIGNAL (SIGRTMIN+3, handler installed once with
 * SA_RESTART); the handler unwinds its own stack into the thread's registry slot and flags
 * it done; the capturer waits at most OD_THREADS_CAPTURE_WAIT_MS (plus 1 ms per thread)
 * for the answers, and stops waiting for a thread as soon as it unregisters.  The capturing
 * thread records its own stack directly and always appears, registered or not.
 *
 * Unwinding is libgcc's DWARF unwinder (_Unwind_Backtrace), so frames of libraries built
 * without frame pointers (libc's futex and poll wrappers, where idle threads sit) are
 * walked correctly.  It is called once at install time so that later calls allocate
 * nothing; with glibc >= 2.35 and libgcc >= 12 it finds unwind tables through
 * _dl_find_object, which is async-signal-safe (no loader lock), which is what makes
 * calling it from the handler sound.  A thread that takes longer than the wait (or blocks
 * the signal) is listed with an empty stack and "(no stack)" after its state.
 *
 * Requirements on threads: do not block OD_THREADS_SIGNAL in registered threads.  The
 * signal can interrupt a blocking call that SA_RESTART does not restart (epoll_wait,
 * nanosleep, ...): such calls must handle EINTR, as they must for any signal.
 *
 * Thread-safe.  The registry holds at most OD_THREADS_MAX threads (further registrations
 * are refused with a warning: the thread runs unnamed).  Captures are serialized by an
 * internal lock; the registry lock (reg_lock) guards slot ownership and names.
 */
#ifndef OD_PROF_THREADS_H
#define OD_PROF_THREADS_H

#include <signal.h>

#include "prof/profile.h"

#define OD_THREADS_MAX 256
#define OD_THREADS_SIGNAL (SIGRTMIN + 3)
#define OD_THREADS_CAPTURE_WAIT_MS 100
/** the name prefix that makes a thread a profiler thread */
#define OD_THREAD_PROF_PREFIX "prof-"

/** registers the calling thread under `name` (copied, at most 31 bytes) and sets its kernel
 *  thread name (at most 15 bytes) */
void od_thread_register(const char *name);
void od_thread_unregister(void);
/** marks the calling (registered) thread as a profiler thread whatever its name */
void od_thread_mark_profiler(void);
/** the calling thread's registered name, or "unnamed" */
const char *od_thread_name(void);
/** the calling thread's registry slot (0..OD_THREADS_MAX-1), or -1 if unregistered */
int od_thread_slot(void);
/** publishes the calling thread's state; `state` must be a static string */
void od_thread_set_state(const char *state);
/** the number of registered threads (for the /debug/pprof/ index) */
int od_threads_count(void);

/**
 * initializes p (any previous content is dropped, not released) and captures the stack of
 * every registered thread, live, into it (kind OD_PROF_THREADS, one sample type
 * "goroutine"/"count"), grouped by identical stack (value = number of threads, most first),
 * each sample labelled "threads" (the names, comma-separated) and "state" (their states,
 * in the same order), and "profiler" = "yes" when its threads are profiler threads (a
 * group never mixes the two).  The caller owns p and releases it with od_profile_dispose.
 * @return 0 if successful, -1 if not (the signal handler could not be installed)
 */
int od_threads_capture(od_profile_t *p);

/**
 * calls fn(slot, name, tid, arg) for every registered thread (under the registry lock: fn
 * must not block)
 */
void od_threads_foreach(void (*fn)(int slot, const char *name, int tid, void *arg), void *arg);

#endif
