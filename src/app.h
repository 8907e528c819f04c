/*
 * app — what the orderd process holds while it runs: the config it runs with and the objects
 * main built from it.  main fills it before the threads start; the process-level handlers —
 * reload.h (SIGHUP), handover.h (SIGUSR2) and drain.h (SIGTERM/SIGINT, then SIGQUIT) — run
 * on main's thread, one at a time, from main's signal loop, and are the only code that
 * changes it afterwards.
 *
 * Ownership: the app owns cfg, sets, and the objects behind the pointers below it
 * (main releases them at exit); srv is main's, on its stack.
 */
#ifndef OD_APP_H
#define OD_APP_H

#include "config.h"

struct od_scenario_set;
struct od_server;
struct od_pool;
struct od_results;
struct od_stats;
struct od_scenario_state;
struct od_schedule;

typedef struct od_app {
    const char *config_path; /* what -c named (or the default), re-read on SIGHUP */
    int argc;
    char **argv; /* as orderd was started: a hand-over starts the same again */
    od_config_t *cfg;
    struct od_scenario_set **sets; /* cfg->nscenarios of them */
    struct od_server *srv;
    struct od_pool *pool;
    struct od_results *results;
    struct od_stats *stats;
    struct od_scenario_state *scenarios;
    struct od_schedule *sched; /* NULL: no schedule */
} od_app_t;

#endif
