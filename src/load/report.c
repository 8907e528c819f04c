/*
 * report — see report.h.
 */
#include "load/report.h"

#include <string.h>

const char *const od_pct_names[OD_NPCT] = {"p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99"};
const double od_pct_values[OD_NPCT] = {50, 75, 90, 95, 99, 99.9, 99.99};

void od_fmt_us(char out[24], double us)
{
    if (us < 1000)
        snprintf(out, 24, "%.0fus", us);
    else if (us < 1e6)
        snprintf(out, 24, "%.2fms", us / 1e3);
    else
        snprintf(out, 24, "%.2fs", us / 1e6);
}

void od_fmt_metric(char out[32], const char *metric, double value)
{
    if (strchr(metric, '.') != NULL) {
        char t[24];
        od_fmt_us(t, value);
        snprintf(out, 32, "%s", t);
    } else if (strcmp(metric, "error_rate") == 0 || strcmp(metric, "drop_rate") == 0) {
        snprintf(out, 32, "%.3g%%", value * 100);
    } else if (strcmp(metric, "rate") == 0) {
        snprintf(out, 32, "%.2f/s", value);
    } else {
        snprintf(out, 32, "%.0f", value);
    }
}

static void hist_row(FILE *f, const char *label, const od_hist_t *h)
{
    char v[24];
    fprintf(f, "  %-11s", label);
    if (h->total == 0) {
        fprintf(f, " (none)\n");
        return;
    }
    od_fmt_us(v, (double)h->min);
    fprintf(f, "%9s", v);
    od_fmt_us(v, od_hist_mean(h));
    fprintf(f, "%9s", v);
    od_fmt_us(v, od_hist_stdev(h));
    fprintf(f, "%9s", v);
    od_fmt_us(v, (double)h->max);
    fprintf(f, "%9s", v);
    for (size_t i = 0; i < OD_ARRAY_SIZE(od_pct_values); i++) {
        od_fmt_us(v, (double)od_hist_percentile(h, od_pct_values[i]));
        fprintf(f, "%9s", v);
    }
    fputc('\n', f);
}

void od_report_text(FILE *f, const od_load_result_t *r, const char *title)
{
    const od_load_counts_t *c = &r->st.c;
    fprintf(f, "%s\n", title);
    fprintf(f, "  requests    scheduled %llu  sent %llu  completed %llu  late %llu  dropped %llu",
            (unsigned long long)c->scheduled, (unsigned long long)c->sent, (unsigned long long)c->completed,
            (unsigned long long)c->late, (unsigned long long)c->dropped);
    if (c->queued) /* arrivals that waited for a free connection */
        fprintf(f, "  waited for a connection %llu", (unsigned long long)c->queued);
    fputc('\n', f);
    if (r->target_rate > 0)
        fprintf(f, "  rate        target %.2f/s  achieved %.2f/s over %.1fs\n", r->target_rate,
                r->achieved_rate, r->duration_s);
    else
        fprintf(f, "  rate        achieved %.2f/s over %.1fs (closed model: no target)\n", r->achieved_rate,
                r->duration_s);
    fprintf(f, "  status     ");
    int any = 0;
    for (size_t i = 0; i < OD_ARRAY_SIZE(c->status); i++)
        if (c->status[i]) {
            if (i == 0)
                fprintf(f, " other: %llu", (unsigned long long)c->status[i]);
            else
                fprintf(f, " %zu: %llu", i, (unsigned long long)c->status[i]);
            any = 1;
        }
    fprintf(f, "%s\n", any ? "" : " (no answers)");
    fprintf(f, "  errors     ");
    for (int i = 0; i < OD_ERR_KINDS; i++)
        fprintf(f, " %s %llu", od_err_names[i], (unsigned long long)c->errors[i]);
    fputc('\n', f);
    fprintf(f, "  %-11s%9s%9s%9s%9s", "", "min", "mean", "stdev", "max");
    for (size_t i = 0; i < OD_ARRAY_SIZE(od_pct_names); i++)
        fprintf(f, "%9s", od_pct_names[i]);
    fputc('\n', f);
    hist_row(f, "latency", r->st.latency);
    hist_row(f, "service", r->st.service);
    hist_row(f, "send delay", r->st.send_delay);
    if (c->queued) hist_row(f, "conn wait", r->st.conn_wait); /* 1 us unless it waited for one */
    if (!r->follow) return;
    hist_row(f, "completion", r->st.completion);
    double per = c->followed ? (double)c->polls / (double)c->followed : 0;
    fprintf(f,
            "  follow      followed %llu  done %llu  failed %llu  lost %llu  polls %llu (%.1f per order)\n"
            "              (latency: to the 202, from the intended start; completion: accepted -> done or\n"
            "              failed, the order's own queue_ms + processing_ms)\n",
            (unsigned long long)c->followed, (unsigned long long)c->fdone, (unsigned long long)c->ffailed,
            (unsigned long long)c->flost, (unsigned long long)c->polls, per);
}
