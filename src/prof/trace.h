/*
 * trace — the execution trace (/profile/trace): per-thread event buffers written to Chrome
 * Trace Event JSON, which Perfetto and chrome://tracing open.
 *
 * When no trace is running every od_trace_* call is one relaxed atomic load and a branch
 * (callers may test od_trace_active() first to skip preparing arguments).  While one runs,
 * each registered thread appends to its own buffer (indexed by od_thread_slot(); no locks
 * on the hot path; a thread that takes over a freed registry slot during a trace continues
 * that slot's buffer); unregistered threads share one small buffer behind a lock.  Memory is
 * bounded: buffers grow by chunks allocated on demand, at most OD_TRACE_MAX_THREAD_EVENTS
 * events per slot (OD_TRACE_MAX_SHARED_EVENTS for the shared buffer) and
 * OD_TRACE_MAX_BYTES for the whole trace; events that do not fit are counted as dropped
 * (reported in the output's otherData), never block.  Everything is allocated by
 * od_trace_start and freed by od_trace_stop.
 *
 * Events: complete spans (a pipeline stage with the order id), lock waits (od_mutex
 * contention, recorded by lockprof), instants (a scenario start or end), and flows (an
 * order from the HTTP thread that enqueued it to the worker that took it).  Strings passed
 * as `name` must be static; order ids and instant texts are copied (at most
 * OD_TRACE_TEXT_MAX bytes, cut on a UTF-8 boundary).  Timestamps come from od_now_ns().
 *
 * Output (od_trace_stop): {"traceEvents":[...], "displayTimeUnit":"ms", "otherData":{...}}
 * with a process_name metadata event ("orderd"), a thread_name metadata event for every
 * registered thread and every thread that recorded, "X" events (ts and dur in microseconds
 * since the trace start, args.order_id), "i" instants (scope "g"), and flow events "s"/"f"
 * (cat and name "order", the same id, bp "e").  Perfetto draws a flow arrow only between
 * slices that enclose the flow events on their threads, so each flow event is written
 * inside a small "enqueue" (start) or "dequeue" (end) slice that od_trace_stop fits between
 * the thread's other slices so that nesting stays proper.
 *
 * Threading: recording functions are thread-safe.  od_trace_start / od_trace_stop may be
 * called from any thread; only one trace runs at a time.  od_trace_stop turns recording
 * off, then waits for writers still inside a recording call (a per-thread busy flag
 * checked after the flag, Dekker-style, both sequentially consistent) before it reads the
 * buffers, so a writer racing with stop either lands fully in this trace or not at all.
 */
#ifndef OD_PROF_TRACE_H
#define OD_PROF_TRACE_H

#include <stdint.h>

#include "base/util.h"

#define OD_TRACE_MAX_THREAD_EVENTS 65536
#define OD_TRACE_MAX_SHARED_EVENTS 16384
#define OD_TRACE_MAX_BYTES (64u << 20)
#define OD_TRACE_TEXT_MAX 79

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
/** an instant event on the calling thread, drawn as a global marker (scope "g") across the
 *  timeline (name and detail copied; detail may be NULL) */
void od_trace_instant(const char *name, const char *detail);
/** flow start (on the enqueuing thread) and end (on the worker), linked by `flow_id`
 *  (written as a JSON number: keep it below 2^53); order_id copied, may be NULL */
void od_trace_flow_begin(uint64_t flow_id, const char *order_id);
void od_trace_flow_end(uint64_t flow_id, const char *order_id);

/**
 * starts a trace (at most one at a time); od_trace_stop ends it and writes the Chrome JSON
 * into out
 * @return 0 if successful, -1 if one is already running
 */
int od_trace_start(void);
/** ends the running trace, appends its JSON to out and frees its buffers; without a running
 *  trace it appends an empty trace whose otherData.error says so */
void od_trace_stop(od_buf_t *out);
/** lowers the buffer bounds for the traces started from now on: events per slot (rounded up
 *  to 4096) and bytes for the whole trace (rounded down to 512 KiB chunks); 0 or values
 *  above the maxima mean the maxima.  For tests and small machines. */
void od_trace_set_limits(uint32_t max_thread_events, uint64_t max_bytes);
/** 1 while a trace is running (between od_trace_start and the end of od_trace_stop) */
int od_trace_running(void);

#endif
