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
 * binds the listeners (reporting a clear error if it cannot) and starts the loop threads,
 * which serve until od_server_stop.  The caller blocks SIGTERM/SIGINT and ignores SIGPIPE
 * first (the loop threads inherit the mask); srv must outlive the server.
 * @return 0 if successful, -1 if not
 */
int od_server_start(od_server_t *srv);
/** stops the loop threads and the jobs, and joins the loops (after od_server_start only) */
void od_server_stop(void);

#endif
