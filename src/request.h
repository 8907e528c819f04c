/*
 * request — what a handler reads of a request (path, query parameters) and how it answers:
 * od_respond and its JSON and error forms, response headers.
 *
 * Memory: everything an answer needs is allocated from the request's h2o memory pool
 * (req->pool), which h2o releases when the response has been sent; a handler frees nothing
 * it did not allocate itself.
 *
 * Threading: an od_req_t lives on its loop's thread for the duration of the handler call
 * only; a handler that needs longer defers a job (jobs.h).
 */
#ifndef OD_REQUEST_H
#define OD_REQUEST_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "util.h"

typedef struct od_server od_server_t;

typedef struct od_req {
    h2o_req_t *h;
    od_server_t *srv;
    const char *path; /* without the query; not NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', or NULL; not NUL-terminated */
    size_t query_len;
    int route; /* od_route_id_t, for the request counters */
} od_req_t;

/**
 * copies the URL-decoded value of query parameter `name` into out (NUL-terminated)
 * @return 1 if present, 0 if absent, -1 if longer than outsz-1 or badly encoded
 */
int od_query_get(const od_req_t *r, const char *name, char *out, size_t outsz);
/** od_query_get on a raw query string (without the '?') */
int od_query_lookup(const char *query, size_t len, const char *name, char *out, size_t outsz);
/** @return 1 if the path equals s */
int od_path_is(const od_req_t *r, const char *s);
/** adds a response header (name and value are copied) before od_respond */
void od_add_header(od_req_t *r, const char *name, const char *value);
/** sends a complete response (body copied); returns 0 for handler convenience */
int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len);
/** sends `json` (a JSON document) and disposes of the buffer */
int od_respond_json(od_req_t *r, int status, od_buf_t *json);
/** sends {"error": message, "field": field} (field omitted when NULL or "") */
int od_respond_error(od_req_t *r, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
