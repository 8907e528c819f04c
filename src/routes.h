/*
 * routes — the order API: POST /orders, GET /orders/{id}, GET /stats, GET /health,
 * GET /metrics, and the scenario announcements (GET /scenarios, POST /scenarios/{name}/start
 * and /end).  Every handler runs on an event-loop thread and never blocks.
 */
#ifndef OD_ROUTES_H
#define OD_ROUTES_H

/** registers the order API's routes with the server's router */
void od_routes_register(void);
/** the scenario an orderload run announced as running, copied into out ("" if none);
 *  thread-safe (the profiling schedule reads it) */
void od_routes_current_scenario(char *out, size_t outsz);

#endif
