/*
 * report_json — see report_json.h.  Every object is built with jansson; figures go through
 * od_json_fixed so that each keeps the precision the document has always had.
 */
#include "load/report_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/report.h"

json_t *od_json_fixed(const char *fmt, double v)
{
    if (!isfinite(v)) return json_null();
    char text[64];
    snprintf(text, sizeof(text), fmt, v);
    return json_real(strtod(text, NULL));
}

/* Returns the length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80             ? 1
                 : (p[0] & 0xe0) == 0xc0 ? 2
                 : (p[0] & 0xf0) == 0xe0 ? 3
                 : (p[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    uint32_t cp = len == 1 ? p[0] : len == 2 ? p[0] & 0x1fu : len == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (p[i] & 0x3fu);
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0; /* overlong, surrogate */
    return len;
}

json_t *od_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL) return j;
    /* not UTF-8 (a file name, a server's answer): keep what is, mark what is not */
    od_buf_t b = OD_BUF_INIT;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            od_buf_puts(&b, "\xef\xbf\xbd"); /* U+FFFD */
            i++;
        } else {
            od_buf_append(&b, s + i, len);
            i += len;
        }
    }
    j = json_string(b.base ? b.base : "");
    od_buf_dispose(&b);
    OD_ASSERT(j != NULL);
    return j;
}

static json_t *json_hist(const od_hist_t *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "min", json_integer((json_int_t)(h->total ? h->min : 0)));
    json_object_set_new(o, "mean", od_json_fixed("%.1f", od_hist_mean(h)));
    json_object_set_new(o, "stdev", od_json_fixed("%.1f", od_hist_stdev(h)));
    json_object_set_new(o, "max", json_integer((json_int_t)h->max));
    for (size_t i = 0; i < OD_NPCT; i++)
        json_object_set_new(o, od_pct_names[i],
                            json_integer((json_int_t)od_hist_percentile(h, od_pct_values[i])));
    json_object_set_new(o, "count", json_integer((json_int_t)h->total));
    return o;
}

/* "timeline":[{"t_s":1,...},...]: one point per step up to the last one with any activity;
 * t_s is the end of the point's window, in seconds from the scenario's start */
static void json_timeline(json_t *o, const od_load_timeline_t *tl, int follow)
{
    size_t last = 0;
    for (size_t i = 0; i < tl->npoints; i++) {
        const od_tl_point_t *p = &tl->points[i];
        if (p->sent || p->completed || p->errors || p->finished) last = i + 1;
    }
    double step = (double)tl->step_ns / 1e9;
    json_object_set_new(o, "timeline_step_s", od_json_fixed("%g", step));
    json_t *a = json_array();
    for (size_t i = 0; i < last; i++) {
        const od_tl_point_t *p = &tl->points[i];
        json_t *pt = json_object();
        json_object_set_new(pt, "t_s", od_json_fixed("%g", step * (double)(i + 1)));
        json_object_set_new(pt, "sent", json_integer((json_int_t)p->sent));
        json_object_set_new(pt, "completed", json_integer((json_int_t)p->completed));
        json_object_set_new(pt, "errors", json_integer((json_int_t)p->errors));
        json_object_set_new(pt, "p50_us", json_integer((json_int_t)od_tl_percentile(p, 50)));
        json_object_set_new(pt, "p99_us", json_integer((json_int_t)od_tl_percentile(p, 99)));
        json_object_set_new(pt, "max_us", json_integer((json_int_t)p->max_us));
        if (follow)
            json_object_set_new(pt, "completion_p99_us",
                                json_integer((json_int_t)od_tl_completion_percentile(p, 99)));
        json_array_append_new(a, pt);
    }
    json_object_set_new(o, "timeline", a);
}

json_t *od_report_json(const od_load_result_t *r)
{
    const od_load_counts_t *c = &r->st.c;
    json_t *o = json_object();
    if (r->executor) json_object_set_new(o, "executor", json_string(r->executor));
    json_t *counts = json_object();
    json_object_set_new(counts, "scheduled", json_integer((json_int_t)c->scheduled));
    json_object_set_new(counts, "sent", json_integer((json_int_t)c->sent));
    json_object_set_new(counts, "completed", json_integer((json_int_t)c->completed));
    json_object_set_new(counts, "late", json_integer((json_int_t)c->late));
    json_object_set_new(counts, "dropped", json_integer((json_int_t)c->dropped));
    /* a field added within schema 1: arrivals that waited for a free connection */
    json_object_set_new(counts, "queued", json_integer((json_int_t)c->queued));
    json_object_set_new(o, "counts", counts);
    json_t *rate = json_object();
    json_object_set_new(rate, "target",
                        r->target_rate > 0 ? od_json_fixed("%.3f", r->target_rate) : json_null());
    json_object_set_new(rate, "achieved", od_json_fixed("%.3f", r->achieved_rate));
    json_object_set_new(o, "rate", rate);
    json_object_set_new(o, "duration_s", od_json_fixed("%.3f", r->duration_s));
    json_t *codes = json_object();
    for (size_t i = 0; i < OD_ARRAY_SIZE(c->status); i++)
        if (c->status[i]) {
            char key[16];
            snprintf(key, sizeof(key), "%zu", i);
            json_object_set_new(codes, i == 0 ? "other" : key, json_integer((json_int_t)c->status[i]));
        }
    json_object_set_new(o, "status_codes", codes);
    json_t *errors = json_object();
    for (int i = 0; i < OD_ERR_KINDS; i++)
        json_object_set_new(errors, od_err_names[i], json_integer((json_int_t)c->errors[i]));
    json_object_set_new(o, "errors", errors);
    json_object_set_new(o, "latency_us", json_hist(r->st.latency));
    json_object_set_new(o, "service_time_us", json_hist(r->st.service));
    json_object_set_new(o, "send_delay_us", json_hist(r->st.send_delay));
    /* a field added within schema 1: the wait for a free connection, before the send delay */
    json_object_set_new(o, "conn_wait_us", json_hist(r->st.conn_wait));
    if (r->follow) {
        json_object_set_new(o, "completion_us", json_hist(r->st.completion));
        json_t *fo = json_object();
        json_object_set_new(fo, "followed", json_integer((json_int_t)c->followed));
        json_object_set_new(fo, "done", json_integer((json_int_t)c->fdone));
        json_object_set_new(fo, "failed", json_integer((json_int_t)c->ffailed));
        json_object_set_new(fo, "lost", json_integer((json_int_t)c->flost));
        json_object_set_new(fo, "polls", json_integer((json_int_t)c->polls));
        json_object_set_new(o, "follow", fo);
    }
    if (r->st.timeline) json_timeline(o, r->st.timeline, r->follow);
    return o;
}

int od_json_write_file(const char *path, const json_t *doc)
{
    /* 15 digits: every figure has fewer (od_json_fixed), so each prints as it was rounded */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    OD_ASSERT(text != NULL); /* only strings jansson checked, numbers, arrays and objects */
    int rc = -1;
    FILE *f = fopen(path, "w");
    if (f) {
        size_t n = strlen(text);
        rc = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF ? 0 : -1;
        if (fclose(f) != 0) rc = -1;
    }
    if (rc != 0) fprintf(stderr, "orderload: cannot write %s: %s\n", path, strerror(errno));
    free(text);
    return rc;
}
