/*
 * profiling — the profiling endpoints: /profile/KIND, Go's /debug/pprof/ and gperftools'
 * /pprof/PAGE (see profiling.h).  Handlers run on the event loop: they only check the request and
 * hand the work to a deferred job.
 */
#include "http/profiling.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prof/capture.h"
#include "prof/cpu.h"
#include "prof/heap.h"
#include "prof/lockprof.h"
#include "prof/render.h"
#include "prof/symbolize.h"
#include "prof/threads.h"
#include "prof/trace.h"
#include "http/server.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* the families differ in their error conventions and download names */
typedef enum family { FAM_PROFILE, FAM_GO, FAM_GPERF } family_t;

/* Where a request's parameters come from: its query and, for google-pprof's appended page
 * (see http.h), that page's own query, looked up second. */
typedef struct params {
    const char *q[2];
    size_t len[2];
} params_t;

/* od_query_get over each source in turn */
static int param(const od_req_t *r, const params_t *ps, const char *name, char *out, size_t outsz)
{
    for (int i = 0; i < 2; i++) {
        if (ps->q[i] == NULL) continue;
        od_req_t t = *r;
        t.query = ps->q[i];
        t.query_len = ps->len[i];
        int rc = od_query_get(&t, name, out, outsz);
        if (rc != 0) return rc;
    }
    return 0;
}

/* Go's strconv.Atoi / ParseInt(s, 10, 64): an optional sign and decimal digits, nothing else
 * @return 0 if successful, -1 if not */
static int go_parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p == '\0') return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

/* Go's ParseFloat(s, 64) for ordinary numbers @return 0 if successful, -1 if not */
static int parse_number(const char *s, double *out)
{
    if (*s == '\0' || isspace((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Go's Atoi with errors read as 0, as net/http/pprof reads debug= and gc= */
static long long go_atoi0(const od_req_t *r, const params_t *ps, const char *name)
{
    char v[32];
    long long n;
    if (param(r, ps, name, v, sizeof(v)) <= 0 || go_parse_int(v, &n) != 0) return 0;
    return n;
}

static int max_seconds(const od_req_t *r)
{
    return r->srv->cfg->profiling.max_seconds;
}

/* --- answers ----------------------------------------------------------------------------- */

/* an error in the family's convention: JSON for /profile, Go's plain text otherwise */
static int fail(od_req_t *r, family_t fam, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(od_req_t *r, family_t fam, int status, const char *field, const char *fmt, ...)
{
    od_body_t msg;
    od_body_init(&msg, r, 256);
    va_list ap;
    va_start(ap, fmt);
    od_body_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (fam == FAM_PROFILE) return od_respond_error(r, status, field, "%s", msg.base);
    od_body_putc(&msg, '\n');
    od_add_header(r, "X-Content-Type-Options", "nosniff");
    if (fam == FAM_GO) od_add_header(r, "X-Go-Pprof", "1");
    return od_respond_body(r, status, TEXT_PLAIN, &msg);
}

static void job_fail(od_job_t *job, family_t fam, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_fail(od_job_t *job, family_t fam, int status, const char *fmt, ...)
{
    od_buf_t msg = OD_BUF_INIT, body = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (fam == FAM_PROFILE) {
        od_buf_puts(&body, "{\"error\":");
        od_buf_json_str(&body, msg.base ? msg.base : "");
        od_buf_puts(&body, "}\n");
        od_job_respond(job, status, "application/json", &body);
    } else {
        od_buf_printf(&body, "%s\n", msg.base ? msg.base : "");
        od_job_add_header(job, "X-Content-Type-Options", "nosniff");
        if (fam == FAM_GO) od_job_add_header(job, "X-Go-Pprof", "1");
        od_job_respond(job, status, TEXT_PLAIN, &body);
    }
    od_buf_dispose(&msg);
    od_buf_dispose(&body);
}

static const char *busy_message(od_capture_kind_t kind)
{
    return kind == OD_CAP_TRACE ? "a trace is already running (one at a time); retry when it ends"
                                : "a CPU profile is already running (one at a time); retry when it ends";
}

/* --- capture jobs ------------------------------------------------------------------------ */

/* what a capture job does: built on the loop from the request, owned by the job */
typedef struct cap_job {
    family_t fam;
    od_capture_kind_t kind;
    od_prof_format_t fmt;
    double seconds; /* cpu and trace: the window */
    double delta;   /* > 0: a delta profile over this many seconds */
    int debug;      /* Go's debug=: 0 proto, 1 text, 2 every thread's stack (goroutine) */
    int gc;         /* release free memory first (Go's gc=1) */
    int allocs;     /* Go's allocs: the heap with alloc_space as the default type */
    int growth;     /* gperftools' growth profile */
    char name[24];  /* Go's download name ("profile", "heap"...); "" = orderd-KIND-TIME.EXT */
} cap_job_t;

static int job_gone(void *job)
{
    return od_job_cancelled(job);
}

/* orderd-cpu-20260101-120000.pb.gz */
static void download_name(const cap_job_t *c, const char *ext, char *out, size_t outsz)
{
    if (c->name[0]) {
        snprintf(out, outsz, "%s%s", c->name, c->delta > 0 ? "-delta" : "");
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, outsz, "orderd-%s%s-%s.%s", c->growth ? "growth" : od_capture_kind_name(c->kind),
             c->delta > 0 ? "-delta" : "", stamp, ext);
}

static void capture_job(od_job_t *job, void *arg)
{
    cap_job_t *c = arg;
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    const char *ext = "json", *ct = "application/json";
    int rc;
    if (c->gc) od_capture_release_memory();
    if (c->kind == OD_CAP_TRACE || c->kind == OD_CAP_GC) {
        rc = od_capture(c->kind, c->seconds, c->fmt, job_gone, job, &out, &ext, &ct, &err);
    } else {
        od_profile_t p;
        if (c->growth)
            rc = od_heap_growth(&p, &err);
        else if (c->delta > 0)
            rc = od_capture_delta(c->kind, c->delta, job_gone, job, &p, &err);
        else
            rc = od_capture_profile(c->kind, c->seconds, job_gone, job, &p, &err);
        if (rc == 0 && od_job_cancelled(job)) {
            rc = -1; /* nobody to answer: skip the writing (symbolization is the costly part) */
            od_buf_puts(&err, "the client went away");
        }
        if (rc == 0) {
            if (c->allocs) p.default_type = "alloc_space";
            if (c->debug != 0) { /* Go's text forms */
                if (c->debug >= 2 && c->kind == OD_CAP_GOROUTINES)
                    od_render_goroutine_dump(&p, &out);
                else
                    rc = od_render_go_text(&p, &out, &err);
                ext = "txt";
                ct = TEXT_PLAIN;
            } else {
                rc = od_prof_write(&p, c->fmt, &out, &err);
                ext = od_prof_format_ext(c->fmt, p.kind);
                ct = od_prof_format_content_type(c->fmt);
            }
        }
        od_profile_dispose(&p);
    }

    if (rc == OD_CAPTURE_BUSY) {
        job_fail(job, c->fam, 409, "%s", busy_message(c->kind));
    } else if (rc != 0) {
        job_fail(job, c->fam, 500, "cannot take the %s profile: %s", od_capture_kind_name(c->kind),
                 err.base ? err.base : "unknown error");
    } else {
        od_job_add_header(job, "X-Content-Type-Options", "nosniff");
        /* text and flame graphs are for reading in the browser; the rest is for tools */
        int inline_view = c->kind == OD_CAP_GC || (c->kind != OD_CAP_TRACE && c->fmt == OD_FMT_TEXT) ||
                          (c->kind != OD_CAP_TRACE && c->fmt == OD_FMT_SVG) || c->debug != 0;
        if (!inline_view && c->fam != FAM_GPERF) {
            char name[96], disp[128];
            download_name(c, ext, name, sizeof(name));
            snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
            od_job_add_header(job, "Content-Disposition", disp);
        }
        od_job_respond(job, 200, ct, &out);
    }
    od_buf_dispose(&out);
    od_buf_dispose(&err);
}

/* HEAD: the status and headers capture_job would answer, without taking anything */
static int capture_head(od_req_t *r, const cap_job_t *c)
{
    if (c->kind == OD_CAP_MEMORY) { /* the answer the GET would give when there is no heap profile */
        od_buf_t why = OD_BUF_INIT;
        int rc = -1;
        if (!od_heap_available(c->growth, &why))
            rc = fail(r, c->fam, 500, NULL, "cannot take the %s profile: %s", od_capture_kind_name(c->kind),
                      why.base);
        od_buf_dispose(&why);
        if (rc != -1) return rc;
    }
    int text = c->fmt == OD_FMT_TEXT, gc = c->kind == OD_CAP_GC, trace = c->kind == OD_CAP_TRACE;
    int dump = c->debug >= 2 && c->kind == OD_CAP_GOROUTINES;
    const char *ct = trace || (gc && !text) ? "application/json"
                     : gc || dump           ? TEXT_PLAIN
                                            : od_prof_format_content_type(c->fmt);
    const char *ext = trace || (gc && !text) ? "json"
                      : gc || dump           ? "txt"
                                             : od_prof_format_ext(c->fmt, (od_prof_kind_t)c->kind);
    od_add_header(r, "X-Content-Type-Options", "nosniff");
    if (!(gc || (!trace && (text || c->fmt == OD_FMT_SVG)) || c->debug != 0) && c->fam != FAM_GPERF) {
        char name[96], disp[128];
        download_name(c, ext, name, sizeof(name));
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
        od_add_header(r, "Content-Disposition", disp);
    }
    return od_respond_head(r, 200, ct);
}

/* checks the one-at-a-time rule early (the job checks again) and starts the job */
static int start_capture(od_req_t *r, const cap_job_t *c)
{
    if ((c->kind == OD_CAP_CPU && od_cpu_busy()) || (c->kind == OD_CAP_TRACE && od_trace_running()))
        return fail(r, c->fam, 409, NULL, "%s", busy_message(c->kind));
    if (od_req_is_head(r)) return capture_head(r, c); /* a HEAD starts no capture */
    cap_job_t *j = od_malloc(sizeof(*j));
    *j = *c;
    if (od_defer(r, capture_job, j, free) != 0) {
        free(j);
        return fail(r, c->fam, 503, NULL, "too many profiling requests at once (at most %d); retry later",
                    OD_JOBS_MAX);
    }
    return 0;
}

/* --- /profile/KIND ---------------------------------------------------------------------------- */

/* reads ?seconds= or ?duration= (1..max_seconds); @return 1 if given, 0 if not, -1 after
 * answering 400 */
static int window_param(od_req_t *r, const params_t *ps, double *out)
{
    char sv[64], dv[64];
    int hs = param(r, ps, "seconds", sv, sizeof(sv)), hd = param(r, ps, "duration", dv, sizeof(dv));
    int max = max_seconds(r);
    if (hs != 0 && hd != 0)
        return fail(r, FAM_PROFILE, 400, "duration", "give seconds or duration, not both"), -1;
    if (hs != 0) {
        if (hs < 0 || parse_number(sv, out) != 0 || *out < 1 || *out > max)
            return fail(r, FAM_PROFILE, 400, "seconds",
                        "seconds must be a number from 1 to %d (profiling.max_seconds)", max),
                   -1;
        return 1;
    }
    if (hd != 0) {
        uint64_t ns;
        if (hd < 0 || od_parse_duration(dv, &ns) != 0 || ns < 1000000000ull ||
            ns > (uint64_t)max * 1000000000ull)
            return fail(r, FAM_PROFILE, 400, "duration",
                        "duration must be from 1s to %ds (profiling.max_seconds), e.g. duration=30s", max),
                   -1;
        *out = (double)ns / 1e9;
        return 1;
    }
    return 0;
}

#define KINDS_LIST "cpu, memory (heap), goroutines (goroutine, threads), block, mutex, trace, gc"
#define FORMATS_LIST "pprof, legacy, text, folded, svg"

static int profile_family(od_req_t *r)
{
    const char *name = r->path + strlen("/profile/");
    size_t nlen = r->path_len - strlen("/profile/");
    char kname[24];
    od_capture_kind_t kind;
    if (nlen == 0 || nlen >= sizeof(kname) ||
        (memcpy(kname, name, nlen), kname[nlen] = '\0', od_capture_kind_parse(kname, &kind) != 0))
        return fail(r, FAM_PROFILE, 404, NULL, "unknown profile kind \"%.*s\"; known: " KINDS_LIST,
                    (int)(nlen > 40 ? 40 : nlen), name);

    params_t ps = {{r->query, NULL}, {r->query_len, 0}};
    cap_job_t c = {.fam = FAM_PROFILE, .kind = kind, .fmt = OD_FMT_PPROF};
    char v[64];
    int rc = param(r, &ps, "format", v, sizeof(v));
    if (rc != 0 && od_capture_kind_has_format(kind)) {
        if (rc < 0 || od_prof_format_parse(v, &c.fmt) != 0)
            return fail(r, FAM_PROFILE, 400, "format", "format must be one of " FORMATS_LIST);
    } else if (rc != 0 && kind == OD_CAP_GC) {
        if (rc < 0 || (strcmp(v, "json") != 0 && strcmp(v, "text") != 0))
            return fail(r, FAM_PROFILE, 400, "format", "format for gc is json (the default) or text");
        c.fmt = strcmp(v, "text") == 0 ? OD_FMT_TEXT : OD_FMT_PPROF;
    } else if (rc != 0 && (rc < 0 || strcmp(v, "json") != 0)) {
        return fail(r, FAM_PROFILE, 400, "format", "a %s capture is JSON only (format=json or no format)",
                    od_capture_kind_name(kind));
    }

    double secs = 0;
    rc = window_param(r, &ps, &secs);
    if (rc < 0) return 0;
    int max = max_seconds(r);
    if (od_capture_kind_timed(kind)) {
        double dflt = kind == OD_CAP_CPU ? 30 : 5;
        c.seconds = rc ? secs : (dflt < max ? dflt : max);
    } else if (rc) {
        if (kind == OD_CAP_GC)
            return fail(r, FAM_PROFILE, 400, "seconds", "seconds does not apply to gc (it is a snapshot)");
        c.delta = secs; /* the change over the window, as Go's ?seconds= on its named profiles */
    }
    if (kind == OD_CAP_MEMORY && go_atoi0(r, &ps, "gc") > 0) c.gc = 1;
    return start_capture(r, &c);
}

/* GET /profile: what there is */
static int profile_list(od_req_t *r)
{
    od_buf_t j = OD_BUF_INIT;
    od_buf_puts(&j, "{\"kinds\":[");
    for (int k = 0; k < OD_CAP_COUNT; k++)
        od_buf_printf(&j, "%s{\"name\":\"%s\",\"path\":\"/profile/%s\",\"window\":%s,\"formats\":%s}",
                      k ? "," : "", od_capture_kind_name((od_capture_kind_t)k),
                      od_capture_kind_name((od_capture_kind_t)k),
                      od_capture_kind_timed((od_capture_kind_t)k) ? "true" : "false",
                      od_capture_kind_has_format((od_capture_kind_t)k)
                          ? "[\"pprof\",\"legacy\",\"text\",\"folded\",\"svg\"]"
                      : k == OD_CAP_GC ? "[\"json\",\"text\"]"
                                       : "[\"json\"]");
    od_buf_printf(
        &j, "],\"max_seconds\":%d,\"cpu_busy\":%s,\"cpu_engine\":\"%s\",\"cpu_hz\":%d,\"trace_running\":%s}",
        max_seconds(r), od_cpu_busy() ? "true" : "false", od_cpu_engine_name(), od_cpu_hz(),
        od_trace_running() ? "true" : "false");
    return od_respond_json(r, 200, &j);
}

/* --- cmdline and symbol (both families) -------------------------------------------------- */

/* argv joined by `sep`; an argument that contains the profiling token is never shown */
static int cmdline(od_req_t *r, char sep, int trailing)
{
    const od_server_t *srv = r->srv;
    const char *token = srv->cfg->profiling.token;
    od_body_t b;
    od_body_init(&b, r, 256);
    for (int i = 0; i < srv->argc; i++) {
        if (i) od_body_putc(&b, sep);
        const char *a = srv->argv[i];
        od_body_puts(&b, token && token[0] && strstr(a, token) ? "[redacted]" : a);
    }
    if (trailing) od_body_putc(&b, sep);
    od_add_header(r, "X-Content-Type-Options", "nosniff");
    od_respond_body(r, 200, TEXT_PLAIN, &b);
    return 0;
}

typedef struct sym_job {
    od_buf_t addrs; /* "0xADDR+0xADDR..." */
} sym_job_t;

static void sym_job_free(void *arg)
{
    sym_job_t *s = arg;
    od_buf_dispose(&s->addrs);
    free(s);
}

/* the addresses of a symbol request ("0xA+0xB+..."), in order; the caller frees */
static uintptr_t *symbol_addrs(const od_buf_t *in, size_t *count)
{
    uintptr_t *v = NULL;
    size_t n = 0, cap = 0;
    const char *p = in->base, *end = in->base + in->len;
    while (p && p < end) {
        const char *plus = memchr(p, '+', (size_t)(end - p));
        const char *we = plus ? plus : end;
        char word[40];
        size_t len = (size_t)(we - p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > 0 && len < sizeof(word)) {
            memcpy(word, p, len);
            word[len] = '\0';
            char *e;
            errno = 0;
            unsigned long long pc = strtoull(word, &e, 0);
            if (*e == '\0' && errno == 0 && pc != 0) {
                if (n == cap) v = od_realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
                v[n++] = (uintptr_t)pc;
            }
        }
        p = plus ? plus + 1 : NULL;
    }
    *count = n;
    return v;
}

/* as Go's Symbol: "num_symbols: 1", then "0xADDR name" for every address known */
static void symbol_job(od_job_t *job, void *arg)
{
    sym_job_t *s = arg;
    od_buf_t out = OD_BUF_INIT;
    od_buf_puts(&out, "num_symbols: 1\n");
    size_t n = 0;
    uintptr_t *pcs = symbol_addrs(&s->addrs, &n);
    od_symbolize_prefetch(pcs, n); /* a round trip per 1024 addresses, not one each */
    for (size_t i = 0; i < n; i++) {
        size_t before = out.len;
        od_buf_printf(&out, "0x%llx ", (unsigned long long)pcs[i]);
        if (od_symbolize_name(pcs[i], &out) == 0)
            od_buf_putc(&out, '\n');
        else
            out.len = before, out.base[before] = '\0';
    }
    free(pcs);
    od_job_add_header(job, "X-Content-Type-Options", "nosniff");
    od_job_respond(job, 200, TEXT_PLAIN, &out);
    od_buf_dispose(&out);
}

static int symbol(od_req_t *r, family_t fam, const params_t *ps)
{
    sym_job_t *s = od_calloc(1, sizeof(*s));
    h2o_req_t *req = r->h;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        if (req->entity.base) od_buf_append(&s->addrs, req->entity.base, req->entity.len);
    } else if (fam == FAM_GO && ps->q[0]) {
        od_buf_append(&s->addrs, ps->q[0], ps->len[0]); /* Go reads GET's raw query as the list */
    }
    if (s->addrs.len == 0) {
        sym_job_free(s);
        static const char body[] = "num_symbols: 1\n";
        od_add_header(r, "X-Content-Type-Options", "nosniff");
        return od_respond(r, 200, TEXT_PLAIN, body, sizeof(body) - 1);
    }
    if (od_defer(r, symbol_job, s, sym_job_free) != 0) {
        sym_job_free(s);
        return fail(r, fam, 503, NULL, "too many profiling requests at once (at most %d); retry later",
                    OD_JOBS_MAX);
    }
    return 0;
}

/* --- /debug/pprof/ ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *desc;
} go_profiles[] = {
    {"allocs", "A sampling of all past memory allocations (tcmalloc's sampler, every heap_sample_bytes)"},
    {"block", "Stack traces that led to blocking on the server's own waits: queue waits, the payment wait"},
    {"cmdline", "The command line invocation of the current program"},
    {"goroutine", "Stack traces of all current threads (the native goroutines: http-N, worker-N, ...)"},
    {"heap",
     "A sampling of memory allocations of live objects. You can specify the gc GET parameter to release free "
     "memory to the OS before taking the heap sample."},
    {"mutex", "Stack traces of waiters on contended mutexes: inventory stripes, queue, results store"},
    {"profile", "CPU profile (%s engine, %d Hz). You can specify the duration in the seconds GET parameter. "
                "After you get the "
                "profile file, use the go tool pprof command to investigate the profile."},
    {"trace", "A trace of execution of the current program. You can specify the duration in the seconds GET "
              "parameter. "
              "Unlike Go's, this trace is Chrome Trace Event JSON: open it in https://ui.perfetto.dev or "
              "chrome://tracing; go tool trace cannot read it."},
};

/* the index page: counts need a heap sample, so it is a job too */
static void index_job(od_job_t *job, void *arg)
{
    (void)arg;
    long long heap_count = 0;
    od_profile_t p;
    od_buf_t err = OD_BUF_INIT;
    if (od_capture_profile(OD_CAP_MEMORY, 0, NULL, NULL, &p, &err) == 0) heap_count = (long long)p.nsamples;
    od_profile_dispose(&p);
    od_buf_dispose(&err);

    od_buf_t b = OD_BUF_INIT;
    od_buf_puts(
        &b, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n\tdisplay:inline-block;\n"
            "\twidth:6rem;\n}\n</style>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\n"
            "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n");
    for (size_t i = 0; i < OD_ARRAY_SIZE(go_profiles); i++) {
        const char *n = go_profiles[i].name;
        long long count = 0;
        if (!strcmp(n, "allocs") || !strcmp(n, "heap"))
            count = heap_count;
        else if (!strcmp(n, "block"))
            count = (long long)od_lockprof_stacks(OD_PROF_BLOCK);
        else if (!strcmp(n, "mutex"))
            count = (long long)od_lockprof_stacks(OD_PROF_MUTEX);
        else if (!strcmp(n, "goroutine"))
            count = od_threads_count();
        od_buf_printf(&b, "<tr><td>%lld</td><td><a href='%s?debug=1'>%s</a></td></tr>\n", count, n, n);
    }
    od_buf_puts(&b, "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\n"
                    "Profile Descriptions:\n<ul>\n");
    for (size_t i = 0; i < OD_ARRAY_SIZE(go_profiles); i++) {
        od_buf_printf(&b, "<li><div class=profile-name>%s: </div> ", go_profiles[i].name);
        if (strcmp(go_profiles[i].name, "profile") == 0) { /* the engine in use and its real rate */
            char *d = od_asprintf(go_profiles[i].desc, od_cpu_engine_name(), od_cpu_hz());
            od_buf_xml(&b, d, SIZE_MAX);
            free(d);
        } else {
            od_buf_xml(&b, go_profiles[i].desc, SIZE_MAX);
        }
        od_buf_puts(&b, "</li>\n");
    }
    od_buf_puts(
        &b,
        "</ul>\n</p>\n<p>\norderd also serves:\n<ul>\n"
        "<li><a href=\"/profile/cpu?seconds=10&amp;format=svg\">/profile/cpu?seconds=10&amp;format=svg</a>"
        " a 10 s CPU flame graph (also memory, goroutines, block, mutex; "
        "format=pprof|legacy|text|folded|svg)</li>\n"
        "<li><a href=\"/profile/trace?seconds=5\">/profile/trace?seconds=5</a> a 5 s trace "
        "(Chrome Trace Event JSON for Perfetto)</li>\n"
        "<li><a href=\"/profile/gc\">/profile/gc</a> allocator statistics before and after releasing "
        "free memory</li>\n"
        "<li>/pprof/profile, /pprof/heap, /pprof/growth, /pprof/contention, /pprof/symbol, "
        "/pprof/cmdline: the gperftools protocol for google-pprof</li>\n"
        "</ul>\n</p>\n</body>\n</html>");
    od_job_add_header(job, "X-Content-Type-Options", "nosniff");
    od_job_respond(job, 200, "text/html; charset=utf-8", &b);
    od_buf_dispose(&b);
}

static int go_named(od_req_t *r, const params_t *ps, const char *name, od_capture_kind_t kind)
{
    cap_job_t c = {.fam = FAM_GO, .kind = kind, .fmt = OD_FMT_PPROF};
    snprintf(c.name, sizeof(c.name), "%s", name);
    char sv[32];
    int hs = param(r, ps, "seconds", sv, sizeof(sv));
    long long debug = go_atoi0(r, ps, "debug");
    if (hs != 0 && sv[0] != '\0') { /* Go: FormValue("seconds") != "" */
        long long sec;
        if (hs < 0 || go_parse_int(sv, &sec) != 0 || sec <= 0)
            return fail(r, FAM_GO, 400, NULL, "invalid value for \"seconds\" - must be a positive integer");
        if (sec > max_seconds(r))
            return fail(r, FAM_GO, 400, NULL, "profile duration exceeds profiling.max_seconds (%d)",
                        max_seconds(r));
        if (debug != 0) return fail(r, FAM_GO, 400, NULL, "seconds and debug params are incompatible");
        c.delta = (double)sec;
    }
    if (!strcmp(name, "heap") && go_atoi0(r, ps, "gc") > 0) c.gc = 1;
    c.allocs = !strcmp(name, "allocs");
    if (debug != 0) {
        c.fmt = OD_FMT_TEXT;
        c.debug = debug >= 2 ? 2 : 1;
    }
    return start_capture(r, &c);
}

static int go_family(od_req_t *r)
{
    const char *name = r->path + strlen("/debug/pprof/");
    size_t nlen = r->path_len - strlen("/debug/pprof/");
    params_t ps = {{r->query, NULL}, {r->query_len, 0}};
    char n[24];
    if (nlen >= sizeof(n)) return fail(r, FAM_GO, 404, NULL, "Unknown profile");
    memcpy(n, name, nlen);
    n[nlen] = '\0';

    if (!strcmp(n, "")) {
        if (od_defer(r, index_job, NULL, NULL) != 0)
            return fail(r, FAM_GO, 503, NULL, "too many profiling requests at once; retry later");
        return 0;
    }
    if (!strcmp(n, "cmdline")) return cmdline(r, '\0', 0);
    if (!strcmp(n, "symbol")) return symbol(r, FAM_GO, &ps);
    int max = max_seconds(r);
    if (!strcmp(n, "profile") || !strcmp(n, "trace")) {
        int cpu = n[0] == 'p';
        cap_job_t c = {.fam = FAM_GO, .kind = cpu ? OD_CAP_CPU : OD_CAP_TRACE, .fmt = OD_FMT_PPROF};
        snprintf(c.name, sizeof(c.name), "%s", cpu ? "profile" : "trace.json");
        char sv[32];
        double sec = 0;
        long long isec;
        int hs = param(r, &ps, "seconds", sv, sizeof(sv));
        if (cpu) /* Go: ParseInt; a bad or missing value means 30 */
            sec = hs > 0 && go_parse_int(sv, &isec) == 0 && isec > 0 ? (double)isec : 30;
        else /* Go: ParseFloat; a bad or missing value means 1 */
            sec = hs > 0 && parse_number(sv, &sec) == 0 && sec > 0 ? sec : 1;
        if (sec > max)
            return fail(r, FAM_GO, 400, NULL, "profile duration exceeds profiling.max_seconds (%d)", max);
        c.seconds = sec;
        return start_capture(r, &c);
    }
    static const struct {
        const char *name;
        od_capture_kind_t kind;
    } named[] = {{"heap", OD_CAP_MEMORY},
                 {"allocs", OD_CAP_MEMORY},
                 {"goroutine", OD_CAP_GOROUTINES},
                 {"block", OD_CAP_BLOCK},
                 {"mutex", OD_CAP_MUTEX}};
    for (size_t i = 0; i < OD_ARRAY_SIZE(named); i++)
        if (!strcmp(n, named[i].name)) return go_named(r, &ps, n, named[i].kind);
    return fail(r, FAM_GO, 404, NULL, "Unknown profile");
}

/* /debug/pprof -> /debug/pprof/, as Go's ServeMux redirects */
static int go_redirect(od_req_t *r)
{
    od_add_header(r, "Location", "/debug/pprof/");
    static const char body[] = "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n";
    return od_respond(r, 301, "text/html; charset=utf-8", body, sizeof(body) - 1);
}

/* --- /pprof/PAGE (gperftools) ------------------------------------------------------------------ */

static int gperf_family(od_req_t *r)
{
    const char *page = r->path + strlen("/pprof/");
    size_t plen = r->path_len - strlen("/pprof/");
    params_t ps = {{r->query, NULL}, {r->query_len, 0}};
    /* google-pprof's URL-with-a-query quirk: ".../pprof/profile?seconds=2/pprof/symbol" */
    static const char marker[] = "/pprof/";
    const char *m = r->query ? memmem(r->query, r->query_len, marker, sizeof(marker) - 1) : NULL;
    if (m) {
        const char *tail = m + sizeof(marker) - 1, *qend = r->query + r->query_len;
        const char *q = memchr(tail, '?', (size_t)(qend - tail));
        page = tail;
        plen = (size_t)((q ? q : qend) - tail);
        ps.len[0] = (size_t)(m - r->query);
        if (q) {
            ps.q[1] = q + 1;
            ps.len[1] = (size_t)(qend - q - 1);
        }
    }
    char n[24];
    if (plen >= sizeof(n))
        return fail(r, FAM_GPERF, 404, NULL,
                    "unknown page; serving profile, heap, growth, contention, symbol, cmdline");
    memcpy(n, page, plen);
    n[plen] = '\0';

    if (!strcmp(n, "symbol")) return symbol(r, FAM_GPERF, &ps);
    if (!strcmp(n, "cmdline")) return cmdline(r, '\n', 1);
    cap_job_t c = {.fam = FAM_GPERF, .fmt = OD_FMT_LEGACY};
    if (!strcmp(n, "profile")) {
        char sv[32];
        int hs = param(r, &ps, "seconds", sv, sizeof(sv));
        int max = max_seconds(r);
        double sec = 30 < max ? 30 : max;
        if (hs != 0 && (hs < 0 || parse_number(sv, &sec) != 0 || sec < 1 || sec > max))
            return fail(r, FAM_GPERF, 400, NULL,
                        "seconds must be a number from 1 to %d (profiling.max_seconds)", max);
        c.kind = OD_CAP_CPU;
        c.seconds = sec;
    } else if (!strcmp(n, "heap")) {
        c.kind = OD_CAP_MEMORY;
    } else if (!strcmp(n, "growth")) {
        c.kind = OD_CAP_MEMORY;
        c.growth = 1;
    } else if (!strcmp(n, "contention")) {
        c.kind = OD_CAP_MUTEX;
    } else {
        return fail(r, FAM_GPERF, 404, NULL,
                    "unknown page \"%s\"; serving profile, heap, growth, contention, symbol, cmdline", n);
    }
    return start_capture(r, &c);
}

void od_profiling_register(void)
{
    const int f = OD_ROUTE_PROFILING;
    od_route_add("/profile", OD_GET, f, OD_ROUTE_PROFILE, profile_list);
    od_route_add("/profile/", OD_GET, f | OD_ROUTE_PREFIX, OD_ROUTE_PROFILE, profile_family);
    od_route_add("/debug/pprof", OD_GET, f, OD_ROUTE_PROFILE, go_redirect);
    /* Go serves every method; POST matters for symbol */
    od_route_add("/debug/pprof/", OD_GET | OD_POST, f | OD_ROUTE_PREFIX, OD_ROUTE_PROFILE, go_family);
    od_route_add("/pprof/", OD_GET | OD_POST, f | OD_ROUTE_PREFIX, OD_ROUTE_PROFILE, gperf_family);
}
