/*
 * trace — the execution trace (/profile/trace): per-thread event buffers written to Chrome
 * Trace Event JSON, which Perfetto and chrome://tracing open.
 *
 * When no trace is running every od_trace_* call is one relaxed atomic load and a branch.
 * While one runs, each registered thread appends to its own bounded buffer (no locks on the
 * hot path); events that do not fit are counted as dropped, never block.
 *
 * Events: complete spans (a pipeline stage with the order id), instants (a scenario start
 * or end), flows (an order from the HTTP thread that enqueued it to the worker that took it),
 * and lock waits (od_mutex contention, recorded by lockprof).
 */
#ifndef OD_PROF_TRACE_H
#define OD_PROF_TRACE_H

#include <stdint.h>

#include "util.h"

extern volatile int od_trace_on; /* read with __atomic_load_n(&od_trace_on, __ATOMIC_RELAXED) */

static inline int od_trace_active(void)
{
    return __atomic_load_n(&od_trace_on, __ATOMIC_RELAXED);
}

/** records a span [start_ns, end_ns] (od_now_ns clock) named `name` (static) on the calling
 *  thread, with the order id as an argument (copied; may be NULL) */
void od_trace_span(const char *name, const char *order_id, uint64_t start_ns, uint64_t end_ns);
/** a contended od_mutex wait, shown as a span "lock wait: <mutex_name>" (recorded by
 *  lockprof; mutex_name static) */
void od_trace_lock_wait(const char *mutex_name, uint64_t start_ns, uint64_t end_ns);
/** an instant event on the calling thread (name copied) */
void od_trace_instant(const char *name, const char *detail);
/** flow start (on the enqueuing thread) and end (on the worker), linked by `flow_id` */
void od_trace_flow_begin(uint64_t flow_id, const char *order_id);
void od_trace_flow_end(uint64_t flow_id, const char *order_id);

/**
 * starts a trace (at most one at a time); od_trace_stop ends it and writes the Chrome JSON
 * into out
 * @return 0 if successful, -1 if one is already running
 */
int od_trace_start(void);
void od_trace_stop(od_buf_t *out);

#endif
