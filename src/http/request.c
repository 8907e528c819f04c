#include "http/request.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/counters.h"
#include "http/server.h"

/* --- responses ------------------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "OK";
    }
}

void od_add_header(od_req_t *r, const char *name, const char *value)
{
    h2o_req_t *req = r->h;
    size_t nlen = strlen(name);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen);
    for (size_t i = 0; i < nlen; i++) /* h2o wants lower-case names to match its tokens */
        n[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, name, v.base, v.len);
}

/* Sends bytes that outlive the call (in req->pool, or owned by it) without copying them:
 * what h2o_send_inline does, minus its copy into the pool. */
static void send_body(od_req_t *r, int status, const char *content_type, char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL}; /* one final chunk: nothing to proceed or stop */
    h2o_req_t *req = r->h;
    req->res.status = status;
    req->res.reason = reason(status);
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    req->res.content_length = len; /* SIZE_MAX: none (od_respond_head) */
    od_http_count(r->route, r->method, status);
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len == SIZE_MAX ? 0 : len);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

int od_respond_head(od_req_t *r, int status, const char *content_type)
{
    OD_ASSERT(od_req_is_head(r)); /* a GET without a length would have to close to end */
    send_body(r, status, content_type, NULL, SIZE_MAX);
    return 0;
}

int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len)
{
    char *copy = h2o_mem_alloc_pool(&r->h->pool, len ? len : 1);
    if (len) memcpy(copy, body, len);
    send_body(r, status, content_type, copy, len);
    return 0;
}

static void free_owned(void *slot)
{
    free(*(char **)slot);
}

int od_respond_buf(od_req_t *r, int status, const char *content_type, od_buf_t *body)
{
    size_t len = 0;
    char *bytes = od_buf_detach(body, &len);
    char **slot = h2o_mem_alloc_shared(&r->h->pool, sizeof(*slot), free_owned); /* freed with the request */
    *slot = bytes;
    send_body(r, status, content_type, bytes, len);
    return 0;
}

int od_respond_json(od_req_t *r, int status, od_buf_t *json)
{
    od_buf_putc(json, '\n');
    return od_respond_buf(r, status, "application/json", json);
}

/* --- bodies built in the request's pool ------------------------------------------------------- */

void od_body_init(od_body_t *b, od_req_t *r, size_t hint)
{
    b->pool = &r->h->pool;
    b->cap = hint ? hint : 256;
    b->base = h2o_mem_alloc_pool(b->pool, b->cap);
    b->len = 0;
    b->base[0] = '\0';
}

/* h2o's pool cannot grow an allocation: a bigger one replaces it, and the old one is released
 * with the request (hence the size hint) */
char *od_body_reserve(od_body_t *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = h2o_mem_alloc_pool(b->pool, cap);
        memcpy(p, b->base, b->len + 1);
        b->base = p;
        b->cap = cap;
    }
    return b->base + b->len;
}

void od_body_append(od_body_t *b, const void *p, size_t n)
{
    memcpy(od_body_reserve(b, n), p, n);
    b->len += n;
    b->base[b->len] = '\0';
}

void od_body_puts(od_body_t *b, const char *s)
{
    od_body_append(b, s, strlen(s));
}

void od_body_putc(od_body_t *b, char c)
{
    od_body_append(b, &c, 1);
}

void od_body_vprintf(od_body_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(b->base + b->len, b->cap - b->len, fmt, ap);
    OD_ASSERT(n >= 0);
    if ((size_t)n >= b->cap - b->len) { /* did not fit: grow and format again */
        od_body_reserve(b, (size_t)n);
        vsnprintf(b->base + b->len, b->cap - b->len, fmt, again);
    }
    va_end(again);
    b->len += (size_t)n;
}

void od_body_printf(od_body_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    od_body_vprintf(b, fmt, ap);
    va_end(ap);
}

int od_respond_body(od_req_t *r, int status, const char *content_type, od_body_t *b)
{
    send_body(r, status, content_type, b->base, b->len);
    return 0;
}

int od_respond_body_json(od_req_t *r, int status, od_body_t *b)
{
    od_body_putc(b, '\n');
    return od_respond_body(r, status, "application/json", b);
}

int od_respond_error(od_req_t *r, int status, const char *field, const char *fmt, ...)
{
    od_buf_t msg = OD_BUF_INIT, json = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    od_buf_puts(&json, "{\"error\":");
    od_buf_json_str(&json, msg.base);
    if (field && field[0]) {
        od_buf_puts(&json, ",\"field\":");
        od_buf_json_str(&json, field);
    }
    od_buf_putc(&json, '}');
    od_buf_dispose(&msg);
    return od_respond_json(r, status, &json);
}

int od_path_is(const od_req_t *r, const char *s)
{
    size_t n = strlen(s);
    return r->path_len == n && memcmp(r->path, s, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int od_query_lookup(const char *q, size_t qlen, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + qlen;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
                char c = *v;
                if (c == '+')
                    c = ' ';
                else if (c == '%') {
                    if (pe - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0) return -1;
                    c = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                }
                if (c == '\0' || o + 1 >= outsz) return -1;
                out[o++] = c;
            }
            out[o] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

int od_query_get(const od_req_t *r, const char *name, char *out, size_t outsz)
{
    if (r->query == NULL) return 0;
    return od_query_lookup(r->query, r->query_len, name, out, outsz);
}
