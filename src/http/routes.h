/*
 * routes — the order API: POST /orders, GET /orders/{id}, GET /stats, GET /health,
 * GET /metrics (written by metrics.h), and the scenario announcements (GET /scenarios, POST
 * /scenarios/{name}/start and /end, kept in the server's od_scenario_state_t, scenario_state.h).  Every
 * handler runs on an event-loop thread and never blocks.
 */
#ifndef OD_ROUTES_H
#define OD_ROUTES_H

/** registers the order API's routes with the server's router */
void od_routes_register(void);

#endif
