/*
 * router — the route table and the dispatch of every request to its handler by path and
 * method.  404 (no route), 405 (with Allow), the profiling listener's separation and the
 * profiling token's 401 are answered here, before any handler runs.  HEAD is served wherever
 * GET is: the same handler, the same headers, no body (request.c drops it).
 *
 * Each route has a label for the request counters (http/metrics.h): its template, such as
 * "/orders/{id}" or "/debug/pprof/{profile}"; a path no route serves counts as "other".
 * Labels are small ints (od_req_t.route), so counting is an array index.
 *
 * Threading: routes are added on the main thread before the server starts (od_route_add,
 * od_router_attach); the table is read-only afterwards and read by every loop thread.
 */
#ifndef OD_ROUTER_H
#define OD_ROUTER_H

#include "http/counters.h"
#include "http/request.h"
#include "pool/stats.h"

enum { OD_GET = 1, OD_POST = 2, OD_HEAD = 4, OD_DELETE = 8, OD_PUT = 16 };
#define OD_ROUTE_PREFIX 1    /* path matches as a prefix */
#define OD_ROUTE_PROFILING 2 /* a profiling path: on the profiling listener, behind the token */

typedef int (*od_handler_fn)(od_req_t *r);
/**
 * adds a route (before od_server_start); `path` is static.  Exact routes win over prefixes;
 * among prefixes the longest wins.  GET implies HEAD.  `group` is the caller's name for the
 * route; the counters' label is the route's template.
 */
void od_route_add(const char *path, unsigned methods, int flags, od_route_id_t group, od_handler_fn fn);
/** @return the index of the route that serves `path` (exact first, then longest prefix), or -1 */
int od_route_match(const char *path, size_t len);
/**
 * installs the router as the handler of `pathconf`; requests arriving on the local port
 * `profiling_port` (0: none) are served only the profiling routes.  srv is borrowed and must
 * outlive the server.
 */
void od_router_attach(h2o_pathconf_t *pathconf, od_server_t *srv, int profiling_port);

/* --- labels, for the request counters ------------------------------------------------------ */

/* OD_ROUTE_LABELS_MAX (routes, at most 96, and "other") and OD_METHOD_COUNT: counters.h */
/** the number of route labels: one per route, then "other" (od_route_label_other) */
int od_route_labels(void);
int od_route_label_other(void);
/** the label's template ("/orders/{id}", "other") */
const char *od_route_label(int label);
/** the methods the label's route serves (OD_GET...; HEAD included with GET), 0 for "other" */
unsigned od_route_label_methods(int label);
/** the status its route answers when all is well (202 for POST /orders, 301 for a redirect) */
int od_route_label_ok(int label);
/** @return the label of the route serving `path` (without the query), or the "other" label */
int od_route_label_of(const char *path, size_t len);
/** the method's index (0..OD_METHOD_COUNT-1) and its name ("GET", ..., "other") */
int od_method_index(const char *method, size_t len);
const char *od_method_name(int index);
/** the OD_GET... bit of a method index (0 for PATCH, OPTIONS and other) */
unsigned od_method_bit(int index);

#endif
