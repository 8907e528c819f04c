/*
 * engine — runs the scenarios of one scenario file: N worker threads, each with its own
 * epoll event loop, timerfd, keep-alive HTTP/1.1 connections and lua_State, so threads
 * share nothing while they run.
 *
 * Open model (constant- and ramping-arrival-rate): arrival k of a scenario is due at the
 * instant od_scenario_arrival_ns(k) after the scenario's start, and thread k mod N owns it.
 * At its instant an arrival takes an idle connection, or opens one (up to the scenario's
 * share of `connections`), or waits in a bounded backlog (its wait counts in its latency,
 * which is always measured from the intended instant: no coordinated omission); when the
 * backlog is full the arrival is dropped and counted.  Closed model (constant-concurrency):
 * each connection sends its next request as soon as the last one is answered.
 *
 * After a scenario's duration no new arrivals are made; requests in flight and waiting in
 * the backlog finish within the scenario's timeout, then what is left counts as timed out
 * or dropped.  A scenario with follow = true also waits, within the same timeout, for the
 * orders it follows (follow.c) to be seen done or failed; the rest count as lost.
 *
 * Timing: a worker sleeps in epoll until a spin window before its next open-model instant
 * (as wide as its recent wake-ups were late, up to --spin) and polls its sockets without
 * sleeping for the rest, and for the window after each send
 * while answers are awaited, so that neither a send nor an answer waits for a late wake-up;
 * a worker that spins much of its time on a CPU another task wants sleeps instead for a
 * while (engine.c).  Each worker counts where its
 * time went (od_load_cpu_t) for the self-check.
 *
 * Threading: od_load_run_create starts the threads; each builds its Lua state by running the
 * scenario file (od_script_create, script.h, as wrk does) and waits at a gate;
 * od_load_run_go opens the gate.  While the run goes, the main thread reads per-scenario
 * snapshots that each worker publishes every 50 ms under its own lock (the only lock);
 * after od_load_run_join it reads the workers' statistics directly.
 * Ownership: the run borrows the scenario set and copies the target; it owns its threads,
 * states and statistics until od_load_run_destroy.
 */
#ifndef OD_LOAD_ENGINE_H
#define OD_LOAD_ENGINE_H

#include <stdint.h>

#include "load/http.h"
#include "load/stats.h"
#include "scenario/scenario.h"

typedef struct od_load_run od_load_run_t;

enum { OD_PHASE_WAIT, OD_PHASE_RUN, OD_PHASE_DRAIN, OD_PHASE_DONE };

/* Defaults when a scenario does not say. */
#define OD_LOAD_DEFAULT_CONNECTIONS 256u /* open model: the most connections opened */

/* The longest spin window by default.  A worker sizes its window to how late its own timed
 * sleeps wake (engine.c's adapt: their p99 plus a quarter and 20 µs), up to this.  Measured on
 * the project's VMs: a thread sleeping 0.7 or 9.7 ms in epoll_pwait2 woke 65-127 µs late at
 * p50 and 99-258 µs at p95, with a tail to 0.4-2.5 ms at low rates (the vCPU idle longest), so
 * a fixed 300 µs window left p99 send delays of 0.3-1.2 ms at 100/s where 2 ms left 2 µs. */
#define OD_LOAD_DEFAULT_SPIN_NS 2000000ull
#define OD_LOAD_MAX_SPIN_NS 10000000ull

/**
 * starts `threads` workers for the set's scenarios against `target`; each loads the file
 * into its own lua_State.  `run_id` is passed to scripts as ctx.run.  A worker sleeps until
 * a spin window before its next instant and polls its sockets without sleeping for the rest,
 * so that sends leave on time; the window follows how late its sleeps wake, up to `spin_ns`
 * (0 to OD_LOAD_MAX_SPIN_NS; 0: it sleeps to the instant)
 * @return the run, waiting at the gate, or NULL with the errors (file:line) appended to err
 */
od_load_run_t *od_load_run_create(const od_scenario_set_t *set, const od_url_t *target, int threads,
                                  const char *run_id, uint64_t spin_ns, od_buf_t *err);
/** opens the gate: scenario start times count from t0 (a od_now_ns() instant) */
void od_load_run_go(od_load_run_t *r, uint64_t t0);
/** asks every worker to end its scenarios now (in-flight requests get one second) */
void od_load_run_stop(od_load_run_t *r);
/** returns 1 once every worker has finished scenario i */
int od_load_run_scenario_done(od_load_run_t *r, size_t i);
/** returns 1 once every worker has finished every scenario */
int od_load_run_finished(od_load_run_t *r);

/* A live view of one scenario, summed over the workers. */
typedef struct od_load_snapshot {
    od_load_counts_t c;
    uint64_t inflight, backlog;
    int phase; /* the least advanced worker's phase */
} od_load_snapshot_t;

/** fills snap for scenario i; merges the latencies recorded since the last call into interval
 *  and the completion latencies of followed orders into cinterval (each when not NULL) */
void od_load_run_snapshot(od_load_run_t *r, size_t i, od_load_snapshot_t *snap, od_hist_t *interval,
                          od_hist_t *cinterval);

void od_load_run_join(od_load_run_t *r);
/** after join: merges scenario i of every worker into out (initialized by the caller), with
 *  the scenario's timeline (created in out when it has none) */
void od_load_run_result(od_load_run_t *r, size_t i, od_load_stats_t *out, double *elapsed_s);
#define OD_STALL_NS 20000ull /* a poll of a spinning thread this long is a stop (below) */
/* Where the workers' time went, summed over the threads (of one run, or of several). */
typedef struct od_load_cpu {
    uint64_t wall_ns;   /* from the gate to each worker's end */
    uint64_t sleep_ns;  /* blocked in epoll, waiting for an answer or an instant */
    uint64_t spin_ns;   /* polling through the spin window before an instant */
    uint64_t runq_ns;   /* runnable but waiting for a CPU (the machine was busy) */
    uint64_t unspun_ns; /* sleeping to each instant, the spin window set aside: the CPU was shared */
    uint64_t window_ns_sum, window_ticks; /* the adapted spin window, summed per tick (its mean) */
    uint64_t window_max_ns;               /* the widest it was */
    /* the machine, seen from a spinning thread: a poll (about 1 us) that took OD_STALL_NS or
     * more means the thread was stopped (an interrupt, another task, a VM's host) */
    uint64_t stalls, stalled_ns, stall_max_ns;
    uint64_t overslept; /* sleeps toward an instant that woke after it: the window was too narrow */
    double busiest;     /* the busiest worker's share of its wall time spent working (0..1) */
    int threads;
} od_load_cpu_t;

/** after join: adds where the run's workers spent their time to out (zeroed by the caller) */
void od_load_run_cpu(od_load_run_t *r, od_load_cpu_t *out);
/** after join: the first error a script raised while running, or NULL */
const char *od_load_run_script_error(od_load_run_t *r);
void od_load_run_destroy(od_load_run_t *r);

#endif
