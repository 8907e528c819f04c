/*
 * loader — what the files of src/scenario/ share while loading a scenario file; not for use
 * outside src/scenario/ (scenario.h is the public interface).
 *
 * One load is an od_scenario_loader_t: the file, the caller's error buffer and the file's
 * source map (od_lua_src_t: where each field of the returned table was written).  Each section parser reads
 * the value at the top of the Lua stack, copies plain values into the set, and reports every problem it finds
 * (it does not stop at the first) through od_scenario_report, which counts it: the load fails if any was
 * counted.
 *
 * Ownership: the set owns everything the parsers store in it (strings, arrays), released by
 * od_scenario_set_free; the loader borrows path and errors and owns src.
 * Threading: a loader and its lua_State belong to the one thread that loads.
 */
#ifndef OD_SCENARIO_LOADER_H
#define OD_SCENARIO_LOADER_H

#include <lua.h>
#include <stdarg.h>

#include "lua/lua_layer.h"
#include "scenario/scenario.h"

struct od_scenario_set {
    char *file;
    char *name;
    char *target;
    od_scenario_t *scenarios;
    size_t nscenarios;
    od_threshold_t *thresholds;
    size_t nthresholds;
    od_capture_t *captures;
    size_t ncaptures;
    od_request_kind_t request_kind;
    int has_response;
    char *req_method, *req_path, *req_headers, *req_body;
    size_t req_body_len;
};

/* State of one load: the file, where errors go, and whether any was reported. */
typedef struct loader {
    const char *path;
    od_buf_t *errors;
    int nerrors;
    od_lua_src_t *src; /* where each field of the returned table was written */
} od_scenario_loader_t;

#define OD_SCENARIO_MAX_S (86400.0 * 365) /* the longest time a scenario file may give: a year */

/* ---- positions and reports (values.c) ------------------------------------------------------ */

/** where field `key` of the constructor `within` was written, or `within` itself when it
 *  was not written there (a value built elsewhere) */
const od_lua_where_t *od_scenario_key_pos(const char *key, const od_lua_where_t *within);
/** appends "FILE:LINE:COL: message\n" to the loader's errors and counts an error */
void od_scenario_report(od_scenario_loader_t *ld, const od_lua_where_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** appends a Lua-reported error ("file:line: message"), one line per error, and counts it */
void od_scenario_report_lua(od_scenario_loader_t *ld, const char *msg);

/** an od_lua_field_t apply() that accepts anything: for a key a schema must know but a
 *  section parser reads afterwards, with positions the schema cannot give (a list's items) */
int od_scenario_apply_later(lua_State *L, int idx, void *member, od_buf_t *why);

/* ---- typed values (values.c): each reports what is wrong with the value at idx ------------ */

/** a duration: a string with a unit, or a number of seconds, at most a year
 *  @return 0 if successful, -1 if not (reported) */
int od_scenario_get_duration(od_scenario_loader_t *ld, lua_State *L, int idx, const char *what,
                             const od_lua_where_t *at, uint64_t *out);

/* ---- sections: each parses the value at the top of the stack into s ----------------------- */

/** `scenarios` (scenarios.c); sorts them by start time, then name
 *  @return 0 if successful, -1 if not (reported) */
int od_scenario_parse_scenarios(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                const od_lua_where_t *at);
/** releases what a scenario owns (scenarios.c) */
void od_scenario_dispose(od_scenario_t *sc);
/** `thresholds` (thresholds.c); runs after the scenarios, whose names they may use
 *  @return 0 if successful, -1 if not (reported) */
int od_scenario_parse_thresholds(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                 const od_lua_where_t *at);
/** `profile` (captures.c); runs after the scenarios @return 0 if successful, -1 if not (reported) */
int od_scenario_parse_profile(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                              const od_lua_where_t *at);
/** a `request` table (request.c) @return 0 if successful, -1 if not (reported) */
int od_scenario_parse_static_request(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                     const od_lua_where_t *at);
/** calls the request function at stack index fn once with a sample ctx (request.c); needs
 *  at least one scenario @return 0 if successful, -1 if not (reported) */
int od_scenario_try_request(od_scenario_loader_t *ld, lua_State *L, int fn, od_scenario_set_t *s,
                            const od_lua_where_t *at);

#endif
