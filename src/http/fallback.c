#include "http/fallback.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "http/counters.h"
#include "http/server.h"

typedef struct filter {
    h2o_filter_t super;
    od_server_t *srv;
} filter_t;

typedef struct swap {
    h2o_ostream_t super;
    size_t max_body;
    int done;
} swap_t;

/* h2o's message (an ASCII literal), as a JSON string's contents */
static size_t json_text(char *out, size_t outsz, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') out[k++] = '\\';
        out[k++] = c < 0x20 ? ' ' : (char)c;
    }
    return k;
}

/* h2o's whole text body comes in its one inline chunk: ours goes in its place (the headers
 * are not written yet, so the length can still change) */
static void swap_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                      h2o_send_state_t state)
{
    swap_t *s = (swap_t *)self;
    if (s->done) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    s->done = 1;
    char msg[256];
    size_t n = 0;
    if (req->res.status == 413) {
        n = (size_t)snprintf(msg, sizeof(msg),
                             "the request body is larger than http.max_body_bytes (%zu bytes)", s->max_body);
    } else { /* h2o's own words: "broken chunked-encoding", "unknown expectation"... */
        for (size_t i = 0; i < bufcnt; i++)
            n += json_text(msg + n, sizeof(msg) - n, bufs[i].base, bufs[i].len);
        if (n == 0) n = json_text(msg, sizeof(msg), req->res.reason, strlen(req->res.reason));
    }
    h2o_iovec_t body;
    body.base = h2o_mem_alloc_pool(&req->pool, n + 16);
    body.len = (size_t)sprintf(body.base, "{\"error\":\"%.*s\"}\n", (int)n, msg);
    req->res.content_length = body.len;
    h2o_ostream_send_next(self, req, &body, 1, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    filter_t *f = (filter_t *)self;
    int status = req->res.status;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    int method = od_method_index(req->method.base, req->method.len);
    od_http_count(req->path.base ? od_route_label_of(req->path.base, plen) : od_route_label_other(), method,
                  status);
    if (status >= 400) {
        swap_t *s = (swap_t *)h2o_add_ostream(req, sizeof(*s), slot);
        s->super.do_send = swap_send;
        s->max_body = f->srv->cfg->http.max_body_bytes;
        s->done = 0;
        /* h2o's text/plain goes; the status and its closing of the connection stay */
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"),
                       1);
        slot = &s->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void od_fallback_attach(h2o_hostconf_t *hostconf, od_server_t *srv)
{
    filter_t *f = (filter_t *)h2o_create_filter(&hostconf->fallback_path, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->srv = srv;
}

/* --- the answer to a request h2o cannot parse ------------------------------------------------ */

#if !defined(H2O_VERSION_MAJOR) || H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error                                                                                                       \
    "h2o_socket_write's interposition is written against h2o 2.2's HTTP/1 layer (lib/http1.c send_bad_request)"
#endif

/* h2o 2.2's send_bad_request, byte for byte, and what orderd sends instead */
static const char h2o_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "Connection: close\r\n"
                                      "Content-Length: 11\r\n"
                                      "\r\n"
                                      "Bad Request";
#define JSON_BAD_REQUEST_BODY                                                                                \
    "{\"error\":\"the request is not valid HTTP/1.1 (its request line or headers)\"}\n"
static const char json_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                       "Content-Type: application/json\r\n"
                                       "Connection: close\r\n"
                                       "Content-Length: 76\r\n"
                                       "\r\n" JSON_BAD_REQUEST_BODY;
_Static_assert(sizeof(JSON_BAD_REQUEST_BODY) - 1 == 76, "Content-Length of the JSON 400");

typedef void (*socket_write_fn)(h2o_socket_t *, h2o_iovec_t *, size_t, h2o_socket_cb);

/*
 * libh2o calls h2o_socket_write through its PLT, so this definition in the executable is the
 * one every write reaches: it swaps h2o's fixed text 400 (a request line or headers it cannot
 * parse, or a head over H2O_MAX_REQLEN, answered before any request exists, so no filter sees
 * it) for orderd's JSON form, counts it, and passes every write on to libh2o's own.  Any other
 * write costs one comparison of its length.
 */
void h2o_socket_write(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb)
{
    static socket_write_fn next;
    socket_write_fn fn = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = (socket_write_fn)dlsym(RTLD_NEXT, "h2o_socket_write");
        OD_ASSERT(fn != NULL && fn != h2o_socket_write);
        __atomic_store_n(&next, fn, __ATOMIC_RELEASE);
    }
    h2o_iovec_t json;
    if (bufcnt == 1 && bufs[0].len == sizeof(h2o_bad_request) - 1 &&
        memcmp(bufs[0].base, h2o_bad_request, bufs[0].len) == 0) {
        json =
            h2o_iovec_init(json_bad_request, sizeof(json_bad_request) - 1); /* static: outlives the write */
        bufs = &json;
        od_http_count(od_route_label_other(), OD_METHOD_COUNT - 1, 400);
    }
    fn(sock, bufs, bufcnt, cb);
}
