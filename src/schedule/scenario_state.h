/*
 * scenario_state — which scenarios are running, as orderload announces them (POST
 * /scenarios/{name}/start and /end, http/routes.c): GET /scenarios lists them and the profiling
 * schedule's snapshots carry the current one (s.scenario in a `when` function, schedule.c).
 *
 * Invariants: at most OD_SCENARIO_RUNNING_MAX names are held, in slots; a name is in at most
 * one slot.  Starting a name already running changes nothing; starting one more when every
 * slot is taken forgets the oldest slot's name (the others move down one).  Ending a name that
 * is not running changes nothing.  The current scenario is the latest started of those still
 * running (start a, start b, end a, start c: c; end c: b).
 *
 * Threads: every function may be called from any thread; the "scenarios" lock (a mutex held
 * only to copy a few names) guards the slots.  main creates the object before the threads
 * start and destroys it after they end; the server (od_server_t.scenario_state) and the
 * schedule borrow it.
 */
#ifndef OD_SCENARIO_STATE_H
#define OD_SCENARIO_STATE_H

#include <stddef.h>

#define OD_SCENARIO_RUNNING_MAX 8 /* names held at once */
#define OD_SCENARIO_NAME_MAX 64   /* bytes in a name, as od_order_id_valid allows */

typedef struct od_scenario_state od_scenario_state_t;

/** @return a new state with nothing running; release it with od_scenario_state_destroy */
od_scenario_state_t *od_scenario_state_create(void);
/** frees st; NULL is fine */
void od_scenario_state_destroy(od_scenario_state_t *st);

/** marks name as running (copied; truncated to OD_SCENARIO_NAME_MAX bytes) */
void od_scenario_state_start(od_scenario_state_t *st, const char *name);
/** marks name as no longer running */
void od_scenario_state_end(od_scenario_state_t *st, const char *name);

/** copies the current scenario into out (NUL-terminated, truncated to outsz-1; "" if none) */
void od_scenario_state_current(od_scenario_state_t *st, char *out, size_t outsz);
/**
 * copies the running names into names[0..], in slot order
 * @return how many were copied (at most max)
 */
size_t od_scenario_state_running(od_scenario_state_t *st, char (*names)[OD_SCENARIO_NAME_MAX + 1],
                                 size_t max);

#endif
