/*
 * script — one orderload worker's Lua, as wrk's script.c is wrk's: the one module that owns
 * a lua_State, with a small C API the engine calls.  Policy lives in the scenario file
 * (request(ctx), response(ctx, status, headers, body)); this module only builds the state,
 * turns request()'s values into request bytes and hands an answer to response().
 *
 * od_script_create runs the scenario file in a fresh state (package.path as the loader set
 * it, see od_scenario_prepare_state) only when the file has request() or response(), keeps
 * those functions and one ctx table per scenario ({scenario, thread, threads, run, seq,
 * elapsed}: seq and elapsed are set per call).  A file without request() gets its one
 * static request built here instead (GET the target's path, or the file's request table).
 *
 * Every call is protected: a script error comes back as -1 with "file:line: message"
 * appended to the caller's buffer; the state stays usable.
 * Threading: a script belongs to the thread that created it (one per worker, never shared);
 * values cross threads only by copy.  Ownership: the script owns its state, its strings and
 * the static request; it borrows nothing after od_script_create returns.
 */
#ifndef OD_LOAD_SCRIPT_H
#define OD_LOAD_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "load/http.h"
#include "scenario/scenario.h"
#include "base/util.h"

typedef struct od_script od_script_t;

/**
 * builds worker `thread` (of nthreads) of a run: its state, its functions, its ctx tables
 * (run_id is ctx.run) or its static request for target
 * @return the script (release with od_script_destroy), or NULL with the error appended to err
 */
od_script_t *od_script_create(const od_scenario_set_t *set, const od_url_t *target, int thread, int nthreads,
                              const char *run_id, od_buf_t *err);
void od_script_destroy(od_script_t *sc);
/** returns the request every connection sends (length in *len), or NULL when request() builds
 *  each one; the bytes live as long as the script */
const char *od_script_static_request(const od_script_t *sc, size_t *len);
/** returns 1 when the file has response(): answers' heads and bodies must be kept for it */
int od_script_wants_response(const od_script_t *sc);
/**
 * calls request(ctx) for request number seq of scenario i (the set's order), `elapsed`
 * seconds after the scenario's start, and writes the request's bytes to out (reset first)
 * @return 0 if successful, -1 if not, with the error appended to err
 */
int od_script_request(od_script_t *sc, size_t i, uint64_t seq, double elapsed, od_buf_t *out, od_buf_t *err);
/**
 * calls response(ctx, status, headers, body) for request seq of scenario i; head holds the
 * answer's header lines (names are passed lowercased)
 * @return 1 when it accepted the answer (returned anything but false), 0 when it returned
 *         false, -1 on a script error appended to err
 */
int od_script_response(od_script_t *sc, size_t i, uint64_t seq, int status, const char *head, size_t head_len,
                       const char *body, size_t body_len, od_buf_t *err);

#endif
