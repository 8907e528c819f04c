/*
 * fallback — orderd's JSON error body on the answers h2o writes itself, before any handler
 * runs: 413 for a body over http.max_body_bytes (announced or chunked), 400 for a broken
 * Content-Length or chunked encoding, 417 for an unknown Expect.  h2o sends those through
 * h2o_send_error_generic with a text/plain body, bound to the host's fallback path (no
 * handler has seen the request); a filter there swaps the body for {"error": ...}, keeps the
 * status and h2o's closing of the connection, and counts the answer like any other.
 *
 * A request h2o cannot parse at all (a broken request line or a head over H2O_MAX_REQLEN) is
 * answered by h2o's HTTP/1 layer with fixed bytes written straight to the socket, which no
 * filter sees: orderd's own h2o_socket_write, which libh2o's calls reach first, swaps those
 * exact bytes for the JSON form (see fallback.c).
 *
 * Threading: attached on the main thread before the server starts; the filter runs on the
 * loop thread of the request.
 */
#ifndef OD_FALLBACK_H
#define OD_FALLBACK_H

#include "http/request.h"

/** installs the filter on `hostconf`'s fallback path; srv is borrowed and outlives the server */
void od_fallback_attach(h2o_hostconf_t *hostconf, od_server_t *srv);

#endif
