/*
 * http — see http.h.
 */
#include "load/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* chunked body sub-states */
enum { CH_SIZE, CH_SIZE_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LINE };

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

void od_resp_each_header(const char *head, size_t head_len,
                         void (*fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen),
                         void *arg)
{
    const char *end = head + head_len;
    const char *p = memchr(head, '\n', head_len); /* skip the status line */
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) break;
        size_t llen = (size_t)(eol - line);
        if (llen > 0 && line[llen - 1] == '\r') llen--;
        if (llen == 0) break;
        const char *colon = memchr(line, ':', llen);
        if (colon) {
            const char *v = colon + 1, *ve = line + llen;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            fn(arg, line, (size_t)(colon - line), v, (size_t)(ve - v));
        }
        p = eol;
    }
}

typedef struct head_info {
    int chunked, has_len, close, bad;
    uint64_t len;
} head_info_t;

static void on_head_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    head_info_t *h = arg;
    if (header_is(name, nlen, "content-length")) {
        uint64_t v = 0;
        if (vlen == 0 || vlen > 18) h->bad = 1;
        for (size_t i = 0; i < vlen; i++) {
            if (!isdigit((unsigned char)value[i])) {
                h->bad = 1;
                break;
            }
            v = v * 10 + (uint64_t)(value[i] - '0');
        }
        h->has_len = 1;
        h->len = v;
    } else if (header_is(name, nlen, "transfer-encoding")) {
        if (value_has(value, vlen, "chunked")) h->chunked = 1;
    } else if (header_is(name, nlen, "connection")) {
        if (value_has(value, vlen, "close")) h->close = 1;
    }
}

/* Parses a complete head of len bytes (ending with the blank line). */
static int parse_head(od_resp_t *r, const char *buf, size_t len)
{
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)buf[9]) ||
        !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]) || buf[8] != ' ')
        return -1;
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (r->status < 100) return -1;
    head_info_t h = {0};
    od_resp_each_header(buf, len, on_head_header, &h);
    if (h.bad) return -1;
    r->keep_alive = buf[7] == '1' && !h.close;
    r->head = buf;
    r->head_len = len;
    if (r->no_body || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) {
        r->state = OD_RESP_DONE;
    } else if (h.chunked) {
        r->state = OD_RESP_BODY_CHUNKED;
        r->chunk_state = CH_SIZE;
        r->remaining = 0;
    } else if (h.has_len) {
        r->remaining = h.len;
        r->state = h.len ? OD_RESP_BODY_LEN : OD_RESP_DONE;
    } else {
        r->state = OD_RESP_BODY_EOF;
        r->keep_alive = 0;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Feeds chunked body bytes; returns bytes consumed or -1. */
static ssize_t feed_chunked(od_resp_t *r, const char *buf, size_t len, od_buf_t *body)
{
    size_t i = 0;
    while (i < len && r->state == OD_RESP_BODY_CHUNKED) {
        char c = buf[i];
        switch (r->chunk_state) {
        case CH_SIZE: {
            int h = hexval((unsigned char)c);
            if (h >= 0) {
                if (r->remaining >> 56) return -1;
                r->remaining = r->remaining * 16 + (uint64_t)h;
            } else if (c == ';' || c == ' ' || c == '\t') {
                r->chunk_state = CH_SIZE_EXT;
            } else if (c == '\r') {
                r->chunk_state = CH_SIZE_LF;
            } else if (c == '\n') {
                r->chunk_state = r->remaining ? CH_DATA : CH_TRAILER;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CH_SIZE_EXT:
            if (c == '\n') r->chunk_state = r->remaining ? CH_DATA : CH_TRAILER;
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n') return -1;
            r->chunk_state = r->remaining ? CH_DATA : CH_TRAILER;
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > r->remaining) n = (size_t)r->remaining;
            if (body) od_buf_append(body, buf + i, n);
            r->remaining -= n;
            i += n;
            if (r->remaining == 0) r->chunk_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c == '\r')
                r->chunk_state = CH_DATA_LF;
            else if (c == '\n')
                r->chunk_state = CH_SIZE;
            else
                return -1;
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n') return -1;
            r->chunk_state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER: /* at the start of a trailer line: an empty one ends the body */
            if (c == '\r') {
                i++;
            } else if (c == '\n') {
                r->state = OD_RESP_DONE;
                i++;
            } else {
                r->chunk_state = CH_TRAILER_LINE;
            }
            break;
        case CH_TRAILER_LINE:
            if (c == '\n') r->chunk_state = CH_TRAILER;
            i++;
            break;
        }
    }
    return (ssize_t)i;
}

ssize_t od_resp_feed(od_resp_t *r, const char *buf, size_t len, od_buf_t *body)
{
    size_t used = 0;
    if (r->state == OD_RESP_HEAD) {
        /* find the blank line ending the head; resume where the last search stopped */
        size_t from = r->head_scanned > 3 ? r->head_scanned - 3 : 0;
        const char *end = NULL;
        for (size_t i = from; i + 1 < len; i++) {
            if (buf[i] == '\n' &&
                (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))) {
                end = buf + i + (buf[i + 1] == '\n' ? 2 : 3);
                break;
            }
        }
        if (end == NULL) {
            r->head_scanned = len;
            if (len > 65536) return -1; /* a head this large is not an answer we expect */
            return 0;
        }
        used = (size_t)(end - buf);
        if (parse_head(r, buf, used) != 0) return -1;
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
