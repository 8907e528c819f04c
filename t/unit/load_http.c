/*
 * load/http — unit tests (TAP) of orderload's response parser and URL parsing.  Includes the
 * .c under test (h2o style): orderd's objects do not contain it.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/load/http.c"
#include "tap.h"

/* Feeds `text` in pieces of `step` bytes the way a connection does: unconsumed bytes stay
 * in the buffer.  Returns the number of bytes left over, or -1 on a parse error. */
static long feed_in_steps(od_resp_t *r, const char *text, size_t step, od_buf_t *body)
{
    char buf[8192];
    size_t have = 0, pos = 0, len = strlen(text);
    while (pos < len && r->state != OD_RESP_DONE) {
        size_t n = len - pos < step ? len - pos : step;
        memcpy(buf + have, text + pos, n);
        have += n;
        pos += n;
        ssize_t used = od_resp_feed(r, buf, have, body);
        if (used < 0) return -1;
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
    }
    return (long)(have + (len - pos));
}

static void collect(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    od_buf_printf(arg, "[%.*s=%.*s]", (int)nlen, name, (int)vlen, value);
}

int main(void)
{
    static const char *const cl = "HTTP/1.1 202 Accepted\r\nContent-Type: "
                                  "application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"a\"}\n";
    static const char *const chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, "
        "world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    size_t steps[] = {1, 2, 7, 64, 4096};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        od_resp_t r;
        od_buf_t body = OD_BUF_INIT;
        od_resp_reset(&r);
        long left = feed_in_steps(&r, cl, steps[i], &body);
        ok(left == 0 && r.state == OD_RESP_DONE && r.status == 202 && r.keep_alive && body.len == 11 &&
               memcmp(body.base, "{\"id\":\"a\"}\n", 11) == 0,
           "Content-Length answer fed %zu bytes at a time", steps[i]);
        od_buf_reset(&body);
        od_resp_reset(&r);
        left = feed_in_steps(&r, chunked, steps[i], &body);
        ok(left == 0 && r.state == OD_RESP_DONE && r.status == 200 && body.len == 12 &&
               memcmp(body.base, "hello, world", 12) == 0,
           "chunked answer with extension and trailer fed %zu bytes at a time", steps[i]);
        od_buf_dispose(&body);
    }
    {
        od_resp_t r;
        od_resp_reset(&r);
        const char *t =
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno";
        ok(feed_in_steps(&r, t, 3, NULL) == 0 && r.state == OD_RESP_DONE && r.status == 503 && !r.keep_alive,
           "Connection: close ends keep-alive");
        od_resp_reset(&r);
        t = "HTTP/1.0 200 OK\r\n\r\nuntil close";
        ok(feed_in_steps(&r, t, 5, NULL) == 0 && r.state == OD_RESP_BODY_EOF && od_resp_eof(&r) == 0 &&
               r.state == OD_RESP_DONE && !r.keep_alive,
           "a body without length ends at end of file");
        od_resp_reset(&r);
        t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
        ok(feed_in_steps(&r, t, 100, NULL) == 0 && od_resp_eof(&r) == -1,
           "a body cut short is an error at eof");
        od_resp_reset(&r);
        t = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        ok(feed_in_steps(&r, t, 100, NULL) == 0 && r.state == OD_RESP_DONE && r.status == 204,
           "an interim 100 Continue is skipped; 204 has no body");
        od_resp_reset(&r);
        r.no_body = 1;
        t = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        ok(feed_in_steps(&r, t, 100, NULL) == 0 && r.state == OD_RESP_DONE, "an answer to HEAD has no body");
        od_resp_reset(&r);
        ok(feed_in_steps(&r, "HTTX/1.1 200 OK\r\n\r\n", 100, NULL) == -1, "a bad status line is an error");
        od_resp_reset(&r);
        ok(feed_in_steps(&r, "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", 100, NULL) == -1,
           "a bad Content-Length is an error");
        od_resp_reset(&r);
        ok(feed_in_steps(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, NULL) == -1,
           "a bad chunk size is an error");
        od_resp_reset(&r);
        char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n";
        ssize_t used = od_resp_feed(&r, two, strlen(two), NULL);
        ok(r.state == OD_RESP_DONE &&
               used == (ssize_t)strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"),
           "the parser stops at the end of the answer");
        od_resp_reset(&r);
        od_buf_t body = OD_BUF_INIT;
        char ch2[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 "
                     "X\r\n\r\n";
        used = od_resp_feed(&r, ch2, strlen(ch2), &body);
        ok(r.state == OD_RESP_DONE && body.len == 3 && memcmp(body.base, "abc", 3) == 0 &&
               used == (ssize_t)(strlen(ch2) - strlen("HTTP/1.1 204 X\r\n\r\n")) &&
               strcmp(ch2 + used, "HTTP/1.1 204 X\r\n\r\n") == 0,
           "a chunked body ends where it ends: what follows stays, unconsumed, at the buffer's end");
        od_buf_dispose(&body);
        od_resp_reset(&r);
        ok(feed_in_steps(&r, "HTTP/1.1 200 OK\r\nContent-Length: 2 \r\n\r\nok", 4, NULL) == 0 &&
               r.state == OD_RESP_DONE,
           "a Content-Length with a trailing blank is read");
        od_resp_reset(&r);
        ok(feed_in_steps(&r, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 100, NULL) == 0 &&
               r.state == OD_RESP_DONE && !r.keep_alive,
           "HTTP/1.0 ends keep-alive");
    }
    {
        const char *head = "HTTP/1.1 200 OK\r\nA: 1\r\nB-Long:   two words  \r\n\r\n";
        od_buf_t seen = OD_BUF_INIT;
        od_resp_each_header(head, strlen(head), collect, &seen);
        ok(seen.base && strcmp(seen.base, "[A=1][B-Long=two words]") == 0,
           "headers are listed with values trimmed (%s)", seen.base ? seen.base : "");
        od_buf_dispose(&seen);
    }
    {
        od_url_t u;
        od_buf_t err = OD_BUF_INIT;
        ok(od_url_parse("http://127.0.0.1:8080", &u, &err) == 0 && u.port == 8080 &&
               strcmp(u.path, "/") == 0 && strcmp(u.hostport, "127.0.0.1:8080") == 0,
           "URL with port and no path");
        ok(od_url_parse("http://localhost/x?y=1", &u, &err) == 0 && u.port == 80 &&
               strcmp(u.path, "/x?y=1") == 0,
           "URL without port, with path and query");
        ok(od_url_parse("https://127.0.0.1/", &u, &err) == -1 && strstr(err.base, "only http://") != NULL,
           "https is refused with a clear message");
        od_buf_reset(&err);
        ok(od_url_parse("http://127.0.0.1:99999/", &u, &err) == -1, "a port out of range is refused");
        od_buf_dispose(&err);
    }
    return done_testing();
}
