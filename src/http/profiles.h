/*
 * profiles — GET /profiles (the manifest of the scheduled captures as a JSON list) and
 * GET /profiles/{name} (one capture, downloaded).  The list runs on the event loop (the
 * manifest is small); downloads are deferred jobs.  Both read profiling.output_dir through
 * capture_store.h and take no lock.
 */
#ifndef OD_HTTP_PROFILES_H
#define OD_HTTP_PROFILES_H

/** registers GET /profiles and GET /profiles/{name} (OD_ROUTE_PROFILING); before od_server_start */
void od_profiles_register(void);

#endif
