/*
 * router — the route table and the dispatch of every request to its handler by path and
 * method.  404 (no route), 405 (with Allow), the profiling listener's separation and the
 * profiling token's 401 are answered here, before any handler runs.
 *
 * Threading: routes are added on the main thread before the server starts (od_route_add,
 * od_router_attach); the table is read-only afterwards and read by every loop thread.
 */
#ifndef OD_ROUTER_H
#define OD_ROUTER_H

#include "http/request.h"
#include "pool/stats.h"

enum { OD_GET = 1, OD_POST = 2, OD_HEAD = 4, OD_DELETE = 8, OD_PUT = 16 };
#define OD_ROUTE_PREFIX 1    /* path matches as a prefix */
#define OD_ROUTE_PROFILING 2 /* a profiling path: on the profiling listener, behind the token */

typedef int (*od_handler_fn)(od_req_t *r);
/**
 * adds a route (before od_server_start); `path` is static.  Exact routes win over prefixes;
 * among prefixes the longest wins.
 */
void od_route_add(const char *path, unsigned methods, int flags, od_route_id_t stat, od_handler_fn fn);
/** @return the index of the route that serves `path` (exact first, then longest prefix), or -1 */
int od_route_match(const char *path, size_t len);
/**
 * installs the router as the handler of `pathconf`; requests arriving on the local port
 * `profiling_port` (0: none) are served only the profiling routes.  srv is borrowed and must
 * outlive the server.
 */
void od_router_attach(h2o_pathconf_t *pathconf, od_server_t *srv, int profiling_port);

#endif
