/*
 * server — the HTTP layer's state and lifecycle: od_server_t, which every handler reads, and
 * the listeners and h2o event loops (one per `http.threads`, each accepting on its own dup of
 * the one listening socket, and on the profiling listener's when there is one).
 *
 * The HTTP layer (src/http/) is eleven modules; this header includes the first three's headers
 * for the handlers:
 *   router.h          the route table and dispatch (404, 405, the profiling listener and token)
 *   request.h         what a handler reads of a request and how it answers (od_respond...,
 *                     od_body_t: a body in the request's pool)
 *   jobs.h            deferred jobs: blocking work off the event loop
 *   routes.h          the order API, /stats, /scenarios (registered by main)
 *   profiling.h       the profiling endpoints: /profile/, /debug/pprof/, /pprof/ (over
 *                     prof/capture.h; registered by main)
 *   profiles.h        GET /profiles: the captures the schedule wrote (schedule/capture_store.h)
 *   metrics.h         /metrics (Prometheus)
 *   counters.h        the request counters by route, method, code (what every answer adds to)
 *   fallback.h        orderd's JSON on the errors h2o answers itself (413, 400, 417)
 *   predecessor.h     after a hand-over, GET /orders/{id} of the old process's orders
 *   server.h          this: the state, the listeners (bound, or inherited in a hand-over)
 *                     and the loops
 * The layers run one way: main builds the config, starts the pool, then this server, which
 * feeds the pool and reads the profilers (prof/) and the schedule's state (schedule/: which
 * scenarios are running, the captures it wrote); none of those includes this layer.  At a
 * stop signal main drains the pool while the server still answers, then stops the server
 * (main.c).
 *
 * od_server_t is built by main before the threads start; its pointers are read-only
 * afterwards (the objects behind them do their own locking) and it owns none of them —
 * except cfg, which a reload (reload.h) replaces with a new generation by one atomic store.
 * A handler reads srv->cfg (an atomic load: a plain mov on x86) and uses what it got for
 * the rest of its call, never across calls; the generation it got stays valid for long after
 * (reload.h says how long), and its loaded scenario sets are cfg->sets.
 *
 * Threading: handlers run on their loop's thread and must not block (jobs.h for work that
 * does).  od_server_start and od_server_stop are called by main, once each.
 */
#ifndef OD_SERVER_H
#define OD_SERVER_H

#include "config.h"
#include "http/jobs.h"
#include "pool/pool.h"
#include "http/request.h"
#include "pool/results.h"
#include "http/router.h"
#include "pool/stats.h"

typedef struct od_server {          /* typedef also in request.h */
    const od_config_t *_Atomic cfg; /* the running generation: see above */
    od_pool_t *pool;
    od_results_t *results;
    od_stats_t *stats;
    struct od_scenario_state *scenario_state; /* which are running (schedule/scenario_state.h) */
    int argc;
    char **argv;
    uint64_t started_wall_ns;
} od_server_t;

/* A hand-over (handover.h) passes the listening sockets to the new process in this variable,
 * "HOST:PORT=FD;..." with HOST:PORT as the config writes them (h2o's start_server passes its
 * sockets the same way): od_server_start uses an inherited socket instead of binding when
 * its address is named there, and closes the inherited ones it does not use. */
#define OD_LISTEN_FDS_ENV "ORDERD_LISTEN_FDS"

typedef struct od_listener_fd {
    char name[280]; /* "HOST:PORT" */
    int fd;
} od_listener_fd_t;

/**
 * binds the listeners (reporting a clear error if it cannot) and starts the loop threads,
 * which serve until od_server_stop.  The caller blocks SIGTERM/SIGINT and ignores SIGPIPE
 * first (the loop threads inherit the mask); srv must outlive the server.
 * @return 0 if successful, -1 if not
 */
int od_server_start(od_server_t *srv);
/** the listening sockets (the server owns them; valid after od_server_start) @return how many */
int od_server_listeners(const od_listener_fd_t **out);
/**
 * stops accepting (hand-over): each loop, woken, closes its listeners at once, answers every
 * request still coming on an open connection with Connection: close, and closes connections
 * idle for a second; returns once every loop closed its listeners (at most 5 s), so that
 * od_server_connections counts every connection there will be
 */
void od_server_stop_accepting(void);
/** @return the client connections open now (accepted and not yet closed) */
int od_server_connections(void);
/** stops the loop threads and the jobs, and joins the loops (after od_server_start only) */
void od_server_stop(void);

#endif
