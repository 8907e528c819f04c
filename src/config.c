/* config/orderd.yaml: libyaml's document tree, applied through a table of keys. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "prof/cpu.h"

typedef struct ctx {
    const char *path;
    yaml_document_t *doc;
    od_config_t *c;
    od_buf_t *errors;
    int bad;
    yaml_mark_t cpu_hz_mark; /* where profiling.cpu_hz's value is, to refuse it once the engine is known */
    int have_cpu_hz;
} ctx_t;

static void problem(ctx_t *x, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(ctx_t *x, const yaml_node_t *n, const char *fmt, ...)
{
    od_buf_printf(x->errors, "%s:%zu:%zu: ", x->path, n ? n->start_mark.line + 1 : 1,
                  n ? n->start_mark.column + 1 : 1);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(x->errors, fmt, ap);
    va_end(ap);
    od_buf_putc(x->errors, '\n');
    x->bad = 1;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int is_plain_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (strcmp(scalar(n), "") == 0 || strcmp(scalar(n), "~") == 0 || strcmp(scalar(n), "null") == 0);
}

/* --- value parsers: each returns 0 or reports the problem and returns -1 --- */

static int want_scalar(ctx_t *x, const yaml_node_t *n, const char *key, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        problem(x, n, "%s must be %s, not a %s", key, what,
                n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return -1;
    }
    return 0;
}

static int get_int(ctx_t *x, const yaml_node_t *n, const char *key, long long lo, long long hi,
                   long long *out)
{
    if (want_scalar(x, n, key, "a whole number") != 0) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        problem(x, n, "%s must be a whole number, got \"%s\"", key, s);
        return -1;
    }
    if (v < lo || v > hi) {
        problem(x, n, "%s must be from %lld to %lld, got %lld", key, lo, hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_size(ctx_t *x, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (want_scalar(x, n, key, "a size") != 0) return -1;
    uint64_t v;
    if (od_parse_size(scalar(n), &v) != 0) {
        problem(x, n, "%s must be a size such as 65536, 64KiB or 256MiB, got \"%s\"", key, scalar(n));
        return -1;
    }
    if (v < lo || v > hi) {
        problem(x, n, "%s must be from %llu to %llu bytes, got %llu", key, (unsigned long long)lo,
                (unsigned long long)hi, (unsigned long long)v);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_bool(ctx_t *x, const yaml_node_t *n, const char *key, int *out)
{
    if (want_scalar(x, n, key, "true or false") != 0) return -1;
    const char *s = scalar(n);
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
        *out = 0;
    else {
        problem(x, n, "%s must be true or false, got \"%s\"", key, s);
        return -1;
    }
    return 0;
}

static int get_string(ctx_t *x, const yaml_node_t *n, const char *key, char **out)
{
    if (want_scalar(x, n, key, "a string") != 0) return -1;
    if (n->data.scalar.length != strlen(scalar(n)) || n->data.scalar.length > PATH_MAX) {
        problem(x, n, "%s is not a valid string", key);
        return -1;
    }
    free(*out);
    *out = is_plain_null(n) ? od_strdup("") : od_strdup(scalar(n));
    return 0;
}

static int get_listen(ctx_t *x, const yaml_node_t *n, const char *key, od_listen_t *out, int allow_empty)
{
    if (want_scalar(x, n, key, "an address such as 127.0.0.1:8080") != 0) return -1;
    if (allow_empty && (is_plain_null(n) || scalar(n)[0] == '\0')) {
        free(out->host);
        out->host = NULL;
        out->port = 0;
        return 0;
    }
    od_listen_t l = {0};
    if (od_listen_parse(scalar(n), &l) != 0) {
        problem(x, n, "%s must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:8080), got \"%s\"",
                key, scalar(n));
        return -1;
    }
    free(out->host);
    *out = l;
    return 0;
}

/* --- the key table --- */

/* The default buckets resolve the bundled scenarios (histogram_quantile(0.99) within 10 % of
 * /stats' p99 under each: t/17-metrics-buckets.t): 24 bounds a decade, 10^(1/24) (10 %)
 * apart, over the range the workload spans (processing: a fraction of a ms on a bare pool to
 * a second under a burst; a queue wait: 0.1 ms when idle to seconds in a burst), with a few
 * coarse ones either side.  The estimate and the truth share a bucket, so they differ by at
 * most its width. */
static void fine_buckets(od_buckets_t *b, const double *below, size_t nbelow, double lo, double hi,
                         const double *above, size_t nabove)
{
    b->n = 0;
    for (size_t i = 0; i < nbelow; i++)
        b->le[b->n++] = below[i];
    for (int k = (int)floor(24 * log10(lo)); k <= (int)floor(24 * log10(hi)); k++) {
        double v = pow(10, k / 24.0), scale = pow(10, floor(log10(v)) - 2); /* 3 significant digits */
        v = round(v / scale) * scale;
        if (b->n == 0 || v > b->le[b->n - 1] * 1.0001) b->le[b->n++] = v;
    }
    for (size_t i = 0; i < nabove; i++)
        b->le[b->n++] = above[i];
    OD_ASSERT(b->n <= OD_BUCKETS_MAX);
}

typedef void (*apply_fn)(ctx_t *x, const yaml_node_t *n, const char *key);

#define INT_KEY(fname, lo, hi, member)                                                                       \
    static void fname(ctx_t *x, const yaml_node_t *n, const char *key)                                       \
    {                                                                                                        \
        long long v;                                                                                         \
        if (get_int(x, n, key, lo, hi, &v) == 0) x->c->member = v;                                           \
    }
#define SIZE_KEY(fname, lo, hi, member)                                                                      \
    static void fname(ctx_t *x, const yaml_node_t *n, const char *key)                                       \
    {                                                                                                        \
        uint64_t v;                                                                                          \
        if (get_size(x, n, key, lo, hi, &v) == 0) x->c->member = v;                                          \
    }
#define STR_KEY(fname, member)                                                                               \
    static void fname(ctx_t *x, const yaml_node_t *n, const char *key)                                       \
    {                                                                                                        \
        get_string(x, n, key, &x->c->member);                                                                \
    }

INT_KEY(k_threads, 1, 64, http.threads)
SIZE_KEY(k_max_body, 64, 16u << 20, http.max_body_bytes)
STR_KEY(k_script, pool_files.script)
STR_KEY(k_rules, pool_files.rules)
INT_KEY(k_results_kept, 0, 10000000, pool_files.results_kept)

static void k_cpu_hz(ctx_t *x, const yaml_node_t *n, const char *key)
{
    long long v;
    if (get_int(x, n, key, 1, OD_CPU_HZ_MAX, &v) != 0) return;
    x->c->profiling.cpu_hz = (int)v;
    x->cpu_hz_mark = n->start_mark;
    x->have_cpu_hz = 1;
}

static void k_cpu_engine(ctx_t *x, const yaml_node_t *n, const char *key)
{
    if (want_scalar(x, n, key, "auto, perf_event or itimer") != 0) return;
    od_cpu_engine_t e;
    if (od_cpu_engine_parse(scalar(n), &e) != 0) {
        problem(x, n, "%s must be auto, perf_event or itimer, got \"%s\"", key, scalar(n));
        return;
    }
    x->c->profiling.cpu_engine = (int)e;
}
SIZE_KEY(k_heap_sample, 0, 1u << 30, profiling.heap_sample_bytes)
INT_KEY(k_mutex_fraction, 0, 1000000, profiling.mutex_fraction)
INT_KEY(k_block_rate, 0, 1000000000000LL, profiling.block_rate_ns)
INT_KEY(k_max_seconds, 1, 86400, profiling.max_seconds)
STR_KEY(k_schedule, profiling.schedule)
STR_KEY(k_output_dir, profiling.output_dir)
STR_KEY(k_token, profiling.token)
INT_KEY(k_keep_files, 1, 1000000, profiling.keep_files)
SIZE_KEY(k_keep_bytes, 1024, 1ull << 40, profiling.keep_bytes)

static void k_listen(ctx_t *x, const yaml_node_t *n, const char *key)
{
    get_listen(x, n, key, &x->c->listen, 0);
}

static void k_prof_listen(ctx_t *x, const yaml_node_t *n, const char *key)
{
    get_listen(x, n, key, &x->c->profiling.listen, 1);
}

static void k_enabled(ctx_t *x, const yaml_node_t *n, const char *key)
{
    get_bool(x, n, key, &x->c->profiling.enabled);
}

static void k_scenarios(ctx_t *x, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(x, n, "%s must be a list of Lua scenario files", key);
        return;
    }
    for (size_t i = 0; i < x->c->nscenarios; i++)
        free(x->c->scenarios[i]);
    free(x->c->scenarios);
    x->c->scenarios = NULL;
    x->c->nscenarios = 0;
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    x->c->scenarios = od_calloc(count, sizeof(char *));
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        char *s = NULL;
        if (get_string(x, e, "each scenario", &s) == 0) {
            if (s[0] == '\0') {
                problem(x, e, "a scenario must name a Lua file");
                free(s);
            } else {
                x->c->scenarios[x->c->nscenarios++] = s;
            }
        }
    }
}

/* a list of bucket bounds in seconds: each a number in (0, 3600], strictly ascending, 1 to
 * OD_BUCKETS_MAX of them; a bad list changes nothing (the defaults stay) */
static void get_buckets(ctx_t *x, const yaml_node_t *n, const char *key, od_buckets_t *out)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(x, n, "%s must be a list of bucket bounds in seconds, e.g. [0.001, 0.0025, 0.005]", key);
        return;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > OD_BUCKETS_MAX) {
        problem(x, n, "%s must list 1 to %d bounds, got %zu", key, OD_BUCKETS_MAX, count);
        return;
    }
    od_buckets_t b = {.n = 0};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        if (want_scalar(x, e, key, "a list of numbers") != 0) return;
        const char *s = scalar(e);
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || errno != 0 || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
            !(v > 0 && v <= 3600)) {
            problem(x, e, "%s: each bound must be a number of seconds above 0 and at most 3600, got \"%s\"",
                    key, s);
            return;
        }
        if (b.n && v <= b.le[b.n - 1]) {
            problem(x, e, "%s must be strictly ascending: %g follows %g", key, v, b.le[b.n - 1]);
            return;
        }
        b.le[b.n++] = v;
    }
    *out = b;
}

static void k_processing_buckets(ctx_t *x, const yaml_node_t *n, const char *key)
{
    get_buckets(x, n, key, &x->c->metrics.processing);
}

static void k_queue_wait_buckets(ctx_t *x, const yaml_node_t *n, const char *key)
{
    get_buckets(x, n, key, &x->c->metrics.queue_wait);
}

typedef struct key {
    const char *name;
    apply_fn apply;
    const struct key *sub; /* a nested mapping */
} yaml_key_t;

static const yaml_key_t http_keys[] = {
    {"threads", k_threads, NULL}, {"max_body_bytes", k_max_body, NULL}, {NULL}};
static const yaml_key_t pool_keys[] = {
    {"script", k_script, NULL}, {"rules", k_rules, NULL}, {"results_kept", k_results_kept, NULL}, {NULL}};
static const yaml_key_t keep_keys[] = {{"files", k_keep_files, NULL}, {"bytes", k_keep_bytes, NULL}, {NULL}};
static const yaml_key_t profiling_keys[] = {{"enabled", k_enabled, NULL},
                                            {"listen", k_prof_listen, NULL},
                                            {"token", k_token, NULL},
                                            {"cpu_engine", k_cpu_engine, NULL},
                                            {"cpu_hz", k_cpu_hz, NULL},
                                            {"heap_sample_bytes", k_heap_sample, NULL},
                                            {"mutex_fraction", k_mutex_fraction, NULL},
                                            {"block_rate_ns", k_block_rate, NULL},
                                            {"max_seconds", k_max_seconds, NULL},
                                            {"schedule", k_schedule, NULL},
                                            {"output_dir", k_output_dir, NULL},
                                            {"keep", NULL, keep_keys},
                                            {NULL}};
static const yaml_key_t metrics_keys[] = {{"processing_buckets", k_processing_buckets, NULL},
                                          {"queue_wait_buckets", k_queue_wait_buckets, NULL},
                                          {NULL}};
static const yaml_key_t top_keys[] = {{"listen", k_listen, NULL},
                                      {"http", NULL, http_keys},
                                      {"pool", NULL, pool_keys},
                                      {"profiling", NULL, profiling_keys},
                                      {"metrics", NULL, metrics_keys},
                                      {"scenarios", k_scenarios, NULL},
                                      {NULL}};

static void apply_mapping(ctx_t *x, const yaml_node_t *map, const yaml_key_t *keys, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE) {
        if (is_plain_null(map)) return; /* "http:" with nothing under it: all defaults */
        int n = (int)strlen(prefix);
        if (n) /* "http." names the key "http" */
            problem(x, map, "%.*s must be a mapping of keys", n - 1, prefix);
        else
            problem(x, map, "the config must be a mapping of keys");
        return;
    }
    /* every key once */
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            problem(x, k, "keys must be plain names");
            continue;
        }
        char full[128];
        snprintf(full, sizeof(full), "%s%s", prefix, scalar(k));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *kq = yaml_document_get_node(x->doc, q->key);
            if (kq->type == YAML_SCALAR_NODE && strcmp(scalar(kq), scalar(k)) == 0) {
                problem(x, k, "duplicate key \"%s\"", full);
                goto Next;
            }
        }
        const yaml_key_t *e = keys;
        while (e->name && strcmp(e->name, scalar(k)) != 0)
            e++;
        if (e->name == NULL) {
            od_buf_t known = OD_BUF_INIT;
            for (const yaml_key_t *kk = keys; kk->name; kk++)
                od_buf_printf(&known, "%s%s", kk == keys ? "" : ", ", kk->name);
            problem(x, k, "unknown key \"%s\" (expected one of: %s)", full, known.base);
            od_buf_dispose(&known);
        } else if (e->sub) {
            char sub[130];
            snprintf(sub, sizeof(sub), "%s.", full);
            apply_mapping(x, v, e->sub, sub);
        } else {
            e->apply(x, v, full);
        }
    Next:;
    }
}

/* A cpu_hz the engine cannot deliver is refused, never silently under-sampled: the
 * itimer engine is held to the kernel tick. */
static void check_cpu_hz(ctx_t *x)
{
    od_cpu_engine_t choice = (od_cpu_engine_t)x->c->profiling.cpu_engine, e = od_cpu_engine_resolve(choice);
    int hz = x->c->profiling.cpu_hz, max = od_cpu_engine_max_hz(e);
    if (hz <= max) return;
    size_t line = x->have_cpu_hz ? x->cpu_hz_mark.line + 1 : 1,
           col = x->have_cpu_hz ? x->cpu_hz_mark.column + 1 : 1;
    const char *why = "";
    od_cpu_perf_available(&why);
    od_buf_printf(x->errors, "%s:%zu:%zu: cpu_hz %d exceeds the %s engine's limit of %d Hz", x->path, line,
                  col, hz, od_cpu_engine_label(e), max);
    if (e == OD_CPU_ENGINE_ITIMER)
        od_buf_printf(x->errors, " (the kernel tick, CONFIG_HZ)");
    else
        od_buf_printf(x->errors, " (measured: beyond it the sampling's own cost skews the shares)");
    if (choice == OD_CPU_ENGINE_AUTO) /* auto chose itimer: say why perf_event is out */
        od_buf_printf(x->errors, "; cpu_engine auto chose itimer because %s; use cpu_hz <= %d\n", why, max);
    else if (e == OD_CPU_ENGINE_ITIMER)
        od_buf_printf(x->errors, "; use cpu_engine: perf_event or cpu_hz <= %d\n", max);
    else
        od_buf_printf(x->errors, "; use cpu_hz <= %d\n", max);
    x->bad = 1;
}

void od_config_defaults(od_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->path = od_strdup("config/orderd.yaml");
    c->listen.host = od_strdup("127.0.0.1");
    c->listen.port = 8080;
    c->http.threads = 1;
    c->http.max_body_bytes = 65536;
    c->pool_files.script = od_strdup("lua/workers.lua");
    c->pool_files.rules = od_strdup("");
    c->pool_files.results_kept = 10000;
    c->profiling.enabled = 1;
    c->profiling.token = od_strdup("");
    c->profiling.cpu_engine = OD_CPU_ENGINE_AUTO;
    c->profiling.cpu_hz = 100;
    c->profiling.heap_sample_bytes = 524288;
    c->profiling.mutex_fraction = 1;
    c->profiling.block_rate_ns = 1;
    c->profiling.max_seconds = 300;
    c->profiling.schedule = od_strdup("lua/schedule.lua");
    c->profiling.output_dir = od_strdup("profiles");
    c->profiling.keep_files = 200;
    c->profiling.keep_bytes = 256ull << 20;
    static const double proc_below[] = {0.0001}, proc_above[] = {5, 10};
    static const double wait_below[] = {0.00001, 0.000025, 0.00005}, wait_above[] = {10, 30};
    fine_buckets(&c->metrics.processing, proc_below, 1, 0.00025, 2.5, proc_above, 2);
    fine_buckets(&c->metrics.queue_wait, wait_below, 3, 0.0001, 5, wait_above, 2);
    static const char *const defaults[] = {"lua/scenarios/normal.lua", "lua/scenarios/high.lua",
                                           "lua/scenarios/burst.lua"};
    c->nscenarios = OD_ARRAY_SIZE(defaults);
    c->scenarios = od_calloc(c->nscenarios, sizeof(char *));
    for (size_t i = 0; i < c->nscenarios; i++)
        c->scenarios[i] = od_strdup(defaults[i]);
    od_pool_config_defaults(&c->pool);
    c->generation = 1;
}

int od_config_load(od_config_t *c, const char *path, od_buf_t *errors)
{
    ctx_t x = {.path = path, .c = c, .errors = errors};
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        od_buf_printf(errors, "%s:1:1: cannot open the config: %s\n", path, strerror(errno));
        return -1;
    }
    free(c->path);
    c->path = od_strdup(path);

    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        od_buf_printf(errors, "%s:%zu:%zu: %s%s%s\n", path, parser.problem_mark.line + 1,
                      parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML",
                      parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(fp);
        return -1;
    }
    x.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL) apply_mapping(&x, root, top_keys, "");

    /* a second document is a mistake worth naming */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        if (yaml_document_get_root_node(&extra) != NULL) {
            yaml_node_t *n = yaml_document_get_root_node(&extra);
            problem(&x, n, "only one YAML document is allowed");
        }
        yaml_document_delete(&extra);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(fp);

    if (!x.bad && c->profiling.enabled && c->profiling.listen.host &&
        c->profiling.listen.port == c->listen.port && strcmp(c->profiling.listen.host, c->listen.host) == 0) {
        od_buf_printf(errors, "%s:1:1: profiling.listen must differ from listen (leave it \"\" to share)\n",
                      path);
        x.bad = 1;
    }
    if (!x.bad && c->profiling.enabled) check_cpu_hz(&x);
    return x.bad ? -1 : 0;
}

void od_config_dispose(od_config_t *c)
{
    free(c->path);
    free(c->listen.host);
    free(c->pool_files.script);
    free(c->pool_files.rules);
    free(c->profiling.listen.host);
    free(c->profiling.token);
    free(c->profiling.schedule);
    free(c->profiling.output_dir);
    for (size_t i = 0; i < c->nscenarios; i++)
        free(c->scenarios[i]);
    free(c->scenarios);
    memset(c, 0, sizeof(*c));
}

int od_listen_parse(const char *s, od_listen_t *out)
{
    const char *colon;
    char host[256];
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') return -1;
        size_t n = (size_t)(close - s - 1);
        if (n == 0 || n >= sizeof(host)) return -1;
        memcpy(host, s + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        size_t n = (size_t)(colon - s);
        if (n >= sizeof(host)) return -1;
        memcpy(host, s, n);
        host[n] = '\0';
        if (strchr(host, ':')) return -1; /* bare IPv6 needs brackets */
        if (n == 0) strcpy(host, "0.0.0.0");
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) return -1;
    out->host = od_strdup(host);
    out->port = (int)port;
    return 0;
}

int od_listen_is_loopback(const od_listen_t *l)
{
    if (l->host == NULL) return 1;
    if (strcmp(l->host, "localhost") == 0 || strcmp(l->host, "::1") == 0) return 1;
    struct in_addr a;
    if (inet_pton(AF_INET, l->host, &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
    return 0;
}
