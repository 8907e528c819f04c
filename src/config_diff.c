/* A reload's differences, key by key, through one table of keys: see config_diff.h. */
#include "config_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/cpu.h"

typedef enum kind {
    K_INT,
    K_BOOL,
    K_ENGINE,
    K_SIZE,
    K_U32,
    K_U64,
    K_I64,
    K_DOUBLE,
    K_STR,
    K_LISTEN,
    K_BUCKETS
} kind_t;

typedef enum live { LIVE, HANDOVER, CPU_HZ /* live where the engine allows */ } live_t;

typedef struct key {
    const char *name;
    kind_t kind;
    size_t off;
    live_t live;
} diff_key_t;

#define C(f) offsetof(od_config_t, f)
#define P(f) (offsetof(od_config_t, pool) + offsetof(od_pool_config_t, f))

static const diff_key_t keys[] = {
    {"listen", K_LISTEN, C(listen), HANDOVER},
    {"http.threads", K_INT, C(http.threads), HANDOVER},
    {"http.max_body_bytes", K_SIZE, C(http.max_body_bytes), HANDOVER},
    {"pool.script", K_STR, C(pool_files.script), LIVE},
    {"pool.rules", K_STR, C(pool_files.rules), LIVE},
    {"pool.results_kept", K_SIZE, C(pool_files.results_kept), HANDOVER},
    {"profiling.enabled", K_BOOL, C(profiling.enabled), HANDOVER},
    {"profiling.listen", K_LISTEN, C(profiling.listen), HANDOVER},
    {"profiling.token", K_STR, C(profiling.token), LIVE},
    {"profiling.cpu_engine", K_ENGINE, C(profiling.cpu_engine), HANDOVER},
    {"profiling.cpu_hz", K_INT, C(profiling.cpu_hz), CPU_HZ},
    {"profiling.heap_sample_bytes", K_U64, C(profiling.heap_sample_bytes), HANDOVER},
    {"profiling.mutex_fraction", K_INT, C(profiling.mutex_fraction), LIVE},
    {"profiling.block_rate_ns", K_I64, C(profiling.block_rate_ns), LIVE},
    {"profiling.max_seconds", K_INT, C(profiling.max_seconds), LIVE},
    {"profiling.schedule", K_STR, C(profiling.schedule), LIVE},
    {"profiling.output_dir", K_STR, C(profiling.output_dir), LIVE},
    {"profiling.keep.files", K_U64, C(profiling.keep_files), LIVE},
    {"profiling.keep.bytes", K_U64, C(profiling.keep_bytes), LIVE},
    {"metrics.processing_buckets", K_BUCKETS, C(metrics.processing), LIVE},
    {"metrics.queue_wait_buckets", K_BUCKETS, C(metrics.queue_wait), LIVE},
    /* lua/workers.lua */
    {"workers", K_INT, P(workers), LIVE},
    {"queue", K_SIZE, P(queue), LIVE},
    {"starvation_ms", K_U32, P(starvation_ms), LIVE},
    {"validate.max_amount", K_DOUBLE, P(validate.max_amount), LIVE},
    {"validate.max_items", K_INT, P(validate.max_items), LIVE},
    {"reserve.stripes", K_INT, P(reserve.stripes), LIVE},
    {"reserve.skus", K_INT, P(reserve.skus), LIVE},
    {"reserve.hold_us", K_U32, P(reserve.hold_us), LIVE},
    {"price.work_us", K_U32, P(price.work_us), LIVE},
    {"pay.ms_per_priority", K_U32, P(pay.ms_per_priority), LIVE},
    {"pay.fixed_ms", K_U32, P(pay.fixed_ms), LIVE},
    {"record.alloc_bytes", K_U32, P(record.alloc_bytes), LIVE},
    {"record.leak_bytes", K_U32, P(record.leak_bytes), LIVE},
};

#define AT(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* the value as the diff line shows it */
static void show(od_buf_t *out, const od_config_t *c, const diff_key_t *k)
{
    switch (k->kind) {
    case K_INT:
        od_buf_printf(out, "%d", *AT(c, k, const int));
        break;
    case K_BOOL:
        od_buf_puts(out, *AT(c, k, const int) ? "true" : "false");
        break;
    case K_ENGINE:
        od_buf_puts(out, od_cpu_engine_label((od_cpu_engine_t)*AT(c, k, const int)));
        break;
    case K_SIZE:
        od_buf_printf(out, "%zu", *AT(c, k, const size_t));
        break;
    case K_U32:
        od_buf_printf(out, "%u", (unsigned)*AT(c, k, const uint32_t));
        break;
    case K_U64:
        od_buf_printf(out, "%llu", (unsigned long long)*AT(c, k, const uint64_t));
        break;
    case K_I64:
        od_buf_printf(out, "%lld", (long long)*AT(c, k, const int64_t));
        break;
    case K_DOUBLE:
        od_buf_printf(out, "%g", *AT(c, k, const double));
        break;
    case K_STR: {
        const char *s = str_or_empty(*AT(c, k, char *const));
        /* a token is a secret: the log says that it changed, never what it is */
        if (strcmp(k->name, "profiling.token") == 0)
            od_buf_puts(out, s[0] ? "(set)" : "(none)");
        else
            od_buf_printf(out, "\"%s\"", s);
        break;
    }
    case K_LISTEN: {
        const od_listen_t *l = AT(c, k, const od_listen_t);
        if (l->host == NULL)
            od_buf_puts(out, "\"\"");
        else
            od_buf_printf(out, strchr(l->host, ':') ? "[%s]:%d" : "%s:%d", l->host, l->port);
        break;
    }
    case K_BUCKETS: {
        const od_buckets_t *b = AT(c, k, const od_buckets_t);
        if (b->n == 0)
            od_buf_puts(out, "[]");
        else
            od_buf_printf(out, "[%zu bounds, %g .. %g]", b->n, b->le[0], b->le[b->n - 1]);
        break;
    }
    }
}

static int differs(const od_config_t *a, const od_config_t *b, const diff_key_t *k)
{
    switch (k->kind) {
    case K_INT:
    case K_BOOL:
    case K_ENGINE:
        return *AT(a, k, const int) != *AT(b, k, const int);
    case K_SIZE:
        return *AT(a, k, const size_t) != *AT(b, k, const size_t);
    case K_U32:
        return *AT(a, k, const uint32_t) != *AT(b, k, const uint32_t);
    case K_U64:
        return *AT(a, k, const uint64_t) != *AT(b, k, const uint64_t);
    case K_I64:
        return *AT(a, k, const int64_t) != *AT(b, k, const int64_t);
    case K_DOUBLE:
        return *AT(a, k, const double) != *AT(b, k, const double);
    case K_STR:
        return strcmp(str_or_empty(*AT(a, k, char *const)), str_or_empty(*AT(b, k, char *const))) != 0;
    case K_LISTEN: {
        const od_listen_t *x = AT(a, k, const od_listen_t), *y = AT(b, k, const od_listen_t);
        return x->port != y->port || strcmp(str_or_empty(x->host), str_or_empty(y->host)) != 0 ||
               (x->host == NULL) != (y->host == NULL);
    }
    case K_BUCKETS: {
        const od_buckets_t *x = AT(a, k, const od_buckets_t), *y = AT(b, k, const od_buckets_t);
        return x->n != y->n || memcmp(x->le, y->le, x->n * sizeof(x->le[0])) != 0;
    }
    }
    return 0;
}

/* puts the running value back into next (the strings are copied: each config owns its own) */
static void keep_running(const od_config_t *running, od_config_t *next, const diff_key_t *k)
{
    if (k->kind == K_STR) {
        char **s = AT(next, k, char *);
        free(*s);
        *s = od_strdup(str_or_empty(*AT(running, k, char *const)));
    } else if (k->kind == K_LISTEN) {
        od_listen_t *l = AT(next, k, od_listen_t);
        const od_listen_t *r = AT(running, k, const od_listen_t);
        free(l->host);
        l->host = r->host ? od_strdup(r->host) : NULL;
        l->port = r->port;
    } else {
        size_t n = k->kind == K_BUCKETS                                          ? sizeof(od_buckets_t)
                   : k->kind == K_SIZE                                           ? sizeof(size_t)
                   : k->kind == K_U64 || k->kind == K_I64 || k->kind == K_DOUBLE ? 8
                                                                                 : 4;
        memcpy(AT(next, k, char), AT(running, k, const char), n);
    }
}

/* a script named by the same path whose text changed (its values are not in the config) */
static void same_path_text(const char *key, const char *path_old, const char *path_new, uint64_t h_old,
                           uint64_t h_new, size_t *n, od_buf_t *out)
{
    if (str_or_empty(path_new)[0] == '\0' || strcmp(str_or_empty(path_old), path_new) != 0 || h_old == h_new)
        return;
    od_buf_printf(out, "%s: %s: its text changed\n", key, path_new);
    (*n)++;
}

size_t od_config_diff(const od_config_t *running, od_config_t *next, int cpu_hz_live, od_buf_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < OD_ARRAY_SIZE(keys); i++) {
        const diff_key_t *k = &keys[i];
        if (!differs(running, next, k)) continue;
        od_buf_printf(out, "%s: ", k->name);
        show(out, running, k);
        od_buf_puts(out, " -> ");
        show(out, next, k);
        if (k->live == HANDOVER || (k->live == CPU_HZ && !cpu_hz_live)) {
            od_buf_puts(out, k->live == CPU_HZ
                                 ? " (the itimer engine read its rate at exec: needs a hand-over, "
                                   "not applied)\n"
                                 : " (needs a hand-over: not applied)\n");
            keep_running(running, next, k);
        } else {
            od_buf_putc(out, '\n');
        }
        n++;
    }
    same_path_text("pool.rules", running->pool_files.rules, next->pool_files.rules, running->rules_hash,
                   next->rules_hash, &n, out);
    same_path_text("profiling.schedule", running->profiling.schedule, next->profiling.schedule,
                   running->schedule_hash, next->schedule_hash, &n, out);
    if (running->nscenarios != next->nscenarios) {
        od_buf_printf(out, "scenarios: %zu files -> %zu files\n", running->nscenarios, next->nscenarios);
        n++;
    } else {
        for (size_t i = 0; i < next->nscenarios; i++)
            if (strcmp(running->scenarios[i], next->scenarios[i]) != 0) {
                od_buf_printf(out, "scenarios[%zu]: \"%s\" -> \"%s\"\n", i, running->scenarios[i],
                              next->scenarios[i]);
                n++;
            }
    }
    return n;
}
