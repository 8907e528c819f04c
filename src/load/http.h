/*
 * http — the HTTP/1.1 client pieces orderload needs: target URL parsing, an incremental
 * response parser (Content-Length, chunked, or until close) that works on a caller's read
 * buffer without copying, and a small blocking client for one-off requests (scenario
 * announcements, profile captures, the reachability check).
 *
 * The response parser's head and chunked decoding are picohttpparser's, which libh2o-evloop
 * exports (phr_parse_response, phr_decode_chunked; declared in http.c for h2o 2.2.5, whose
 * header is not installed); this module keeps only the framing (Content-Length, chunked,
 * until close, interim 1xx, HEAD) and the incremental feed.  Measured against the parser it
 * replaced, on the same machine: 70 ns instead of 140 ns per Content-Length answer from h2o,
 * 135 ns instead of 290 ns per chunked one (2M answers, CPU time); orderload's closed-model
 * throughput ÷ wrk's (scripts/bench/orderload.sh, 3 s × 5 rounds, a busy 2-core machine)
 * 1.34-1.80 before, 1.58-3.07 after, CPU per request 8.6-10.4 µs before, 9.5-10.1 µs after:
 * the parser is about 1 % of a request's cost, within the machine's noise either way.
 *
 * Only http:// and numeric or resolvable hosts; no TLS, no proxies, no redirects.
 * Ownership: od_url_t owns nothing after od_url_parse (fixed arrays); parser state is
 * plain values.  All functions are thread-safe for distinct objects.
 */
#ifndef OD_LOAD_HTTP_H
#define OD_LOAD_HTTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/util.h"

typedef struct od_url {
    char host[256];     /* without brackets */
    char hostport[300]; /* as sent in Host: */
    char path[1024];    /* "/" when the URL has none */
    unsigned short port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} od_url_t;

/**
 * parses "http://host[:port][/path]" and resolves host
 * @return 0 if successful, -1 if not (with a message appended to err)
 */
int od_url_parse(const char *url, od_url_t *u, od_buf_t *err);

/* ---- response parser ---------------------------------------------------------------------- */

enum { OD_RESP_HEAD, OD_RESP_BODY_LEN, OD_RESP_BODY_CHUNKED, OD_RESP_BODY_EOF, OD_RESP_DONE };

/* picohttpparser's chunked decoder state, as h2o 2.2.5 builds it (see http.c) */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

typedef struct od_resp {
    int state;
    int status;
    int keep_alive;     /* 0 when the server said Connection: close (or HTTP/1.0) */
    uint64_t remaining; /* body bytes still expected (length mode) */
    struct phr_chunked_decoder chunked;
    size_t head_scanned; /* how much of the head was already given to the parser */
    const char *head;    /* the head inside the caller's buffer, valid until it moves */
    size_t head_len;
    int no_body; /* set by the caller after od_resp_reset for a HEAD request */
} od_resp_t;

/** prepares for a new response */
void od_resp_reset(od_resp_t *r);

/**
 * feeds buffered bytes.  Consumes what it can and returns the number of bytes consumed (the
 * caller drops them from its buffer); the head is consumed only once complete, so keep
 * unconsumed bytes and feed them again with more.  Body bytes go to `body` when not NULL.
 * A chunked body is decoded in place: the consumed bytes of buf are overwritten.
 * r->state == OD_RESP_DONE when the response is complete.
 * @return bytes consumed, or -1 when the response is malformed
 */
ssize_t od_resp_feed(od_resp_t *r, char *buf, size_t len, od_buf_t *body);

/** the connection reached end of file: completes an until-close body
 *  @return 0 if the response is complete, -1 if it was cut short */
int od_resp_eof(od_resp_t *r);

/** calls fn for each header line of the head most recently parsed (names as sent) */
void od_resp_each_header(const char *head, size_t head_len,
                         void (*fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen),
                         void *arg);

/* ---- blocking client ---------------------------------------------------------------------- */

/**
 * opens a TCP connection to u within timeout_ns
 * @return the connected socket, or -1 with errno set
 */
int od_http_connect(const od_url_t *u, uint64_t timeout_ns);

/**
 * sends one request on a new connection (Connection: close) and reads the whole answer
 * within timeout_ns.  body may be NULL.  The answer's body is appended to resp_body when not NULL.
 * @return the status code, or -1 with a message appended to err
 */
int od_http_request(const od_url_t *u, const char *method, const char *path, const char *content_type,
                    const char *body, size_t body_len, uint64_t timeout_ns, od_buf_t *resp_body,
                    od_buf_t *err);

#endif
