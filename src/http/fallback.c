#include "http/fallback.h"

#include <stdio.h>
#include <string.h>

#include "http/metrics.h"
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
