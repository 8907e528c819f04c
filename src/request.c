#include "request.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "server.h"

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

int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len)
{
    h2o_req_t *req = r->h;
    req->res.status = status;
    req->res.reason = reason(status);
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    req->res.content_length = len;
    od_stats_http(r->srv->stats, (od_route_id_t)r->route, status);
    h2o_send_inline(req, body, len);
    return 0;
}

int od_respond_json(od_req_t *r, int status, od_buf_t *json)
{
    od_buf_putc(json, '\n');
    od_respond(r, status, "application/json", json->base, json->len);
    od_buf_dispose(json);
    return 0;
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
