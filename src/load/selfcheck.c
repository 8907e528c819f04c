/*
 * selfcheck — see selfcheck.h.  The verdict is built once, as sentences, so that the
 * terminal, the JSON document and the report all say the same thing.
 */
#include "load/selfcheck.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "load/report.h"
#include "load/report_json.h"

#define RUNQ_NOTABLE 0.02 /* waiting for a CPU this share of the run explains late sends */
#define NOTABLE 200       /* late wakes or stops as many as 1/200 of the sends are felt in the p99 */

static void add(char ***list, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char ***list, size_t *n, const char *fmt, ...)
{
    od_buf_t b = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    *list = od_realloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = od_strdup(b.base);
    (*list)[*n] = NULL;
    od_buf_dispose(&b);
}

/* the problem of a scenario whose `what` p99 is over OD_SELFCHECK_SHARE of its latency p99 */
static void over_share(od_selfcheck_t *out, const char *name, const char *what, double p99_us, double lat_us,
                       const char *why)
{
    char v1[24], v2[24];
    od_fmt_us(v1, p99_us);
    od_fmt_us(v2, lat_us);
    add(&out->problems, &out->nproblems, "%s: %s p99 %s is %.0f%% of latency p99 %s (at most %.0f%%): %s",
        name, what, v1, p99_us / lat_us * 100, v2, OD_SELFCHECK_SHARE * 100, why);
}

void od_selfcheck_eval(od_selfcheck_t *out, const od_selfcheck_scen_t *scens, size_t n,
                       const od_load_cpu_t *cpu, double cpu_s, uint64_t spin_ns, int threads)
{
    memset(out, 0, sizeof(*out));
    out->busiest = cpu->busiest;
    out->cpu_s = cpu_s;
    out->spin_s = (double)cpu->spin_ns / 1e9;
    out->runq_s = (double)cpu->runq_ns / 1e9;
    out->spin_off_s = (double)cpu->unspun_ns / 1e9;
    out->spin_ns = spin_ns;
    out->window_us = cpu->window_ticks ? (double)cpu->window_ns_sum / (double)cpu->window_ticks / 1e3 : 0;
    out->window_max_us = (double)cpu->window_max_ns / 1e3;
    out->threads = threads;
    out->stalls = cpu->stalls;
    out->stalled_s = (double)cpu->stalled_ns / 1e9;
    out->stall_max_us = (double)cpu->stall_max_ns / 1e3;
    out->overslept = cpu->overslept;
    double runq_share = cpu->wall_ns ? (double)cpu->runq_ns / (double)cpu->wall_ns : 0;
    char spin[24], v1[24];
    od_fmt_us(spin, (double)spin_ns / 1e3);

    int late = 0;
    uint64_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        const od_load_result_t *r = scens[i].r;
        sent += r->st.c.sent;
        if (r->st.latency->total == 0) continue;
        const od_load_counts_t *c = &r->st.c;
        double sd = (double)od_hist_percentile(r->st.send_delay, 99);
        double lat = (double)od_hist_percentile(r->st.latency, 99);
        double cw = c->queued ? (double)od_hist_percentile(r->st.conn_wait, 99) : 0;
        double share = lat > 0 ? sd / lat : 0, wshare = lat > 0 ? cw / lat : 0;
        if (out->worst == NULL || share > out->share) {
            out->worst = r->name;
            out->share = share;
            out->send_delay_p99_us = sd;
            out->latency_p99_us = lat;
        }
        if (c->queued && (out->wait_worst == NULL || wshare > out->wait_share)) {
            out->wait_worst = r->name;
            out->wait_share = wshare;
            out->conn_wait_p99_us = cw;
        }
        if (share > OD_SELFCHECK_SHARE) {
            late = 1;
            over_share(out, r->name, "send delay", sd, lat,
                       "the generator's own lateness is in its latencies");
        }
        /* arrivals that found every connection busy: the server saw them late, by the generator's
         * connections, not by its timing */
        if (c->queued && wshare > OD_SELFCHECK_SHARE) {
            over_share(out, r->name, "conn wait", cw, lat,
                       "arrivals waited for a free connection, so the server got them late");
            if (scens[i].pipeline > 1)
                add(&out->advice, &out->nadvice,
                    "%s: %llu arrivals waited for a free connection: raise its connections (now %u) or its "
                    "pipeline (now %u)",
                    r->name, (unsigned long long)c->queued, scens[i].connections, scens[i].pipeline);
            else
                add(&out->advice, &out->nadvice,
                    "%s: %llu arrivals waited for a free connection: raise its connections (now %u), or "
                    "send them at their instants behind the answers awaited (pipeline = 8)",
                    r->name, (unsigned long long)c->queued, scens[i].connections);
        }
    }
    if (cpu->busiest > OD_SELFCHECK_BUSY)
        add(&out->problems, &out->nproblems,
            "a worker thread was busy %.0f%% of the run (at most %.0f%%): the generator's CPU was saturated",
            cpu->busiest * 100, OD_SELFCHECK_BUSY * 100);
    if (cpu->busiest > OD_SELFCHECK_BUSY)
        add(&out->advice, &out->nadvice, "add worker threads (-t, now %d)", threads);
    if (late && runq_share >= RUNQ_NOTABLE)
        add(&out->advice, &out->nadvice,
            "the generator waited %.2fs for a CPU (%.0f%% of its threads' time): the machine is busy; run "
            "the "
            "server and orderload on different CPUs (taskset) or on a quieter machine",
            out->runq_s, runq_share * 100);
    if (late && cpu->busiest <= OD_SELFCHECK_BUSY && runq_share < RUNQ_NOTABLE) {
        /* which of the two made the sends late: sleeps that woke past their instant (a window
         * too narrow), or stops of a thread that spun to it (the machine) */
        int overslept = cpu->overslept * NOTABLE > sent, stopped = cpu->stalls * NOTABLE > sent;
        if ((overslept || !stopped) && spin_ns < OD_LOAD_MAX_SPIN_NS)
            add(&out->advice, &out->nadvice,
                "its threads woke late from sleep: widen the spin window (--spin, now %s; at most 10ms)",
                spin);
        else if (overslept || !stopped)
            add(&out->advice, &out->nadvice,
                "its threads woke late even with the widest spin window: add threads (-t, now %d)", threads);
        if (stopped) {
            od_fmt_us(v1, (double)cpu->stall_max_ns / 1e3);
            add(&out->advice, &out->nadvice,
                "while they spun to their instants, its threads were stopped %llu times for %.0fus or more "
                "(%.0f per second of spinning, the longest %s): the machine takes their CPU away "
                "(interrupts, other tasks, a VM's host), and a send that falls in a stop is late by it; "
                "a wider spin window does not help: give orderload a CPU of its own or use a quieter machine",
                (unsigned long long)cpu->stalls, (double)OD_STALL_NS / 1e3,
                cpu->spin_ns ? (double)cpu->stalls * 1e9 / (double)cpu->spin_ns : 0, v1);
        }
    }
    out->ok = out->nproblems == 0;
}

void od_selfcheck_dispose(od_selfcheck_t *sc)
{
    for (size_t i = 0; i < sc->nproblems; i++)
        free(sc->problems[i]);
    for (size_t i = 0; i < sc->nadvice; i++)
        free(sc->advice[i]);
    free(sc->problems);
    free(sc->advice);
    memset(sc, 0, sizeof(*sc));
}

void od_selfcheck_print(FILE *f, const od_selfcheck_t *sc)
{
    char spin[24], v1[24], v2[24];
    od_fmt_us(spin, (double)sc->spin_ns / 1e3);
    if (sc->ok) {
        fprintf(f, "self-check: ok, these figures measure the server:");
        if (sc->worst) {
            od_fmt_us(v1, sc->send_delay_p99_us);
            od_fmt_us(v2, sc->latency_p99_us);
            fprintf(f, " send delay p99 %s is %.1f%% of latency p99 %s in %s;", v1, sc->share * 100, v2,
                    sc->worst);
        }
        if (sc->wait_worst) {
            od_fmt_us(v1, sc->conn_wait_p99_us);
            fprintf(f, " conn wait p99 %s (%.1f%%) in %s;", v1, sc->wait_share * 100, sc->wait_worst);
        }
        od_fmt_us(v1, sc->window_us);
        fprintf(
            f,
            " busiest worker thread %.0f%% busy; %.2fs of CPU spinning (window %s on average, --spin %s)\n",
            sc->busiest * 100, sc->spin_s, v1, spin);
        return;
    }
    fprintf(f, "self-check: WARNING, these figures may measure orderload rather than the server\n");
    for (size_t i = 0; i < sc->nproblems; i++)
        fprintf(f, "  %s\n", sc->problems[i]);
    for (size_t i = 0; i < sc->nadvice; i++)
        fprintf(f, "  what to change: %s\n", sc->advice[i]);
}

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, od_json_text(list[i]));
    return a;
}

json_t *od_selfcheck_json(const od_selfcheck_t *sc)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(sc->ok));
    json_object_set_new(o, "scenario", sc->worst ? od_json_text(sc->worst) : json_null());
    json_object_set_new(o, "send_delay_p99_us", json_integer((json_int_t)sc->send_delay_p99_us));
    json_object_set_new(o, "latency_p99_us", json_integer((json_int_t)sc->latency_p99_us));
    json_object_set_new(o, "send_delay_share", od_json_fixed("%.4f", sc->share));
    /* fields added within schema 1: the scenario with the largest connection-wait share */
    json_object_set_new(o, "conn_wait_scenario", sc->wait_worst ? od_json_text(sc->wait_worst) : json_null());
    json_object_set_new(o, "conn_wait_p99_us", json_integer((json_int_t)sc->conn_wait_p99_us));
    json_object_set_new(o, "conn_wait_share", od_json_fixed("%.4f", sc->wait_share));
    json_object_set_new(o, "share_limit", od_json_fixed("%.2f", OD_SELFCHECK_SHARE));
    json_object_set_new(o, "busiest_thread", od_json_fixed("%.4f", sc->busiest));
    json_object_set_new(o, "busy_limit", od_json_fixed("%.2f", OD_SELFCHECK_BUSY));
    json_object_set_new(o, "threads", json_integer(sc->threads));
    json_object_set_new(o, "spin_us", od_json_fixed("%.3f", (double)sc->spin_ns / 1e3));
    json_object_set_new(o, "spin_window_us", od_json_fixed("%.1f", sc->window_us));
    json_object_set_new(o, "spin_window_max_us", od_json_fixed("%.1f", sc->window_max_us));
    json_object_set_new(o, "cpu_s", od_json_fixed("%.3f", sc->cpu_s));
    json_object_set_new(o, "spin_s", od_json_fixed("%.3f", sc->spin_s));
    json_object_set_new(o, "runq_s", od_json_fixed("%.3f", sc->runq_s));
    json_object_set_new(o, "spin_off_s", od_json_fixed("%.3f", sc->spin_off_s));
    /* fields added within schema 1: the machine's stops of a spinning thread, and late wakes */
    json_object_set_new(o, "stalls", json_integer((json_int_t)sc->stalls));
    json_object_set_new(o, "stalled_s", od_json_fixed("%.4f", sc->stalled_s));
    json_object_set_new(o, "stall_max_us", od_json_fixed("%.1f", sc->stall_max_us));
    json_object_set_new(o, "overslept", json_integer((json_int_t)sc->overslept));
    json_object_set_new(o, "problems", strings(sc->problems, sc->nproblems));
    json_object_set_new(o, "advice", strings(sc->advice, sc->nadvice));
    return o;
}
