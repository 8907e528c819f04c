/*
 * request — what a handler reads of a request (path, query parameters) and how it answers:
 * od_respond and its JSON and error forms, response headers.
 *
 * Memory: an answer lives in the request's h2o memory pool (req->pool), which h2o releases
 * when the response has been sent: build a body there with od_body_t and send it without a
 * copy (od_respond_body); a body already in an od_buf_t is handed over, not copied
 * (od_respond_buf, od_respond_json).  A handler frees nothing it did not allocate itself.
 *
 * Threading: an od_req_t lives on its loop's thread for the duration of the handler call
 * only; a handler that needs longer defers a job (jobs.h).
 */
#ifndef OD_REQUEST_H
#define OD_REQUEST_H

#include <stdarg.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "base/util.h"

typedef struct od_server od_server_t;

typedef struct od_req {
    h2o_req_t *h;
    od_server_t *srv;
    const char *path; /* without the query; not NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', or NULL; not NUL-terminated */
    size_t query_len;
    int route;  /* the route's label (router.h), for the request counters */
    int method; /* od_method_index (router.h), for the request counters */
} od_req_t;

/**
 * copies the URL-decoded value of query parameter `name` into out (NUL-terminated)
 * @return 1 if present, 0 if absent, -1 if longer than outsz-1 or badly encoded
 */
int od_query_get(const od_req_t *r, const char *name, char *out, size_t outsz);
/** od_query_get on a raw query string (without the '?') */
int od_query_lookup(const char *query, size_t len, const char *name, char *out, size_t outsz);
/** @return 1 if the request is a HEAD (answered as GET, the body dropped by od_respond...) */
static inline int od_req_is_head(const od_req_t *r)
{
    return h2o_memis(r->h->method.base, r->h->method.len, H2O_STRLIT("HEAD"));
}
/** @return 1 if the path equals s */
int od_path_is(const od_req_t *r, const char *s);
/** adds a response header (name and value are copied) before od_respond */
void od_add_header(od_req_t *r, const char *name, const char *value);
/** sends a complete response; the body is copied (for literals and stack buffers); returns 0 */
int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len);
/**
 * sends body's bytes without copying them: the request takes them (body is left empty) and
 * frees them when h2o is done; for bodies built by modules that write an od_buf_t, or off the
 * loop thread (jobs).  Returns 0.
 */
int od_respond_buf(od_req_t *r, int status, const char *content_type, od_buf_t *body);
/** sends `json` (a JSON document) and a newline, taking its bytes as od_respond_buf does */
int od_respond_json(od_req_t *r, int status, od_buf_t *json);
/**
 * answers a HEAD whose GET would send a body made only then (a capture): the status and
 * headers, without Content-Length (RFC 9110 lets a HEAD omit it), and no capture; returns 0
 */
int od_respond_head(od_req_t *r, int status, const char *content_type);
/** sends {"error": message, "field": field} (field omitted when NULL or "") */
int od_respond_error(od_req_t *r, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * od_body_t — a response body built in the request's memory pool (req->pool), so that
 * od_respond_body sends it as it is: no malloc, no copy, nothing to free.  Like od_buf_t, it
 * is NUL-terminated (base[len] == 0).  Growing past the size hint moves it to a bigger pool
 * allocation (the old one stays until the request ends), so give a hint that usually fits.
 * Only on the request's loop thread, and only until the response is sent.
 */
typedef struct od_body {
    char *base;
    size_t len, cap;
    h2o_mem_pool_t *pool; /* r->h->pool */
} od_body_t;

/** starts an empty body in r's pool with room for `hint` bytes */
void od_body_init(od_body_t *b, od_req_t *r, size_t hint);
/** makes room for n more bytes and returns where they go; the caller writes them and adds n to len */
char *od_body_reserve(od_body_t *b, size_t n);
void od_body_append(od_body_t *b, const void *p, size_t n);
void od_body_puts(od_body_t *b, const char *s);
void od_body_putc(od_body_t *b, char c);
void od_body_printf(od_body_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void od_body_vprintf(od_body_t *b, const char *fmt, va_list ap);
/** sends b as the whole response body (no copy); returns 0 */
int od_respond_body(od_req_t *r, int status, const char *content_type, od_body_t *b);
/** od_respond_body with "application/json", after appending a newline */
int od_respond_body_json(od_req_t *r, int status, od_body_t *b);

#endif
