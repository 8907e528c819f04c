/*
 * profiling — the profiling endpoints, in three families over one capture API
 * (prof/capture.h):
 *
 *   /profile/{cpu,memory,goroutines,goroutine,threads,block,mutex,trace,gc}
 *       the seed's paths.  ?seconds=N or ?duration=30s (1..profiling.max_seconds) for cpu
 *       and trace (on memory, goroutines, block and mutex: a delta over that window);
 *       ?format=pprof|legacy|text|folded|svg (gc: json or text); ?gc=1 on memory.  Errors
 *       are JSON {"error": ..., "field": ...}: 400 bad parameter, 404 unknown kind, 409 a CPU
 *       profile or trace already running.  Downloads carry Content-Disposition: attachment;
 *       text, svg and gc are served inline (they are meant for the browser).
 *   /debug/pprof/  Go's net/http/pprof: the index page, profile, heap, allocs, goroutine
 *       (debug=0 proto, 1 text, 2 every thread's stack), block, mutex, trace (Chrome JSON, not
 *       Go's binary trace), cmdline, symbol; Go's parameters (seconds, debug, gc) and its
 *       error convention (plain text, X-Go-Pprof: 1).
 *   /pprof/{profile,heap,growth,contention,symbol,cmdline}  gperftools' remote-server
 *       protocol, in the legacy formats google-pprof reads.  google-pprof treats a profile
 *       URL with a query string as a prefix and appends its own page to it (".../pprof/
 *       profile?seconds=2/pprof/symbol"); such a request is served as the page at its end,
 *       with the parameters before it winning.
 *
 * Everything that takes time (a window, a collector, symbolization) runs as a deferred job
 * (od_defer), never on the event loop; a window ends early when the client goes away.
 * The router applies profiling.enabled, the profiling listener and the token (router.c).
 */
#ifndef OD_HTTP_PROFILING_H
#define OD_HTTP_PROFILING_H

/** registers every profiling route (flag OD_ROUTE_PROFILING); call before od_server_start */
void od_profiling_register(void);

#endif
