/*
 * schedule — the profiling schedule of lua/schedule.lua (named by profiling.schedule): a
 * list of captures, each timed (`at`, once after start), periodic (`every`) or triggered
 * (`when = function(s)` on a stats snapshot, evaluated about once a second, with a
 * `cooldown`).  This is the public face: od_schedule_check (main's --check and startup) and
 * the scheduler thread.  lua/README.md is the script reference.
 *
 * The parts, one job each: schedule_load.c loads and checks the script; schedule.c (here)
 * runs the scheduler thread: snapshots, `when` calls, firing captures; capture_store.c
 * writes them to profiling.output_dir with their manifest.jsonl, pruned to profiling.keep;
 * scenario_state.c holds which scenarios are running (set by http/routes.c, read by the
 * snapshots); http/profiles.c serves the captures (GET /profiles).
 *
 * Threads: one "scheduler" thread owns the schedule's lua_State (lua_layer.h's sandbox
 * policy with a memory bound and an instruction budget, schedule_load.h) and the entries; each capture runs
 * on a thread of its own ("prof-capture-KIND", at most OD_SCHEDULE_JOBS at once) so that an entry's kinds
 * share one window and a long CPU profile does not hold up the other entries.  Nothing here runs on an event
 * loop.  The running scenario the snapshots carry is read from the od_scenario_state_t given to
 * od_schedule_start (borrowed, thread-safe).
 *
 * Failures never stop the schedule: a failing `when`, a capture that fails, a full disk or an
 * unwritable directory is logged with the entry's "schedule.lua:LINE" and the rest goes on.
 */
#ifndef OD_SCHEDULE_H
#define OD_SCHEDULE_H

#include "config.h"
#include "pool/pool.h"
#include "schedule/scenario_state.h"
#include "pool/stats.h"
#include "base/util.h"

#define OD_SCHEDULE_JOBS 16             /* captures in flight at once */
#define OD_SCHEDULE_SECONDS_DEFAULT 10  /* window of cpu and trace when `seconds` is absent */
#define OD_SCHEDULE_COOLDOWN_DEFAULT 60 /* seconds between two firings of a `when` entry */

/**
 * validates the schedule script at `path` ("" or NULL = none): syntax, a list of entries,
 * known keys and kinds, durations, `when` a function, required fields, `seconds` within
 * 1..max_seconds
 * @return 0 if valid, -1 if not, with one "FILE:LINE: message\n" per problem appended to errors
 */
int od_schedule_check(const char *path, int max_seconds, od_buf_t *errors);

typedef struct od_schedule od_schedule_t;

/**
 * starts the scheduler thread for cfg->profiling (the schedule, output_dir, keep); it reads
 * the pool's and the stats' snapshots and the running scenario (all borrowed: they must
 * outlive od_schedule_stop).
 * Call with the config checked (od_schedule_check); the signals main takes (SIGTERM, SIGINT,
 * SIGHUP, SIGUSR2, SIGQUIT) stay blocked on its threads.  A reload stops it and starts another.
 * @return the scheduler, or NULL when there is nothing to run (profiling disabled, no
 *         schedule) or it cannot start (logged)
 */
od_schedule_t *od_schedule_start(const od_config_t *cfg, od_pool_t *pool, od_stats_t *stats,
                                 od_scenario_state_t *scenarios);
/** ends the captures in flight early (what they gathered is still written), joins every
 *  thread and frees s; NULL is fine */
void od_schedule_stop(od_schedule_t *s);

#endif
