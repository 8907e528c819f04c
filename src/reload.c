/* SIGHUP: reads and checks the whole config, then applies it live (reload.h). */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_diff.h"
#include "base/log.h"
#include "http/server.h"
#include "pool/pool.h"
#include "pool/rules.h"
#include "pool/stats.h"
#include "prof/cpu.h"
#include "prof/lockprof.h"
#include "scenario/scenario.h"
#include "schedule/schedule.h"

/* --- reading and checking ------------------------------------------------------------------- */

/* FNV-1a of a script's text: tells a reload that a file named by the same path changed */
static uint64_t text_hash(const char *path)
{
    if (path == NULL || path[0] == '\0') return 0;
    size_t len = 0;
    char *text = od_read_file(path, &len);
    if (text == NULL) return 1;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    free(text);
    return h | 2; /* never 0 (none) or 1 (unreadable) */
}

int od_reload_load(const char *path, int must_exist, od_config_t *cfg, od_scenario_set_t ***sets,
                   od_buf_t *errors)
{
    size_t before = errors->len;
    *sets = NULL;
    cfg->loaded_wall_ns = od_wall_ns();
    if (must_exist || access(path, F_OK) == 0) {
        if (od_config_load(cfg, path, errors) != 0) return -1;
    } else {
        od_warn("no %s here: using the built-in defaults", path);
    }
    /* what the config file alone cannot check: scripts, scenarios, exposure */
    od_pool_config_load(&cfg->pool, cfg->pool_files.script, errors);
    od_rules_check(cfg->pool_files.rules, errors);
    od_schedule_check(cfg->profiling.schedule, cfg->profiling.max_seconds, errors);
    *sets = od_calloc(cfg->nscenarios ? cfg->nscenarios : 1, sizeof(**sets));
    for (size_t i = 0; i < cfg->nscenarios; i++)
        (*sets)[i] = od_scenario_load(cfg->scenarios[i], errors);
    cfg->sets = *sets;
    if (cfg->profiling.enabled && cfg->profiling.token[0] == '\0') {
        const od_listen_t *l = cfg->profiling.listen.host ? &cfg->profiling.listen : &cfg->listen;
        if (!od_listen_is_loopback(l))
            od_buf_printf(errors,
                          "%s:1:1: refusing to serve the profiling paths on %s:%d (beyond loopback) without "
                          "profiling.token; set a token, bind profiling.listen to 127.0.0.1, or set "
                          "profiling.enabled: false\n",
                          cfg->path, l->host, l->port);
    }
    cfg->pool.rules_path = cfg->pool_files.rules; /* each worker loads its own rules state */
    cfg->rules_hash = text_hash(cfg->pool_files.rules);
    cfg->schedule_hash = text_hash(cfg->profiling.schedule);
    return errors->len == before ? 0 : -1;
}

/* --- generations ----------------------------------------------------------------------------- */

typedef struct gen {
    od_config_t cfg;
    od_scenario_set_t **sets;
    uint64_t retired_ns; /* when a newer one replaced it */
} gen_t;

/* main's thread only: the generations reloads built (the startup one is main's) */
static gen_t *current;
static gen_t *retired[OD_RELOAD_KEEP];
static size_t nretired;

static void gen_free(gen_t *g)
{
    for (size_t i = 0; g->sets && i < g->cfg.nscenarios; i++)
        od_scenario_set_free(g->sets[i]);
    free(g->sets);
    od_config_dispose(&g->cfg);
    free(g);
}

/* frees the superseded generations past their grace period (oldest first in the array) */
static void collect(void)
{
    uint64_t now = od_now_ns(), grace = (uint64_t)OD_RELOAD_GRACE_S * 1000000000ull;
    size_t kept = 0;
    for (size_t i = 0; i < nretired; i++) {
        if (now - retired[i]->retired_ns >= grace)
            gen_free(retired[i]);
        else
            retired[kept++] = retired[i];
    }
    nretired = kept;
}

/* logs each line of buf with a prefix, as one log line each */
static void log_lines(int level, const char *prefix, const od_buf_t *buf)
{
    const char *p = buf->base;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (len) od_log(level, "%s%.*s", prefix, len, p);
        p += len + (nl != NULL);
    }
}

static int refuse(od_app_t *app, const char *why)
{
    od_error("reload: %s; still serving generation %llu", why, (unsigned long long)app->cfg->generation);
    od_stats_inc(&app->stats->reloads_failed);
    return -1;
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* whether the scheduler must be started again for next */
static int schedule_changed(const od_config_t *a, const od_config_t *b)
{
    return !str_eq(a->profiling.schedule, b->profiling.schedule) || a->schedule_hash != b->schedule_hash ||
           a->profiling.max_seconds != b->profiling.max_seconds ||
           !str_eq(a->profiling.output_dir, b->profiling.output_dir) ||
           a->profiling.keep_files != b->profiling.keep_files ||
           a->profiling.keep_bytes != b->profiling.keep_bytes;
}

/* --- the reload -------------------------------------------------------------------------------- */

int od_reload(od_app_t *app)
{
    od_info("reload: SIGHUP: reading %s", app->config_path);
    collect();
    if (nretired == OD_RELOAD_KEEP) {
        char why[160];
        snprintf(why, sizeof(why), "refused: %d reloads within %d s (each generation is kept that long)",
                 OD_RELOAD_KEEP, OD_RELOAD_GRACE_S);
        return refuse(app, why);
    }

    gen_t *g = od_calloc(1, sizeof(*g));
    od_config_defaults(&g->cfg);
    od_buf_t errors = OD_BUF_INIT, diff = OD_BUF_INIT;
    if (od_reload_load(app->config_path, 1, &g->cfg, &g->sets, &errors) != 0) {
        log_lines(OD_LOG_ERROR, "", &errors);
        od_buf_dispose(&errors);
        gen_free(g);
        return refuse(app, "the config has problems (above): nothing changed");
    }
    od_buf_dispose(&errors);

    const od_config_t *old = app->cfg;
    od_config_t *next = &g->cfg;
    int cpu_hz_live = strcmp(od_cpu_engine_name(), "perf_event") == 0;
    size_t changes = od_config_diff(old, next, cpu_hz_live, &diff);
    next->generation = old->generation + 1;

    /* the pool first: it refuses only while draining, and then nothing else changes either */
    if (od_pool_reconfigure(app->pool, &next->pool) != 0) {
        od_buf_dispose(&diff);
        gen_free(g);
        return refuse(app, "the pool is draining");
    }
    od_buf_t scratch = OD_BUF_INIT; /* checked above: this only logs what the workers will run */
    od_rules_install(next->pool_files.rules, &scratch);
    od_buf_dispose(&scratch);
    od_lockprof_configure(next->profiling.mutex_fraction, next->profiling.block_rate_ns);
    if (cpu_hz_live && next->profiling.cpu_hz != old->profiling.cpu_hz) od_cpu_set_hz(next->profiling.cpu_hz);

    int resched = schedule_changed(old, next);
    if (resched) od_schedule_stop(app->sched); /* its captures end early and are written */

    app->srv->cfg = next; /* the swap: one atomic store, seen by the next handler call */
    app->cfg = next;
    app->sets = g->sets;
    if (resched) app->sched = od_schedule_start(next, app->pool, app->stats, app->scenarios);

    if (current) {
        current->retired_ns = od_now_ns();
        retired[nretired++] = current;
    }
    current = g;

    log_lines(OD_LOG_INFO, "reload: ", &diff);
    od_info("reload: generation %llu applied (%zu change%s%s)", (unsigned long long)next->generation, changes,
            changes == 1 ? "" : "s", resched ? "; schedule restarted" : "");
    od_buf_dispose(&diff);
    od_stats_inc(&app->stats->reloads_ok);
    return 0;
}

void od_reload_dispose(od_app_t *app)
{
    (void)app;
    for (size_t i = 0; i < nretired; i++)
        gen_free(retired[i]);
    nretired = 0;
    if (current) gen_free(current);
    current = NULL;
}
