#include "http/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/server.h"
#include "pool/pool.h"

/* --- process_* (as Prometheus' client libraries read them from /proc) ------------------------- */

typedef struct proc_figures {
    double cpu_seconds, start_time;
    uint64_t vsize, rss;
    long open_fds, max_fds;
} proc_figures_t;

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) return 0;
    char line[256];
    double btime = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lf", &btime) == 1) break;
    fclose(f);
    return btime;
}

static void read_proc(proc_figures_t *p)
{
    *p = (proc_figures_t){.open_fds = -1, .max_fds = -1};
    double tick = (double)sysconf(_SC_CLK_TCK);
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        const char *after = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
        unsigned long long utime, stime, start, vsize;
        /* from field 3 (state) on: utime is 14, stime 15, starttime 22, vsize 23 */
        if (after &&
            sscanf(after + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu",
                   &utime, &stime, &start, &vsize) == 4) {
            p->cpu_seconds = (double)(utime + stime) / tick;
            p->start_time = boot_time() + (double)start / tick;
            p->vsize = vsize;
        }
    }
    p->rss = od_rss_bytes();
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long n = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.') n++;
        closedir(d);
        p->open_fds = n - 1; /* not the directory's own descriptor */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) p->max_fds = (long)rl.rlim_cur;
}

/* --- the page -------------------------------------------------------------------------------- */

static void family(od_body_t *m, const char *name, const char *type, const char *help)
{
    od_body_printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a histogram from a od_hist_t of µs values, with `b`'s bounds (seconds) */
static void histogram(od_body_t *m, const char *name, const char *help, const od_hist_t *h,
                      const od_buckets_t *b)
{
    family(m, name, "histogram", help);
    size_t idx = 0;
    uint64_t cum = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t limit_us = (uint64_t)(b->le[i] * 1e6 + 0.5);
        while (idx < h->ncounts && od_hist_value_at(idx) <= limit_us)
            cum += h->counts[idx++];
        od_body_printf(m, "%s_bucket{le=\"%g\"} %llu\n", name, b->le[i], (unsigned long long)cum);
    }
    od_body_printf(m, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                   (unsigned long long)h->total, name, h->sum / 1e6, name, (unsigned long long)h->total);
}

static void requests(od_body_t *m)
{
    family(m, "orderd_http_requests_total", "counter",
           "HTTP requests answered, by method, route template and status code.");
    int nlabels = od_route_labels();
    for (int l = 0; l < nlabels; l++) {
        unsigned allowed = od_route_label_methods(l);
        int ok = od_route_label_ok(l);
        for (int me = 0; me < OD_METHOD_COUNT; me++) {
            int shown = (od_method_bit(me) & allowed) != 0; /* its good answer, even at 0 */
            for (int c = 0; c < OD_HTTP_CODES; c++) {
                uint64_t v = __atomic_load_n(&od_http_counts[l][me][c], __ATOMIC_RELAXED);
                int code = od_http_code_of_col(c);
                if (v == 0 && !(shown && code == ok)) continue;
                char cs[8];
                if (code)
                    snprintf(cs, sizeof(cs), "%d", code);
                else
                    strcpy(cs, "other");
                od_body_printf(m, "orderd_http_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} %llu\n",
                               od_method_name(me), od_route_label(l), cs, (unsigned long long)v);
            }
        }
    }
}

uint64_t od_alloc_bytes(void) __attribute__((weak));

int od_metrics_get(od_req_t *r)
{
    od_server_t *srv = r->srv;
    od_stats_t *st = srv->stats;
    const od_config_t *cfg = srv->cfg;
    od_pool_snapshot_t snap;
    od_pool_snapshot(srv->pool, &snap);
    proc_figures_t pf;
    read_proc(&pf);
    od_body_t m;
    od_body_init(&m, r, 16384);
#define COUNTER(name, help, fmt, v)                                                                          \
    (family(&m, name, "counter", help), od_body_printf(&m, name " " fmt "\n", v))
#define GAUGE(name, help, fmt, v) (family(&m, name, "gauge", help), od_body_printf(&m, name " " fmt "\n", v))
    COUNTER("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "%.2f",
            pf.cpu_seconds);
    GAUGE("process_resident_memory_bytes", "Resident memory size in bytes.", "%llu",
          (unsigned long long)pf.rss);
    GAUGE("process_virtual_memory_bytes", "Virtual memory size in bytes.", "%llu",
          (unsigned long long)pf.vsize);
    GAUGE("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "%.2f",
          pf.start_time);
    GAUGE("process_open_fds", "Number of open file descriptors.", "%ld", pf.open_fds);
    GAUGE("process_max_fds", "Maximum number of open file descriptors.", "%ld", pf.max_fds);

    COUNTER("orderd_orders_accepted_total", "Orders accepted into the queue (answered 202).", "%llu",
            (unsigned long long)od_stats_get(&st->accepted));
    family(&m, "orderd_orders_rejected_total", "counter", "Orders refused with 503, by reason.");
    od_body_printf(&m, "orderd_orders_rejected_total{reason=\"queue_full\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->rejected_full));
    od_body_printf(&m, "orderd_orders_rejected_total{reason=\"draining\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->rejected_draining));
    family(&m, "orderd_orders_processed_total", "counter", "Orders processed, by outcome.");
    od_body_printf(&m, "orderd_orders_processed_total{outcome=\"success\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->success));
    od_body_printf(&m, "orderd_orders_processed_total{outcome=\"error\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->errors));
    family(&m, "orderd_queue_depth", "gauge", "Orders waiting, by priority lane.");
    for (int i = 0; i < 3; i++)
        od_body_printf(&m, "orderd_queue_depth{priority=\"%d\"} %zu\n", i + 1, snap.by_priority[i]);
    GAUGE("orderd_queue_capacity", "Queue capacity, all lanes.", "%zu", snap.capacity);
    GAUGE("orderd_in_flight", "Orders being processed by a worker (busy workers).", "%d", snap.active);
    GAUGE("orderd_workers", "Worker threads.", "%d", snap.workers);
    family(&m, "orderd_config_reloads_total", "counter",
           "SIGHUP reloads, by result (failed: nothing changed).");
    od_body_printf(&m, "orderd_config_reloads_total{result=\"ok\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->reloads_ok));
    od_body_printf(&m, "orderd_config_reloads_total{result=\"failed\"} %llu\n",
                   (unsigned long long)od_stats_get(&st->reloads_failed));
    GAUGE("orderd_config_generation", "The running config's generation (1 at start, +1 per applied reload).",
          "%llu", (unsigned long long)cfg->generation);

    od_hist_t *h = od_hist_create();
    od_stats_hist_copy(st, h);
    histogram(&m, "orderd_processing_seconds", "Time from a worker taking an order to its outcome.", h,
              &cfg->metrics.processing);
    od_stats_wait_copy(st, h);
    histogram(&m, "orderd_queue_wait_seconds", "Time from an order's acceptance to a worker taking it.", h,
              &cfg->metrics.queue_wait);
    od_hist_destroy(h);

    requests(&m);
    GAUGE("orderd_resident_memory_bytes", "Resident set size (as process_resident_memory_bytes).", "%llu",
          (unsigned long long)pf.rss);
    if (od_alloc_bytes)
        GAUGE("orderd_allocated_bytes", "Bytes allocated and in use (tcmalloc).", "%llu",
              (unsigned long long)od_alloc_bytes());
    GAUGE("orderd_uptime_seconds", "Seconds since start.", "%.3f",
          (double)(od_now_ns() - st->start_ns) / 1e9);
#undef COUNTER
#undef GAUGE
    return od_respond_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", &m);
}
