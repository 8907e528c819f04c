/*
 * scenario — loads and validates a load-scenario file (lua/scenarios/NAME.lua), shared by
 * orderd (`--check`, GET /scenarios) and orderload (which runs them).
 *
 * A scenario file is a Lua chunk that returns a table:
 *
 *   return {
 *     target = "http://127.0.0.1:8080",              -- optional; orderload -u overrides
 *     scenarios = {                                  -- required; key = scenario name
 *       normal = { executor = "constant-arrival-rate", rate = 10, duration = "30s" },
 *       ramp   = { executor = "ramping-arrival-rate", start_rate = 0, start_time = "35s",
 *                  stages = { { duration = "10s", target = 100 }, { duration = "5s", target = 0 } } },
 *       max    = { executor = "constant-concurrency", connections = 32, duration = "10s" },
 *       -- any scenario may add follow = true: completion latency of each accepted order
 *     },
 *     thresholds = { ["latency.p99"] = "< 250ms", ["normal:error_rate"] = "< 1%" },
 *     request  = function(ctx) return "POST", "/orders", headers, body end,  -- or a table
 *     response = function(ctx, status, headers, body) end,                -- optional
 *     profile  = { { at = "5s", path = "/profile/cpu?seconds=3", save = "cpu.pb.gz" } },
 *   }
 *
 * The loader runs the file in a fresh state of the Lua layer (lua_layer.h: od_lua_open with
 * every library and an instruction budget; package.path set by od_scenario_prepare_state),
 * validates every value, calls
 * request(ctx) once with a sample ctx, and closes the state: a set keeps plain values only,
 * so it may be read from any thread once loaded.  The functions (request, response) are
 * re-created by each orderload thread in its own state by running the file again.
 *
 * Errors are appended to the caller's buffer as "FILE:LINE:COL: message\n" lines, at the
 * field that holds the bad value (od_lua_src_t's map of the returned table; od_lua_report),
 * or "FILE:LINE: message\n" when Lua itself reports the error.
 *
 * Files: load.c runs the file and walks its table, handing each section to scenarios.c,
 * thresholds.c, captures.c or request.c (values.c reads typed values and reports positions;
 * loader.h is what they share); set.c holds the accessors, arrival.c the arrival-rate math,
 * json.c the JSON.  Neither program depends on the other: orderd and orderload both compile
 * src/scenario/.
 *
 * Ownership: a set owns every string and array reachable from it; od_scenario_set_free
 * releases everything.  Pointers returned by the accessors live as long as the set.
 * Threading: loading is thread-safe (no shared state); a loaded set is read-only except for
 * od_scenario_set_scale, which must run before other threads read it.
 */
#ifndef OD_SCENARIO_H
#define OD_SCENARIO_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

typedef struct od_scenario_set od_scenario_set_t; /* opaque; one scenario file */

/* ---- what orderd uses ------------------------------------------------------------------- */

/**
 * loads and validates a scenario file in a fresh lua_State (closed before return)
 * @return the set (release with od_scenario_set_free), or NULL with "FILE:LINE:COL: message\n"
 *         lines appended to errors
 */
od_scenario_set_t *od_scenario_load(const char *path, od_buf_t *errors);
void od_scenario_set_free(od_scenario_set_t *s);
/** the file's basename without ".lua" */
const char *od_scenario_set_name(const od_scenario_set_t *s);
/**
 * appends a JSON object:
 * {"name":"burst","file":"lua/scenarios/burst.lua","scenarios":{"burst":{"executor":
 *  "constant-arrival-rate","rate":100,"duration_s":10,"start_time_s":0}}}
 * (ramping scenarios add "start_rate" and "stages":[{"duration_s","target"}]; scenarios with
 * a connection limit add "connections", pipelining ones "pipeline", scenarios that follow their
 * orders "follow":true)
 */
void od_scenario_set_json(const od_scenario_set_t *s, od_buf_t *out);

/* ---- what orderload uses ---------------------------------------------------------------- */

typedef enum od_executor {
    OD_EXEC_CONSTANT_RATE,       /* "constant-arrival-rate": open model, `rate` per second */
    OD_EXEC_RAMPING_RATE,        /* "ramping-arrival-rate": open model, linear ramps per stage */
    OD_EXEC_CONSTANT_CONCURRENCY /* "constant-concurrency": closed model, `connections` loops */
} od_executor_t;

typedef struct od_stage {
    uint64_t duration_ns;
    double target; /* arrival rate (per second) reached at the stage's end */
} od_stage_t;

#define OD_SCENARIO_MAX_PIPELINE 64 /* `pipeline`, at most */

typedef struct od_scenario {
    char *name;
    od_executor_t executor;
    double rate;       /* constant-arrival-rate */
    double start_rate; /* ramping-arrival-rate: the rate at the first stage's start */
    od_stage_t *stages;
    size_t nstages;
    uint64_t duration_ns;   /* ramping: the sum of the stages */
    uint64_t start_time_ns; /* from the start of the file's run */
    uint32_t connections;   /* 0 = not set (orderload picks) */
    uint32_t max_backlog;   /* 0 = not set: arrivals waiting for a connection before drops */
    uint32_t pipeline;      /* open model: requests in flight on one connection when every
                             * connection is busy (HTTP/1.1 pipelining); 0 = not set, as 1 */
    uint64_t timeout_ns;    /* per request; default 10 s */
    int follow;             /* `follow = true`: orderload polls each 202's Location until the order
                             * is done or failed and reports completion latency */
} od_scenario_t;

typedef enum od_cmp { OD_CMP_LT, OD_CMP_LE, OD_CMP_GT, OD_CMP_GE, OD_CMP_EQ } od_cmp_t;

/*
 * A threshold "[SCENARIO:]METRIC OP VALUE".  Metrics: latency.S, service_time.S,
 * send_delay.S, completion.S (follow = true) with S one of min, mean, stdev, max, pN (e.g. p99, p99.9):
 * values in µs, written with a unit ("250ms"); scheduled, sent, completed, late, dropped, errors (counts);
 * error_rate, drop_rate (fractions, "1%" or 0.01); rate (achieved requests per second).
 */
typedef struct od_threshold {
    char *expr;   /* as shown: "latency.p99 < 250ms" */
    char *scope;  /* scenario name, or NULL for the file's total */
    char *metric; /* "latency.p99" */
    od_cmp_t op;
    double limit; /* µs for time metrics */
} od_threshold_t;

/* A capture fetched from the target while the scenarios run, saved to a file. */
typedef struct od_capture {
    uint64_t at_ns; /* after the start of `scenario`, or of the file's run */
    char *scenario; /* NULL: relative to the file's run */
    char *path;     /* "/profile/cpu?seconds=3" */
    char *save;     /* a file name (no directory part) */
    uint64_t timeout_ns;
} od_capture_t;

typedef enum od_request_kind {
    OD_REQ_NONE,     /* GET the target URL's path */
    OD_REQ_FUNCTION, /* request(ctx) called per request */
    OD_REQ_STATIC    /* a table: the same request every time */
} od_request_kind_t;

/** sets package.path so that `require` finds modules beside the file, in ../lib relative to
 *  its directory and in lua/lib under the working directory; seeds nothing */
void od_scenario_prepare_state(lua_State *L, const char *path);

const char *od_scenario_set_file(const od_scenario_set_t *s);
/** the `target` URL, or NULL when the file sets none */
const char *od_scenario_set_target(const od_scenario_set_t *s);
/** scenarios ordered by start_time, then name */
size_t od_scenario_set_count(const od_scenario_set_t *s);
const od_scenario_t *od_scenario_set_get(const od_scenario_set_t *s, size_t i);
/** returns the scenario named `name`, or NULL */
const od_scenario_t *od_scenario_set_find(const od_scenario_set_t *s, const char *name);
size_t od_scenario_set_nthresholds(const od_scenario_set_t *s);
const od_threshold_t *od_scenario_set_threshold(const od_scenario_set_t *s, size_t i);
size_t od_scenario_set_ncaptures(const od_scenario_set_t *s);
const od_capture_t *od_scenario_set_capture(const od_scenario_set_t *s, size_t i);
od_request_kind_t od_scenario_set_request_kind(const od_scenario_set_t *s);
int od_scenario_set_has_response(const od_scenario_set_t *s);
/** for OD_REQ_STATIC: method, path, headers as "Name: value\r\n" lines, body (may be NULL) */
void od_scenario_set_static_request(const od_scenario_set_t *s, const char **method, const char **path,
                                    const char **headers, const char **body, size_t *body_len);
/** the end of the last scenario (start_time + duration), in ns from the run's start */
uint64_t od_scenario_set_span_ns(const od_scenario_set_t *s);
/** multiplies every start_time, duration, stage and capture time by f (> 0) */
void od_scenario_set_scale(od_scenario_set_t *s, double f);
/** returns the executor's name as written in scenario files */
const char *od_executor_name(od_executor_t e);
/** the instant (ns after the scenario's start) of arrival number k (0-based) of an open-model
 *  scenario; UINT64_MAX when k is past the scenario's end */
uint64_t od_scenario_arrival_ns(const od_scenario_t *sc, uint64_t k);
/** the number of arrivals an open-model scenario schedules in its duration */
uint64_t od_scenario_arrivals(const od_scenario_t *sc);

#endif
