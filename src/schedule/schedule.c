/* The scheduler thread: the stats snapshots, the `when` calls and the captures they fire;
 * see schedule.h. */
#include "schedule/schedule.h"

#include <errno.h>
#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hist.h"
#include "base/log.h"
#include "prof/capture.h"
#include "prof/threads.h"
#include "schedule/schedule_load.h"
#include "schedule/capture_store.h"
#include "lua/lua_layer.h"

#define TICK_NS 1000000000ull             /* when(s) is evaluated this often */
#define ERROR_LOG_EVERY_NS 60000000000ull /* a failing when(s) is logged at most this often */

static const char *const trigger_names[] = {"at", "every", "when"};

/* --- the scheduler ----------------------------------------------------------------------------- */

typedef struct job {
    struct od_schedule *s;
    od_schedule_entry_t *e;
    od_capture_kind_t kind;
    od_schedule_trigger_t trigger;
    pthread_t thread;
    int used; /* scheduler thread only */
    int done; /* atomic: the thread finished */
} job_t;

struct od_schedule {
    char *path;
    int max_seconds;
    od_capture_store_t *store; /* where the captures go */
    od_pool_t *pool;
    od_stats_t *stats;
    od_scenario_state_t *scenarios; /* borrowed: which is running, for the snapshots */
    lua_State *L;                   /* scheduler thread only */
    od_schedule_entry_t *entries;
    size_t n;
    job_t jobs[OD_SCHEDULE_JOBS];

    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping, for the condition */
    pthread_cond_t wake;
    int stopping; /* atomic */
    uint64_t start_ns;

    /* the previous snapshot, for rates and the recent percentiles */
    uint64_t prev_ns, prev_accepted, prev_processed, prev_errors, prev_rejected;
    od_hist_t *prev_hist, *cur_hist;
};

static int is_stopping(void *arg)
{
    od_schedule_t *s = arg;
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

/* hands one capture to the store, which names it, writes it and lists it in the manifest */
static void store(od_schedule_t *s, job_t *j, const od_buf_t *data, const char *ext, const char *ct,
                  uint64_t started_wall_ns, double seconds)
{
    od_schedule_entry_t *e = j->e;
    od_capture_record_t rec = {.kind = od_capture_kind_name(j->kind),
                               .label = e->label,
                               .format = od_capture_kind_has_format(j->kind) ? e->fmt_name : ext,
                               .ext = ext,
                               .content_type = ct,
                               .started_wall_ns = started_wall_ns,
                               .seconds = seconds,
                               .trigger = trigger_names[j->trigger],
                               .script = s->path,
                               .line = e->line};
    od_capture_store_put(s->store, &rec, data);
}

static void *capture_main(void *arg)
{
    job_t *j = arg;
    od_schedule_t *s = j->s;
    od_schedule_entry_t *e = j->e;
    const char *kind = od_capture_kind_name(j->kind);
    char tname[32];
    snprintf(tname, sizeof(tname), OD_THREAD_PROF_PREFIX "capture-%s", kind); /* a profiler thread */
    od_thread_register(tname);
    od_thread_set_state("capturing");

    uint64_t started = od_wall_ns();
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    const char *ext = NULL, *ct = NULL;
    int timed = od_capture_kind_timed(j->kind);
    double seconds = timed ? e->seconds : 0;
    int rc;
    if (!timed && e->seconds_set && j->kind != OD_CAP_GC) {
        /* an explicit window on a snapshot kind: what happened during it, as /profile/KIND?seconds= */
        od_profile_t p;
        seconds = e->seconds;
        rc = od_capture_delta(j->kind, seconds, is_stopping, s, &p, &err);
        if (rc == 0) rc = od_prof_write(&p, e->fmt, &out, &err);
        ext = od_prof_format_ext(e->fmt, p.kind);
        ct = od_prof_format_content_type(e->fmt);
        od_profile_dispose(&p);
    } else {
        rc = od_capture(j->kind, seconds, e->fmt, is_stopping, s, &out, &ext, &ct, &err);
    }
    if (rc == OD_CAPTURE_BUSY)
        od_warn("%s:%d: schedule: %s capture skipped: one is already running", s->path, e->line, kind);
    else if (rc != 0)
        od_error("%s:%d: schedule: %s capture failed: %s", s->path, e->line, kind,
                 err.len ? err.base : "unknown error");
    else
        store(s, j, &out, ext ? ext : "bin", ct ? ct : "application/octet-stream", started, seconds);
    od_buf_dispose(&out);
    od_buf_dispose(&err);
    __atomic_sub_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
    od_thread_unregister();
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reap(od_schedule_t *s, int all)
{
    for (int i = 0; i < OD_SCHEDULE_JOBS; i++) {
        job_t *j = &s->jobs[i];
        if (j->used && (all || __atomic_load_n(&j->done, __ATOMIC_ACQUIRE))) {
            pthread_join(j->thread, NULL);
            j->used = 0;
        }
    }
}

static void fire(od_schedule_t *s, od_schedule_entry_t *e, uint64_t now)
{
    if (__atomic_load_n(&e->running, __ATOMIC_ACQUIRE) > 0) {
        od_warn("%s:%d: schedule: skipped: the entry's previous capture is still running", s->path, e->line);
        return;
    }
    e->fired = 1;
    e->last_fired_ns = now;
    for (int k = 0; k < e->nkinds; k++) {
        job_t *j = NULL;
        for (int i = 0; i < OD_SCHEDULE_JOBS && j == NULL; i++)
            if (!s->jobs[i].used) j = &s->jobs[i];
        if (j == NULL) {
            od_warn("%s:%d: schedule: %s capture skipped: %d captures already in flight", s->path, e->line,
                    od_capture_kind_name(e->kinds[k]), OD_SCHEDULE_JOBS);
            continue;
        }
        *j = (job_t){.s = s, .e = e, .kind = e->kinds[k], .trigger = e->trigger, .used = 1};
        __atomic_add_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
        int rc = pthread_create(&j->thread, NULL, capture_main, j);
        if (rc != 0) {
            od_error("%s:%d: schedule: cannot start a capture thread: %s", s->path, e->line, strerror(rc));
            __atomic_sub_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
            j->used = 0;
        }
    }
}

/* the stats snapshot handed to when(s) */
typedef struct snapshot {
    double queue_fill, accepted_rate, processed_rate, rejected_rate, error_rate, p50_ms, p99_ms, rss_mb,
        uptime;
    uint64_t queue_length, queue_capacity, accepted, processed, errors, rejected;
    int in_flight, workers;
    char scenario[OD_SCENARIO_NAME_MAX + 1];
} snapshot_t;

static void take_snapshot(od_schedule_t *s, uint64_t now, snapshot_t *out)
{
    od_pool_snapshot_t ps;
    od_pool_snapshot(s->pool, &ps);
    od_stats_t *st = s->stats;
    *out = (snapshot_t){0};
    out->queue_length = ps.queue_length;
    out->queue_capacity = ps.capacity;
    out->queue_fill = ps.capacity ? (double)ps.queue_length / (double)ps.capacity : 0;
    out->in_flight = ps.active;
    out->workers = ps.workers;
    out->accepted = od_stats_get(&st->accepted);
    out->processed = od_stats_get(&st->processed);
    out->errors = od_stats_get(&st->errors);
    out->rejected = od_stats_get(&st->rejected);
    double dt = (double)(now - s->prev_ns) / 1e9;
    if (dt <= 0) dt = 1;
    out->accepted_rate = (double)(out->accepted - s->prev_accepted) / dt;
    out->processed_rate = (double)(out->processed - s->prev_processed) / dt;
    out->error_rate = (double)(out->errors - s->prev_errors) / dt;
    out->rejected_rate = (double)(out->rejected - s->prev_rejected) / dt;
    /* processing-time percentiles of the orders finished since the last snapshot */
    od_stats_hist_copy(st, s->cur_hist);
    od_hist_t *d = s->prev_hist; /* becomes the difference, then the next "previous" */
    for (size_t i = 0; i < d->ncounts; i++)
        d->counts[i] = s->cur_hist->counts[i] - d->counts[i];
    d->total = s->cur_hist->total - d->total;
    d->min = 0;
    d->max = s->cur_hist->max;
    out->p50_ms = (double)od_hist_percentile(d, 50) / 1000.0;
    out->p99_ms = (double)od_hist_percentile(d, 99) / 1000.0;
    od_hist_copy(s->prev_hist, s->cur_hist);
    out->rss_mb = (double)od_rss_bytes() / (1024.0 * 1024.0);
    out->uptime = (double)(now - s->start_ns) / 1e9;
    od_scenario_state_current(s->scenarios, out->scenario, sizeof(out->scenario));
    s->prev_ns = now;
    s->prev_accepted = out->accepted;
    s->prev_processed = out->processed;
    s->prev_errors = out->errors;
    s->prev_rejected = out->rejected;
}

typedef struct when_call {
    int ref;
    const snapshot_t *snap;
    int result;
} when_call_t;

/* protected: when(s) → c->result */
static int when_trampoline(lua_State *L)
{
    when_call_t *c = lua_touserdata(L, 1);
    const snapshot_t *x = c->snap;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    lua_createtable(L, 0, 20);
#define NUM(name, v)                                                                                         \
    do {                                                                                                     \
        lua_pushnumber(L, (lua_Number)(v));                                                                  \
        lua_setfield(L, -2, name);                                                                           \
    } while (0)
#define INT(name, v)                                                                                         \
    do {                                                                                                     \
        lua_pushinteger(L, (lua_Integer)(v));                                                                \
        lua_setfield(L, -2, name);                                                                           \
    } while (0)
    NUM("queue_fill", x->queue_fill);
    INT("queue_length", x->queue_length);
    INT("queue_capacity", x->queue_capacity);
    INT("in_flight", x->in_flight);
    INT("workers", x->workers);
    INT("accepted", x->accepted);
    INT("processed", x->processed);
    INT("errors", x->errors);
    INT("rejected", x->rejected);
    NUM("accepted_rate", x->accepted_rate);
    NUM("processed_rate", x->processed_rate);
    NUM("error_rate", x->error_rate);
    NUM("rejected_rate", x->rejected_rate);
    NUM("p50_ms", x->p50_ms);
    NUM("p99_ms", x->p99_ms);
    NUM("rss_mb", x->rss_mb);
    NUM("uptime", x->uptime);
#undef NUM
#undef INT
    lua_pushstring(L, x->scenario);
    lua_setfield(L, -2, "scenario");
    lua_call(L, 1, 1);
    c->result = lua_toboolean(L, -1);
    return 0;
}

/* after a memory error with the state still full: whatever the script keeps is what grew, so
 * load it afresh into a new state and point the entries at its when functions (the same
 * script, the same list) */
static void reset_state(od_schedule_t *s)
{
    lua_State *L = od_schedule_lua_new();
    od_schedule_entry_t *fresh;
    size_t n;
    od_buf_t errors = OD_BUF_INIT;
    if (od_schedule_load(L, s->path, s->max_seconds, 1, &fresh, &n, &errors) != 0 || n != s->n) {
        od_error("schedule: %s no longer loads as it did at startup; keeping the old state%s%s", s->path,
                 errors.len ? ":\n" : "", errors.len ? errors.base : "");
        free(fresh);
        od_lua_close(L);
        od_buf_dispose(&errors);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s->entries[i].when_ref = fresh[i].when_ref;
        s->entries[i].kept = 0;
    }
    free(fresh);
    od_buf_dispose(&errors);
    od_lua_close(s->L);
    s->L = L;
}

static void evaluate(od_schedule_t *s, od_schedule_entry_t *e, const snapshot_t *snap, uint64_t now)
{
    lua_pushcfunction(s->L, when_trampoline);
    when_call_t c = {.ref = e->when_ref, .snap = snap};
    lua_pushlightuserdata(s->L, &c);
    od_buf_t err = OD_BUF_INIT;
    size_t before = od_lua_memory(s->L);
    int rc = od_lua_call(s->L, 1, 0, &err);
    size_t after = od_lua_memory(s->L);
    if (rc == 0) /* what this entry leaves behind (globals, caches), net */
        e->kept = after >= before ? e->kept + (after - before)
                                  : e->kept - (e->kept < before - after ? e->kept : before - after);
    /* A refused allocation that the collection gave back changes nothing.  But when what the
     * script keeps fills half the state and this entry is the one that kept the most, the
     * next calls would fail too: start the script afresh.  (An entry that merely needed a lot
     * while another hoards fails alone, until the hoarder's own call fails.) */
    if (rc == OD_LUA_ERRMEM && after > OD_SCHEDULE_STATE_MEMORY / 2) {
        od_schedule_entry_t *top = e;
        for (size_t i = 0; i < s->n; i++)
            if (s->entries[i].kept > top->kept) top = &s->entries[i];
        if (top == e || top->kept < OD_SCHEDULE_STATE_MEMORY / 4) {
            od_warn("schedule: %s: what the script keeps (globals) fills %.1f of its state's %.0f MiB and "
                    "%s:%d %s: reloading the script into a new state, globals start afresh",
                    s->path, (double)after / 1048576.0, OD_SCHEDULE_STATE_MEMORY / 1048576.0, s->path,
                    e->line,
                    top == e ? "(which kept the most) just ran out of memory" : "just ran out of memory");
            reset_state(s);
        }
    }
    if (rc != 0) {
        if (e->err_logged_ns == 0 || now - e->err_logged_ns >= ERROR_LOG_EVERY_NS) {
            if (e->err_suppressed)
                od_error("%s:%d: schedule: when(s) failed: %s (and %u times since last logged)", s->path,
                         e->line, err.base, e->err_suppressed);
            else
                od_error("%s:%d: schedule: when(s) failed: %s", s->path, e->line, err.base);
            e->err_logged_ns = now;
            e->err_suppressed = 0;
        } else {
            e->err_suppressed++;
        }
        od_buf_dispose(&err);
        return;
    }
    od_buf_dispose(&err);
    if (c.result) {
        od_info("%s:%d: schedule: when(s) is true: capturing", s->path, e->line);
        fire(s, e, now);
    }
}

static void *scheduler_main(void *arg)
{
    od_schedule_t *s = arg;
    od_thread_register("scheduler");
    od_thread_mark_profiler(); /* SPEC names it "scheduler"; it does the profiler's work */
    uint64_t next_tick = s->start_ns + TICK_NS;
    for (size_t i = 0; i < s->n; i++)
        s->entries[i].next_ns = s->start_ns + s->entries[i].period_ns;

    while (!is_stopping(s)) {
        od_thread_set_state("running");
        uint64_t now = od_now_ns();
        reap(s, 0);
        for (size_t i = 0; i < s->n; i++) {
            od_schedule_entry_t *e = &s->entries[i];
            if (e->trigger == OD_TRIGGER_AT && !e->fired && now >= e->next_ns) {
                fire(s, e, now);
                e->fired = 1;
            } else if (e->trigger == OD_TRIGGER_EVERY && now >= e->next_ns) {
                fire(s, e, now);
                e->next_ns += e->period_ns;
                if (e->next_ns <= now) e->next_ns = now + e->period_ns; /* fell behind: no burst */
            }
        }
        if (now >= next_tick) {
            snapshot_t snap;
            take_snapshot(s, now, &snap);
            for (size_t i = 0; i < s->n; i++) {
                od_schedule_entry_t *e = &s->entries[i];
                if (e->trigger != OD_TRIGGER_WHEN || e->when_ref == LUA_NOREF) continue;
                if (e->fired && now - e->last_fired_ns < e->period_ns) continue; /* cooling down */
                if (__atomic_load_n(&e->running, __ATOMIC_ACQUIRE) > 0) continue;
                evaluate(s, e, &snap, now);
            }
            next_tick += TICK_NS;
            if (next_tick <= now) next_tick = now + TICK_NS;
        }

        /* sleep until the next tick or due entry; od_schedule_stop wakes us */
        uint64_t wake = next_tick;
        for (size_t i = 0; i < s->n; i++) {
            od_schedule_entry_t *e = &s->entries[i];
            if ((e->trigger == OD_TRIGGER_EVERY || (e->trigger == OD_TRIGGER_AT && !e->fired)) &&
                e->next_ns < wake)
                wake = e->next_ns;
        }
        od_thread_set_state("idle");
        pthread_mutex_lock(&s->lock);
        if (!is_stopping(s)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            uint64_t delay = wake > od_now_ns() ? wake - od_now_ns() : 0;
            t += delay;
            ts.tv_sec = (time_t)(t / 1000000000ull);
            ts.tv_nsec = (long)(t % 1000000000ull);
            if (delay > 0) pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
    }
    reap(s, 1); /* the captures see is_stopping and end their windows early */
    od_thread_unregister();
    return NULL;
}

od_schedule_t *od_schedule_start(const od_config_t *cfg, od_pool_t *pool, od_stats_t *stats,
                                 od_scenario_state_t *scenarios)
{
    const char *path = cfg->profiling.schedule;
    if (!cfg->profiling.enabled || path == NULL || path[0] == '\0') return NULL;
    od_schedule_t *s = od_calloc(1, sizeof(*s));
    s->path = od_strdup(path);
    s->max_seconds = cfg->profiling.max_seconds;
    s->pool = pool;
    s->stats = stats;
    s->scenarios = scenarios;
    s->L = od_schedule_lua_new();
    od_buf_t errors = OD_BUF_INIT;
    if (od_schedule_load(s->L, path, cfg->profiling.max_seconds, 1, &s->entries, &s->n, &errors) != 0) {
        od_error("schedule: %s does not load; no scheduled captures:\n%s", path, errors.base);
        od_buf_dispose(&errors);
        od_lua_close(s->L);
        free(s->path);
        free(s);
        return NULL;
    }
    od_buf_dispose(&errors);
    s->store = od_capture_store_create(cfg->profiling.output_dir, cfg->profiling.keep_files,
                                       cfg->profiling.keep_bytes);

    s->prev_hist = od_hist_create();
    s->cur_hist = od_hist_create();
    s->start_ns = s->prev_ns = od_now_ns();
    od_stats_hist_copy(stats, s->prev_hist);
    s->prev_accepted = od_stats_get(&stats->accepted);
    s->prev_processed = od_stats_get(&stats->processed);
    s->prev_errors = od_stats_get(&stats->errors);
    s->prev_rejected = od_stats_get(&stats->rejected);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);

    /* main takes its signals with sigwait: keep them off these threads (the first scheduler
     * starts before main blocks them, and a SIGHUP while main is busy reloading would be
     * delivered here and end the process) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        od_error("schedule: cannot start the scheduler thread: %s", strerror(rc));
        s->thread = 0;
        od_schedule_stop(s);
        return NULL;
    }
    od_info("schedule: %s: %zu entr%s, captures in %s (keep %llu files, %llu bytes)", path, s->n,
            s->n == 1 ? "y" : "ies", cfg->profiling.output_dir, (unsigned long long)cfg->profiling.keep_files,
            (unsigned long long)cfg->profiling.keep_bytes);
    return s;
}

void od_schedule_stop(od_schedule_t *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&s->lock);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->thread) pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    od_lua_close(s->L);
    od_hist_destroy(s->prev_hist);
    od_hist_destroy(s->cur_hist);
    od_capture_store_destroy(s->store);
    free(s->entries);
    free(s->path);
    free(s);
}
