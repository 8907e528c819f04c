/* STUB: no recording yet; comes with the profiling work. */
#include "prof/trace.h"

volatile int od_trace_on;

void od_trace_span(const char *name, const char *order_id, uint64_t start_ns, uint64_t end_ns)
{
    (void)name, (void)order_id, (void)start_ns, (void)end_ns;
}

void od_trace_lock_wait(const char *mutex_name, uint64_t start_ns, uint64_t end_ns)
{
    (void)mutex_name, (void)start_ns, (void)end_ns;
}

void od_trace_instant(const char *name, const char *detail)
{
    (void)name, (void)detail;
}

void od_trace_flow_begin(uint64_t flow_id, const char *order_id)
{
    (void)flow_id, (void)order_id;
}

void od_trace_flow_end(uint64_t flow_id, const char *order_id)
{
    (void)flow_id, (void)order_id;
}

int od_trace_start(void)
{
    return -1;
}

void od_trace_stop(od_buf_t *out)
{
    od_buf_puts(out, "{\"traceEvents\":[]}");
}
