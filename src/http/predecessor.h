/*
 * predecessor — GET /orders/{id} for the orders of the process this one took over from
 * (handover.h).  That process finishes its queue after the hand-over, then writes every order
 * it still holds (queued ones it did not finish cannot be among them: it drains first) to the
 * file named in OD_PREDECESSOR_ENV, as lines "ID<TAB>JSON", and renames it into place; this
 * process loads the file once it appears and answers those ids from it, as they were when the
 * old process finished them.  A lookup that misses while the file is still awaited waits for
 * it (on a job thread, jobs.h; at most OD_PREDECESSOR_WAIT_S), so that an order accepted
 * before the hand-over is never answered 404 meanwhile.
 *
 * The table only grows (the store's results_kept does not bound it: it holds at most the old
 * store's count).  Client-chosen ids are not checked against it: a POST with an id the old
 * process had is accepted here as a new order, which lookups then return.
 *
 * Threading: od_predecessor_start on main's thread before the loops run; the loader is a
 * thread of its own ("handover-in"); the lookups from any loop or job thread.  One mutex,
 * "predecessor", guards the table.
 */
#ifndef OD_PREDECESSOR_H
#define OD_PREDECESSOR_H

#include "http/request.h"

#define OD_PREDECESSOR_ENV "ORDERD_HANDOVER_RESULTS"
#define OD_PREDECESSOR_WAIT_S 30 /* a lookup waits this long for the old process's orders */

/** when OD_PREDECESSOR_ENV names a file: starts the thread that loads it once it appears */
void od_predecessor_start(void);

/**
 * appends the JSON of the old process's order `id` to out
 * @return 0 if found, -1 if unknown, 1 if the old process's orders have not arrived yet
 */
int od_predecessor_json(const char *id, od_buf_t *out);

/**
 * answers GET /orders/{id} for `id` once the old process's orders arrived (or the wait ended)
 * @return 0 if the answer is deferred, -1 if not (the caller answers)
 */
int od_predecessor_defer(od_req_t *r, const char *id);

#endif
