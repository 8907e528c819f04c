/*
 * reload — SIGHUP: re-read the YAML and every Lua script it names, checked as --check checks
 * them; on any problem log each and keep the running config, otherwise apply what can change
 * live and log what changed (SPEC "Reload, hand-over, compare").
 *
 * What a reload applies, and how:
 *   the pool table (lua/workers.lua): workers up or down, queue capacity, starvation guard,
 *     stage knobs, and pool.rules (every worker rebuilds its rules state) — od_pool_reconfigure,
 *     taken by each worker between two orders (pool.h);
 *   scenarios: the new sets, published with the new config (cfg->sets);
 *   the schedule, when its script, its text or profiling.{max_seconds,output_dir,keep}
 *     changed: the old scheduler is stopped (its captures end early and are written) and a
 *     new one started;
 *   profiling.mutex_fraction, block_rate_ns (lockprof, atomics), cpu_hz on the perf_event
 *     engine (od_cpu_set_hz; the itimer engine's rate is read at exec), token and
 *     max_seconds (read per request), the /metrics buckets (applied at each scrape).
 * Not live (named in the log as needing a hand-over, SIGUSR2, and kept as they run): listen,
 * profiling.listen, profiling.enabled, http.threads, http.max_body_bytes, profiling.cpu_engine,
 * profiling.heap_sample_bytes, pool.results_kept, and cpu_hz on the itimer engine.
 *
 * Generations: each applied reload builds a whole new od_config_t and publishes it with one
 * atomic store of od_server_t.cfg; handlers load that pointer once per call, so no request
 * takes a lock.  A superseded generation is kept for OD_RELOAD_GRACE_S seconds after it was
 * replaced — far longer than any handler holds one (handlers never block, and jobs load the
 * pointer when they run) — then freed.  At most OD_RELOAD_KEEP are kept: a reload that would
 * need more (more than KEEP reloads inside the grace period) is refused, logged and counted
 * as failed, which bounds the memory at KEEP generations whatever the rate of SIGHUPs.
 *
 * Threading: main's thread only, from its signal loop (app.h).
 * Ownership: the startup generation is main's (its od_config_t and sets); every generation a
 * reload builds is this module's until od_reload_dispose.
 */
#ifndef OD_RELOAD_H
#define OD_RELOAD_H

#include "app.h"
#include "base/util.h"

#define OD_RELOAD_GRACE_S 60 /* how long a superseded generation is kept */
#define OD_RELOAD_KEEP 64    /* superseded generations kept at most */

struct od_scenario_set;

/**
 * the config as --check, startup and a reload read it: the YAML at path over the defaults
 * (when must_exist is 0 and there is no file, the defaults, with a warning), the pool table
 * and every Lua script it names (rules, schedule, scenarios, loaded into *sets: cfg->nscenarios
 * of them, also at cfg->sets), and what only the whole can tell (profiling exposure); every
 * problem is appended to errors as one "FILE:LINE:COL: message\n" or "FILE:LINE: message\n"
 * line.  cfg must hold defaults (od_config_defaults); *sets is the caller's (free each with
 * od_scenario_set_free, then the array) in both cases.
 * @return 0 if successful, -1 if not
 */
int od_reload_load(const char *path, int must_exist, od_config_t *cfg, struct od_scenario_set ***sets,
                   od_buf_t *errors);

/** @return 0 if the new config was applied, -1 if it was refused (nothing changed) */
int od_reload(od_app_t *app);

/** frees every generation a reload built (after the server, the pool and the schedule stopped) */
void od_reload_dispose(od_app_t *app);

#endif
