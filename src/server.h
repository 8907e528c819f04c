/*
 * server — the HTTP side: h2o event loops (one per `http.threads`, each with its own
 * listening socket on the same port via SO_REUSEPORT), the router that dispatches every
 * request to a handler by path and method (404/405 with Allow are answered here), response
 * helpers, and deferred jobs for work that must not run on an event loop (profiles that take
 * seconds).
 *
 * The application state every handler reads is od_server_t: built before the threads start;
 * its pointers are read-only afterwards (the objects behind them do their own locking).
 *
 * Threading: handlers run on their loop's thread and must not block.  A deferred job runs on
 * a job thread of its own; its response is handed back to the loop that owns the request,
 * and dropped if the client went away in the meantime.
 */
#ifndef OD_SERVER_H
#define OD_SERVER_H

#include "config.h"
#include "jobs.h"
#include "pool.h"
#include "request.h"
#include "results.h"
#include "router.h"
#include "stats.h"

struct od_scenario_set;

typedef struct od_server { /* typedef also in request.h */
    const od_config_t *cfg;
    od_pool_t *pool;
    od_results_t *results;
    od_stats_t *stats;
    struct od_scenario_set **scenarios; /* loaded from cfg->scenarios */
    size_t nscenarios;
    int argc;
    char **argv;
    uint64_t started_wall_ns;
} od_server_t;

/* --- lifecycle ---------------------------------------------------------------------------- */

/**
 * binds the listeners (reporting a clear error if it cannot), starts the loop threads and
 * runs until a SIGTERM/SIGINT has drained the pool; prints the summary
 * @return 0 after a clean drain, 1 if the server could not start
 */
int od_server_run(od_server_t *srv);

#endif
