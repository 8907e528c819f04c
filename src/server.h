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

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "config.h"
#include "pool.h"
#include "results.h"
#include "stats.h"

struct od_scenario_set;

typedef struct od_server {
    const od_config_t *cfg;
    od_pool_t *pool;
    od_results_t *results;
    od_stats_t *stats;
    struct od_scenario_set **scenarios; /* loaded from cfg->scenarios */
    size_t nscenarios;
    struct od_scenario_state *scenario_state; /* which are running (scenario_state.h) */
    int argc;
    char **argv;
    uint64_t started_wall_ns;
} od_server_t;

/* --- requests and responses --------------------------------------------------------------- */

typedef struct od_req {
    h2o_req_t *h;
    od_server_t *srv;
    const char *path; /* without the query; not NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', or NULL; not NUL-terminated */
    size_t query_len;
    int route; /* od_route_id_t, for the request counters */
} od_req_t;

/**
 * copies the URL-decoded value of query parameter `name` into out (NUL-terminated)
 * @return 1 if present, 0 if absent, -1 if longer than outsz-1 or badly encoded
 */
int od_query_get(const od_req_t *r, const char *name, char *out, size_t outsz);
/** od_query_get on a raw query string (without the '?') */
int od_query_lookup(const char *query, size_t len, const char *name, char *out, size_t outsz);
/** @return 1 if the path equals s */
int od_path_is(const od_req_t *r, const char *s);
/** adds a response header (name and value are copied) before od_respond */
void od_add_header(od_req_t *r, const char *name, const char *value);
/** sends a complete response (body copied); returns 0 for handler convenience */
int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len);
/** sends `json` (a JSON document) and disposes of the buffer */
int od_respond_json(od_req_t *r, int status, od_buf_t *json);
/** sends {"error": message, "field": field} (field omitted when NULL or "") */
int od_respond_error(od_req_t *r, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- routing ------------------------------------------------------------------------------ */

enum { OD_GET = 1, OD_POST = 2, OD_HEAD = 4, OD_DELETE = 8, OD_PUT = 16 };
#define OD_ROUTE_PREFIX 1    /* path matches as a prefix */
#define OD_ROUTE_PROFILING 2 /* a profiling path: on the profiling listener, behind the token */

typedef int (*od_handler_fn)(od_req_t *r);
/**
 * adds a route (before od_server_run); `path` is static.  Exact routes win over prefixes;
 * among prefixes the longest wins.
 */
void od_route_add(const char *path, unsigned methods, int flags, od_route_id_t stat, od_handler_fn fn);
/** @return the index of the route that serves `path` (exact first, then longest prefix), or -1 */
int od_route_match(const char *path, size_t len);

/* --- deferred jobs ------------------------------------------------------------------------ */

typedef struct od_job od_job_t;
typedef void (*od_job_fn)(od_job_t *job, void *arg);
/**
 * runs fn(job, arg) on a job thread; fn must call od_job_respond exactly once.  free_arg (if
 * set) releases arg after fn returns.  At most OD_JOBS_MAX jobs run at once.
 * @return 0 if started, -1 if not (the caller still owns arg and must answer itself)
 */
#define OD_JOBS_MAX 16
int od_defer(od_req_t *r, od_job_fn fn, void *arg, void (*free_arg)(void *));
/** @return 1 once the client that asked has gone away (or the server is stopping) */
int od_job_cancelled(od_job_t *job);
/** what od_defer's caller's request asked: its query parameter (see od_query_get) */
int od_job_query_get(od_job_t *job, const char *name, char *out, size_t outsz);
/** adds a header to the job's response (copied) */
void od_job_add_header(od_job_t *job, const char *name, const char *value);
/** sets the response; takes the bytes of body (leaves it empty) */
void od_job_respond(od_job_t *job, int status, const char *content_type, od_buf_t *body);
/** the server's state, for jobs */
od_server_t *od_job_server(od_job_t *job);

/* --- lifecycle ---------------------------------------------------------------------------- */

/**
 * binds the listeners (reporting a clear error if it cannot), starts the loop threads and
 * runs until a SIGTERM/SIGINT has drained the pool; prints the summary
 * @return 0 after a clean drain, 1 if the server could not start
 */
int od_server_run(od_server_t *srv);

#endif
