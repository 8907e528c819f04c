/*
 * selfcheck — orderload's verdict on its own figures, as Lancet checks its measurement:
 * whether a run's latencies measure the server or the generator.  Two checks:
 *
 *  - send delay: in each scenario the send-delay p99 (the generator's own lateness, which is
 *    in every latency it reports) is at most OD_SELFCHECK_SHARE of the latency p99, and so is
 *    the connection-wait p99 (arrivals that found every connection busy reached the server
 *    late: its answers were slower than they came, for the connections given);
 *  - CPU: no worker thread spent more than OD_SELFCHECK_BUSY of the run working (sleeping
 *    and spinning do not count), else it could not keep its instants.
 *
 * When a check fails the verdict says what to change: connections or pipelining (arrivals
 * waited for a free connection), threads (a worker was saturated), the machine (the generator
 * waited for a CPU, or stopped a thread that spun to its instants: no window helps) or the
 * spin window (sleeps woke past their instants).  It is a warning: it never changes the exit
 * code.
 *
 * Ownership: od_selfcheck_eval fills a caller-owned od_selfcheck_t, which then owns its
 * strings (od_selfcheck_dispose); the inputs are borrowed for the call.  Pure functions of
 * their inputs; thread-safe.
 */
#ifndef OD_LOAD_SELFCHECK_H
#define OD_LOAD_SELFCHECK_H

#include <jansson.h>
#include <stdio.h>

#include "load/engine.h"
#include "load/stats.h"

#define OD_SELFCHECK_SHARE 0.10 /* send delay (and conn wait) p99 ÷ latency p99, at most */
#define OD_SELFCHECK_BUSY 0.90  /* a worker thread's working share of the run, at most */

/* One scenario as the check sees it. */
typedef struct od_selfcheck_scen {
    const od_load_result_t *r; /* borrowed */
    uint32_t connections;      /* the most it could open (its setting, or the default) */
    uint32_t pipeline;         /* the most in flight on one connection (1: no pipelining) */
} od_selfcheck_scen_t;

typedef struct od_selfcheck {
    int ok;
    /* the scenario with the largest send-delay share (NULL name: no answers at all) */
    const char *worst; /* borrowed from its result */
    double share, send_delay_p99_us, latency_p99_us;
    /* the scenario whose arrivals waited longest for a connection, against its latency p99
     * (NULL: none waited) */
    const char *wait_worst; /* borrowed from its result */
    double wait_share, conn_wait_p99_us;
    double busiest;                  /* the busiest worker thread's working share */
    double cpu_s, spin_s, runq_s;    /* the process's CPU, of it spinning; time waiting for a CPU */
    double spin_off_s;               /* time the workers slept to each instant: their CPU was shared */
    uint64_t spin_ns;                /* --spin: the widest window */
    double window_us, window_max_us; /* the adapted window: its mean over the ticks, its widest */
    int threads;
    uint64_t stalls, overslept;     /* od_load_cpu_t's */
    double stalled_s, stall_max_us; /* the time they took, the longest */
    char **problems, **advice;      /* owned, NULL-terminated lists of sentences */
    size_t nproblems, nadvice;
} od_selfcheck_t;

/**
 * judges a run: its scenarios, where its workers' time went (summed over every file's run),
 * the process's CPU time, the spin window and the threads per run
 */
void od_selfcheck_eval(od_selfcheck_t *out, const od_selfcheck_scen_t *scens, size_t n,
                       const od_load_cpu_t *cpu, double cpu_s, uint64_t spin_ns, int threads);
void od_selfcheck_dispose(od_selfcheck_t *sc);
/** writes the verdict for people: one line when it is ok, the problems and what to change if not */
void od_selfcheck_print(FILE *f, const od_selfcheck_t *sc);
/** returns the verdict as the --json document's "self_check" object (a new reference) */
json_t *od_selfcheck_json(const od_selfcheck_t *sc);

#endif
