/*
 * http — see http.h.
 */
#include "load/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <h2o/version.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int od_url_parse(const char *url, od_url_t *u, od_buf_t *err)
{
    memset(u, 0, sizeof(*u));
    if (strncasecmp(url, "http://", 7) != 0) {
        od_buf_printf(err, "%s: only http:// URLs are supported", url);
        return -1;
    }
    const char *p = url + 7, *host_end, *port_s = NULL;
    const char *slash = strchr(p, '/');
    const char *auth_end = slash ? slash : p + strlen(p);
    if (*p == '[') { /* [v6]:port */
        host_end = memchr(p, ']', (size_t)(auth_end - p));
        if (host_end == NULL) goto bad;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(host_end - p - 1), p + 1);
        if (host_end[1] == ':') port_s = host_end + 2;
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        host_end = colon ? colon : auth_end;
        if (host_end - p <= 0 || host_end - p >= (long)sizeof(u->host)) goto bad;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(host_end - p), p);
        if (colon) port_s = colon + 1;
    }
    u->port = 80;
    if (port_s) {
        char *e;
        long port = strtol(port_s, &e, 10);
        if (e != auth_end || port < 1 || port > 65535) goto bad;
        u->port = (unsigned short)port;
    }
    snprintf(u->hostport, sizeof(u->hostport), "%.*s", (int)(auth_end - p), p);
    if (strlen(slash ? slash : "/") >= sizeof(u->path)) goto bad;
    snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
    if (u->host[0] == '\0') goto bad;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port_str[8];
    snprintf(port_str, sizeof(port_str), "%u", u->port);
    int rc = getaddrinfo(u->host, port_str, &hints, &res);
    if (rc != 0) {
        od_buf_printf(err, "%s: cannot resolve %s: %s", url, u->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    od_buf_printf(err, "%s: not a valid http://host[:port][/path] URL", url);
    return -1;
}

/* ---- response parser ---------------------------------------------------------------------- */

/* picohttpparser as libh2o-evloop exports it; its header is not installed.  These are the
 * prototypes and the chunked decoder's layout of the copy inside h2o 2.2.5 (the decoder
 * reads and writes offsets 0, 8, 9 and 10: a size_t and three chars).  Checked at build
 * time against h2o's version. */
#if !(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2)
#error "src/load/http.c declares picohttpparser as h2o 2.2 ships it: check its ABI for this h2o"
#endif
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg,
                       size_t *msg_len, struct phr_header *headers, size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#define MAX_HEADERS 128
#define MAX_HEAD 65536 /* a head this large is not an answer we expect */

void od_resp_reset(od_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->state = OD_RESP_HEAD;
}

static int header_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* Finds value token `tok` in a comma-separated header value, case-insensitively. */
static int value_has(const char *v, size_t vlen, const char *tok)
{
    size_t tlen = strlen(tok);
    for (size_t i = 0; i + tlen <= vlen; i++)
        if (strncasecmp(v + i, tok, tlen) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
            (i + tlen == vlen || v[i + tlen] == ' ' || v[i + tlen] == ',' || v[i + tlen] == ';'))
            return 1;
    return 0;
}

/* Parses the head at buf into h (n entries at most, updated), values without the trailing
 * blanks this version of the parser leaves.  Returns phr_parse_response's answer: the head's
 * length, -2 when incomplete, -1 when malformed. */
static int parse_response(const char *buf, size_t len, size_t last_len, int *minor, int *status,
                          struct phr_header *h, size_t *n)
{
    const char *msg;
    size_t msg_len;
    int rc = phr_parse_response(buf, len, minor, status, &msg, &msg_len, h, n, last_len);
    for (size_t i = 0; rc > 0 && i < *n; i++)
        while (h[i].value_len > 0 &&
               (h[i].value[h[i].value_len - 1] == ' ' || h[i].value[h[i].value_len - 1] == '\t'))
            h[i].value_len--;
    return rc;
}

void od_resp_each_header(const char *head, size_t head_len,
                         void (*fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen),
                         void *arg)
{
    int minor, status;
    size_t n = MAX_HEADERS;
    struct phr_header h[MAX_HEADERS];
    if (parse_response(head, head_len, 0, &minor, &status, h, &n) <= 0) return;
    for (size_t i = 0; i < n; i++)
        if (h[i].name != NULL) fn(arg, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
}

/* Reads the framing headers of a parsed head.  Returns 0, or -1 when one is malformed. */
static int framing(const struct phr_header *h, size_t n, int *chunked, int *has_len, uint64_t *len,
                   int *close)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].name == NULL) continue; /* a continuation line */
        const char *v = h[i].value;
        size_t vlen = h[i].value_len;
        if (header_is(h[i].name, h[i].name_len, "content-length")) {
            if (vlen == 0 || vlen > 18) return -1;
            uint64_t x = 0;
            for (size_t j = 0; j < vlen; j++) {
                if (!isdigit((unsigned char)v[j])) return -1;
                x = x * 10 + (uint64_t)(v[j] - '0');
            }
            *has_len = 1;
            *len = x;
        } else if (header_is(h[i].name, h[i].name_len, "transfer-encoding")) {
            if (value_has(v, vlen, "chunked")) *chunked = 1;
        } else if (header_is(h[i].name, h[i].name_len, "connection")) {
            if (value_has(v, vlen, "close")) *close = 1;
        }
    }
    return 0;
}

/* Parses the head at buf.  Returns its length, 0 when it is not complete yet, or -1. */
static ssize_t parse_head(od_resp_t *r, const char *buf, size_t len)
{
    int minor, status;
    size_t n = MAX_HEADERS;
    struct phr_header h[MAX_HEADERS];
    int used = parse_response(buf, len, r->head_scanned, &minor, &status, h, &n);
    if (used == -2) { /* incomplete */
        r->head_scanned = len;
        return len > MAX_HEAD ? -1 : 0;
    }
    if (used < 0 || status < 100) return -1;
    int chunked = 0, has_len = 0, close = 0;
    uint64_t blen = 0;
    if (framing(h, n, &chunked, &has_len, &blen, &close) != 0) return -1;
    r->status = status;
    r->keep_alive = minor >= 1 && !close;
    r->head = buf;
    r->head_len = (size_t)used;
    if (r->no_body || status == 204 || status == 304 || status < 200) {
        r->state = OD_RESP_DONE;
    } else if (chunked) {
        r->state = OD_RESP_BODY_CHUNKED;
        memset(&r->chunked, 0, sizeof(r->chunked));
        r->chunked.consume_trailer = 1;
    } else if (has_len) {
        r->remaining = blen;
        r->state = blen ? OD_RESP_BODY_LEN : OD_RESP_DONE;
    } else {
        r->state = OD_RESP_BODY_EOF;
        r->keep_alive = 0;
    }
    return used;
}

/* Decodes chunked body bytes in place; returns the bytes consumed or -1. */
static ssize_t feed_chunked(od_resp_t *r, char *buf, size_t len, od_buf_t *body)
{
    size_t decoded = len;
    ssize_t rc = phr_decode_chunked(&r->chunked, buf, &decoded);
    if (rc == -1) return -1;
    if (body) od_buf_append(body, buf, decoded);
    if (rc == -2) return (ssize_t)len; /* all consumed; more to come */
    r->state = OD_RESP_DONE;
    /* what follows the body (rc bytes, moved up to buf + decoded) goes back to the end, where
     * the caller keeps what was not consumed */
    memmove(buf + len - (size_t)rc, buf + decoded, (size_t)rc);
    return (ssize_t)(len - (size_t)rc);
}

ssize_t od_resp_feed(od_resp_t *r, char *buf, size_t len, od_buf_t *body)
{
    size_t used = 0;
    if (r->state == OD_RESP_HEAD) {
        ssize_t n = parse_head(r, buf, len);
        if (n <= 0) return n;
        used = (size_t)n;
        if (r->state == OD_RESP_DONE && r->status >= 100 && r->status < 200 && r->status != 101) {
            /* an interim answer (100 Continue): the real one follows */
            od_resp_reset(r);
            ssize_t more = od_resp_feed(r, buf + used, len - used, body);
            return more < 0 ? -1 : (ssize_t)used + more;
        }
    }
    if (r->state == OD_RESP_BODY_LEN) {
        size_t n = len - used;
        if (n > r->remaining) n = (size_t)r->remaining;
        if (body) od_buf_append(body, buf + used, n);
        r->remaining -= n;
        used += n;
        if (r->remaining == 0) r->state = OD_RESP_DONE;
    } else if (r->state == OD_RESP_BODY_CHUNKED) {
        ssize_t n = feed_chunked(r, buf + used, len - used, body);
        if (n < 0) return -1;
        used += (size_t)n;
    } else if (r->state == OD_RESP_BODY_EOF) {
        if (body) od_buf_append(body, buf + used, len - used);
        used = len;
    }
    return (ssize_t)used;
}

int od_resp_eof(od_resp_t *r)
{
    if (r->state == OD_RESP_BODY_EOF) {
        r->state = OD_RESP_DONE;
        return 0;
    }
    return r->state == OD_RESP_DONE ? 0 : -1;
}

/* ---- blocking client ---------------------------------------------------------------------- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = od_now_ns();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return -1;
    }
}

int od_http_connect(const od_url_t *u, uint64_t timeout_ns)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    uint64_t deadline = od_now_ns() + timeout_ns;
    if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) != 0) {
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) != 0) goto fail;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int od_http_request(const od_url_t *u, const char *method, const char *path, const char *content_type,
                    const char *body, size_t body_len, uint64_t timeout_ns, od_buf_t *resp_body,
                    od_buf_t *err)
{
    uint64_t deadline = od_now_ns() + timeout_ns;
    int fd = od_http_connect(u, timeout_ns);
    if (fd < 0) {
        od_buf_printf(err, "cannot connect to %s: %s", u->hostport, strerror(errno));
        return -1;
    }
    od_buf_t req = OD_BUF_INIT, in = OD_BUF_INIT;
    od_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: orderload\r\n",
                  method, path, u->hostport);
    if (content_type) od_buf_printf(&req, "Content-Type: %s\r\n", content_type);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        od_buf_printf(&req, "Content-Length: %zu\r\n", body_len);
    od_buf_puts(&req, "\r\n");
    if (body) od_buf_append(&req, body, body_len);
    int status = -1;
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = write(fd, req.base + off, req.len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLOUT, deadline) != 0) goto io_error;
        } else if (n < 0 && errno != EINTR) {
            goto io_error;
        }
    }
    od_resp_t r;
    od_resp_reset(&r);
    if (strcmp(method, "HEAD") == 0) r.no_body = 1;
    size_t start = 0;
    for (;;) {
        od_buf_reserve(&in, 16384);
        ssize_t n = read(fd, in.base + in.len, in.cap - in.len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (wait_fd(fd, POLLIN, deadline) != 0) goto io_error;
            continue;
        }
        if (n < 0) goto io_error;
        if (n == 0) {
            if (od_resp_eof(&r) != 0) {
                od_buf_printf(err, "%s %s: the connection closed before the answer was complete", method,
                              path);
                goto out;
            }
            status = r.status;
            goto out;
        }
        in.len += (size_t)n;
        in.base[in.len] = '\0';
        ssize_t used = od_resp_feed(&r, in.base + start, in.len - start, resp_body);
        if (used < 0) {
            od_buf_printf(err, "%s %s: malformed answer", method, path);
            goto out;
        }
        start += (size_t)used;
        if (r.state == OD_RESP_DONE) {
            status = r.status;
            goto out;
        }
    }
io_error:
    od_buf_printf(err, "%s %s: %s", method, path, errno == ETIMEDOUT ? "timed out" : strerror(errno));
out:
    close(fd);
    od_buf_dispose(&req);
    od_buf_dispose(&in);
    return status;
}
