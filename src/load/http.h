/*
 * http — the HTTP/1.1 client pieces orderload needs: target URL parsing, an incremental
 * response parser (Content-Length, chunked, or until close) that works on a caller's read
 * buffer without copying, and a small blocking client for one-off requests (scenario
 * announcements, profile captures, the reachability check).
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

#include "util.h"

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

typedef struct od_resp {
    int state;
    int status;
    int keep_alive;      /* 0 when the server said Connection: close (or HTTP/1.0) */
    uint64_t remaining;  /* body bytes still expected (length mode, or current chunk) */
    int chunk_state;     /* see http.c */
    size_t head_scanned; /* how far the head was searched for the blank line */
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
 * r->state == OD_RESP_DONE when the response is complete.
 * @return bytes consumed, or -1 when the response is malformed
 */
ssize_t od_resp_feed(od_resp_t *r, const char *buf, size_t len, od_buf_t *body);

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
