#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "scenario/scenario.h"
#include "schedule/scenario_state.h"
#include "base/json.h"
#include "base/log.h"
#include "pool/pool.h"
#include "prof/trace.h"
#include "http/metrics.h"
#include "http/routes.h"
#include "http/predecessor.h"
#include "http/server.h"

/* --- POST /orders ------------------------------------------------------------------------- */

static int content_type_is_json(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0) return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char json[] = "application/json";
    size_t n = sizeof(json) - 1;
    if (v.len < n || strncasecmp(v.base, json, n) != 0) return 0;
    return v.len == n || v.base[n] == ';' || v.base[n] == ' ';
}

static int post_order(od_req_t *r)
{
    h2o_req_t *req = r->h;
    od_server_t *srv = r->srv;
    if (!content_type_is_json(req))
        return od_respond_error(r, 415, NULL,
                                "send the order as JSON with \"Content-Type: application/json\"");

    const char *in = req->entity.base, *pid;
    size_t len = in ? req->entity.len : 0, pid_len;
    /* the duplicate check's index slot is a cache miss with a long queue: asked for now, it
     * arrives while the body is parsed */
    if (len && od_json_first_member(in, len, "id", &pid, &pid_len))
        od_results_prefetch(srv->results, pid, pid_len);
    od_order_error_t err;
    od_order_t *o = od_order_parse(in, len, &err);
    if (o == NULL) return od_respond_error(r, err.status, err.field, "%s", err.message);

    od_order_receipt_t rcpt;
    od_submit_result_t rc = od_pool_submit(srv->pool, o, &rcpt);
    if (rc != OD_SUBMIT_QUEUED) {
        char id[OD_ORDER_ID_MAX + 1];
        snprintf(id, sizeof(id), "%s", od_order_id(o));
        od_order_free(o);
        switch (rc) {
        case OD_SUBMIT_DUPLICATE:
            return od_respond_error(r, 409, "id", "an order with id \"%s\" already exists", id);
        case OD_SUBMIT_DRAINING:
            od_stats_inc(&srv->stats->rejected);
            od_stats_inc(&srv->stats->rejected_draining);
            od_add_header(r, "Retry-After", "5");
            return od_respond_error(r, 503, NULL, "the server is shutting down; the order was not accepted");
        default:
            od_stats_inc(&srv->stats->rejected);
            od_stats_inc(&srv->stats->rejected_full);
            od_add_header(r, "Retry-After", "1");
            return od_respond_error(r, 503, NULL,
                                    "the order queue is full; the order was not accepted, retry later");
        }
    }
    /* the store owns o now, and a worker may already have finished (even freed) it: the
     * receipt holds the copies */
    char created[32];
    size_t idlen = strlen(rcpt.id);
    const char *id = rcpt.id;
    int priority = rcpt.priority;
    od_format_time(rcpt.created_wall_ns, created);

    /* the hot path: built by hand, no printf */
    h2o_mem_pool_t *pool = &req->pool;
    char *loc = h2o_mem_alloc_pool(pool, sizeof("/orders/") - 1 + idlen);
    memcpy(loc, "/orders/", sizeof("/orders/") - 1);
    memcpy(loc + sizeof("/orders/") - 1, id, idlen);
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, loc, sizeof("/orders/") - 1 + idlen);
    od_body_t b;
    od_body_init(&b, r, 160);
    char *body = b.base;
    size_t n = 0;
#define PUT(s, l) (memcpy(body + n, (s), (l)), n += (l))
#define PUTS(lit) PUT(lit, sizeof(lit) - 1)
    PUTS("{\"id\":\"");
    PUT(id, idlen);
    PUTS("\",\"state\":\"queued\",\"priority\":");
    body[n++] = (char)('0' + priority);
    PUTS(",\"created_at\":\"");
    PUT(created, 24);
    PUTS("\"}\n");
#undef PUTS
#undef PUT
    body[n] = '\0';
    b.len = n;
    return od_respond_body(r, 202, "application/json", &b);
}

/* --- GET /orders/{id} ---------------------------------------------------------------------- */

static int get_order(od_req_t *r)
{
    const char *id = r->path + strlen("/orders/");
    size_t len = r->path_len - strlen("/orders/");
    if (!od_order_id_valid(id, len)) return od_respond_error(r, 404, "id", "no order with that id");
    char key[OD_ORDER_ID_MAX + 1];
    memcpy(key, id, len);
    key[len] = '\0';
    od_buf_t json = OD_BUF_INIT;
    if (od_results_json(r->srv->results, key, &json) != 0) {
        int old = od_predecessor_json(key, &json); /* after a hand-over: the old process's orders */
        if (old == 0) return od_respond_json(r, 200, &json);
        od_buf_dispose(&json);
        if (old == 1 && od_predecessor_defer(r, key) == 0) return 0;
        return od_respond_error(r, 404, "id", "no order \"%s\" (unknown, or evicted from the results kept)",
                                key);
    }
    return od_respond_json(r, 200, &json);
}

/* --- GET /stats, /health ---------------------------------------------------------------- */

/* "key":{"p50":...,"max":...}, in ms, and a comma */
static void percentiles(od_body_t *j, const char *key, const od_hist_t *h)
{
    od_body_printf(j,
                   "\"%s\":{\"p50\":%.3f,\"p90\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},",
                   key, od_hist_percentile(h, 50) / 1000.0, od_hist_percentile(h, 90) / 1000.0,
                   od_hist_percentile(h, 95) / 1000.0, od_hist_percentile(h, 99) / 1000.0,
                   od_hist_percentile(h, 99.9) / 1000.0, (h->total ? h->max : 0) / 1000.0);
}

/* the Go seed's fields first, with its meanings (active_workers: the worker count) */
static int get_stats(od_req_t *r)
{
    od_server_t *srv = r->srv;
    od_stats_t *st = srv->stats;
    od_pool_snapshot_t snap;
    od_pool_snapshot(srv->pool, &snap);
    od_hist_t *h = od_hist_create();
    od_stats_hist_copy(st, h);
    uint64_t processed = od_stats_get(&st->processed);
    od_body_t j;
    od_body_init(&j, r, 1024);
    od_body_printf(
        &j,
        "{\"total_processed\":%llu,\"success_count\":%llu,\"error_count\":%llu,"
        "\"average_process_time_ms\":%.3f,\"active_workers\":%d,\"busy_workers\":%d,\"queue_length\":%zu,"
        "\"uptime_seconds\":%.3f,",
        (unsigned long long)processed, (unsigned long long)od_stats_get(&st->success),
        (unsigned long long)od_stats_get(&st->errors), od_hist_mean(h) / 1000.0, snap.workers, snap.active,
        snap.queue_length, (double)(od_now_ns() - st->start_ns) / 1e9);
    od_body_printf(
        &j,
        "\"accepted\":%llu,\"rejected\":%llu,\"rejected_queue_full\":%llu,\"rejected_draining\":%llu,"
        "\"queue_capacity\":%zu,\"queue_by_priority\":{\"1\":%zu,\"2\":%zu,\"3\":%zu},"
        "\"in_flight\":%d,\"workers\":%d,\"draining\":%s,\"starvation_picks\":%llu,",
        (unsigned long long)od_stats_get(&st->accepted), (unsigned long long)od_stats_get(&st->rejected),
        (unsigned long long)od_stats_get(&st->rejected_full),
        (unsigned long long)od_stats_get(&st->rejected_draining), snap.capacity, snap.by_priority[0],
        snap.by_priority[1], snap.by_priority[2], snap.active, snap.workers, snap.draining ? "true" : "false",
        (unsigned long long)snap.starvation_picks);
    percentiles(&j, "processing_time_ms", h);
    od_stats_wait_copy(st, h);
    percentiles(&j, "queue_wait_ms", h);
    const od_config_t *cfg = srv->cfg;
    char loaded[32];
    od_format_time(cfg->loaded_wall_ns, loaded);
    od_body_printf(&j,
                   "\"results_stored\":%zu,\"rss_bytes\":%llu,\"config_generation\":%llu,"
                   "\"config_loaded_at\":\"%s\"}",
                   od_results_count(srv->results), (unsigned long long)od_rss_bytes(),
                   (unsigned long long)cfg->generation, loaded);
    od_hist_destroy(h);
    return od_respond_body_json(r, 200, &j);
}

static int get_health(od_req_t *r)
{
    od_pool_snapshot_t snap;
    od_pool_snapshot(r->srv->pool, &snap);
    int full = snap.queue_length >= snap.capacity;
    int healthy = !full && !snap.draining;
    char now[32];
    od_format_time(od_wall_ns(), now);
    od_body_t j;
    od_body_init(&j, r, 256);
    od_body_printf(&j,
                   "{\"status\":\"%s\",\"timestamp\":\"%s\",\"pool\":{\"healthy\":%s,\"queue_length\":%zu,"
                   "\"queue_capacity\":%zu,\"workers\":%d,\"draining\":%s}}",
                   healthy         ? "healthy"
                   : snap.draining ? "draining"
                                   : "overloaded",
                   now, healthy ? "true" : "false", snap.queue_length, snap.capacity, snap.workers,
                   snap.draining ? "true" : "false");
    return od_respond_body_json(r, healthy ? 200 : 503, &j);
}

/* --- scenarios ------------------------------------------------------------------------------ */

static int get_scenarios(od_req_t *r)
{
    od_server_t *srv = r->srv;
    const od_config_t *cfg = srv->cfg; /* one generation: its sets match its count */
    od_buf_t j = OD_BUF_INIT;
    od_buf_puts(&j, "{\"files\":[");
    for (size_t i = 0; i < cfg->nscenarios; i++) {
        if (i) od_buf_putc(&j, ',');
        od_scenario_set_json(cfg->sets[i], &j);
    }
    od_buf_puts(&j, "],\"running\":[");
    char running[OD_SCENARIO_RUNNING_MAX][OD_SCENARIO_NAME_MAX + 1];
    size_t n = od_scenario_state_running(srv->scenario_state, running, OD_SCENARIO_RUNNING_MAX);
    for (size_t i = 0; i < n; i++) {
        if (i) od_buf_putc(&j, ',');
        od_buf_json_str(&j, running[i]);
    }
    od_buf_puts(&j, "]}");
    return od_respond_json(r, 200, &j);
}

/* POST /scenarios/{name}/start | /end */
static int post_scenario(od_req_t *r)
{
    const char *p = r->path + strlen("/scenarios/");
    size_t len = r->path_len - strlen("/scenarios/");
    const char *slash = memchr(p, '/', len);
    if (slash == NULL) return od_respond_error(r, 404, NULL, "use POST /scenarios/{name}/start or /end");
    size_t nlen = (size_t)(slash - p), alen = len - nlen - 1;
    int start;
    if (alen == 5 && memcmp(slash + 1, "start", 5) == 0)
        start = 1;
    else if (alen == 3 && memcmp(slash + 1, "end", 3) == 0)
        start = 0;
    else
        return od_respond_error(r, 404, NULL, "use POST /scenarios/{name}/start or /end");
    if (!od_order_id_valid(p, nlen))
        return od_respond_error(r, 400, "name", "a scenario name is 1 to 64 of A-Z a-z 0-9 _ -");
    char name[65];
    memcpy(name, p, nlen);
    name[nlen] = '\0';

    if (start)
        od_scenario_state_start(r->srv->scenario_state, name);
    else
        od_scenario_state_end(r->srv->scenario_state, name);

    od_info("scenario %s %s", name, start ? "started" : "ended");
    if (od_trace_active()) od_trace_instant(start ? "scenario start" : "scenario end", name);
    od_buf_t j = OD_BUF_INIT;
    od_buf_printf(&j, "{\"scenario\":\"%s\",\"state\":\"%s\"}", name, start ? "running" : "ended");
    return od_respond_json(r, 200, &j);
}

void od_routes_register(void)
{
    od_route_add("/orders", OD_POST, 0, OD_ROUTE_ORDERS_POST, post_order);
    od_route_add("/orders/", OD_GET, OD_ROUTE_PREFIX, OD_ROUTE_ORDERS_GET, get_order);
    od_route_add("/stats", OD_GET, 0, OD_ROUTE_STATS, get_stats);
    od_route_add("/health", OD_GET, 0, OD_ROUTE_HEALTH, get_health);
    od_route_add("/metrics", OD_GET, 0, OD_ROUTE_METRICS, od_metrics_get);
    od_route_add("/scenarios", OD_GET, 0, OD_ROUTE_SCENARIOS, get_scenarios);
    od_route_add("/scenarios/", OD_POST, OD_ROUTE_PREFIX, OD_ROUTE_SCENARIOS, post_scenario);
}
