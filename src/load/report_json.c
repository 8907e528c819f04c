/*
 * report_json — see report_json.h.
 */
#include "load/report_json.h"

#include "load/report.h"

static void json_hist(od_buf_t *b, const char *key, const od_hist_t *h)
{
    od_buf_printf(b, ",\"%s\":{\"min\":%llu,\"mean\":%.1f,\"stdev\":%.1f,\"max\":%llu", key,
                  (unsigned long long)(h->total ? h->min : 0), od_hist_mean(h), od_hist_stdev(h),
                  (unsigned long long)h->max);
    for (size_t i = 0; i < OD_ARRAY_SIZE(od_pct_names); i++)
        od_buf_printf(b, ",\"%s\":%llu", od_pct_names[i],
                      (unsigned long long)od_hist_percentile(h, od_pct_values[i]));
    od_buf_printf(b, ",\"count\":%llu}", (unsigned long long)h->total);
}

/* "timeline":[{"t_s":1,...},...]: one point per step up to the last one with any activity;
 * t_s is the end of the point's window, in seconds from the scenario's start */
static void json_timeline(od_buf_t *b, const od_load_timeline_t *tl)
{
    size_t last = 0;
    for (size_t i = 0; i < tl->npoints; i++) {
        const od_tl_point_t *p = &tl->points[i];
        if (p->sent || p->completed || p->errors) last = i + 1;
    }
    double step = (double)tl->step_ns / 1e9;
    od_buf_printf(b, ",\"timeline_step_s\":%g,\"timeline\":[", step);
    for (size_t i = 0; i < last; i++) {
        const od_tl_point_t *p = &tl->points[i];
        od_buf_printf(b,
                      "%s{\"t_s\":%g,\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,\"p50_us\":%llu,"
                      "\"p99_us\":%llu,\"max_us\":%llu}",
                      i ? "," : "", step * (double)(i + 1), (unsigned long long)p->sent,
                      (unsigned long long)p->completed, (unsigned long long)p->errors,
                      (unsigned long long)od_tl_percentile(p, 50),
                      (unsigned long long)od_tl_percentile(p, 99), (unsigned long long)p->max_us);
    }
    od_buf_putc(b, ']');
}

void od_report_json(od_buf_t *b, const od_load_result_t *r)
{
    const od_load_counts_t *c = &r->st.c;
    od_buf_putc(b, '{');
    if (r->executor) {
        od_buf_puts(b, "\"executor\":");
        od_buf_json_str(b, r->executor);
        od_buf_putc(b, ',');
    }
    od_buf_printf(
        b, "\"counts\":{\"scheduled\":%llu,\"sent\":%llu,\"completed\":%llu,\"late\":%llu,\"dropped\":%llu}",
        (unsigned long long)c->scheduled, (unsigned long long)c->sent, (unsigned long long)c->completed,
        (unsigned long long)c->late, (unsigned long long)c->dropped);
    if (r->target_rate > 0)
        od_buf_printf(b, ",\"rate\":{\"target\":%.3f", r->target_rate);
    else
        od_buf_puts(b, ",\"rate\":{\"target\":null");
    od_buf_printf(b, ",\"achieved\":%.3f},\"duration_s\":%.3f", r->achieved_rate, r->duration_s);
    od_buf_puts(b, ",\"status_codes\":{");
    int first = 1;
    for (size_t i = 0; i < OD_ARRAY_SIZE(c->status); i++)
        if (c->status[i]) {
            if (i == 0)
                od_buf_printf(b, "%s\"other\":%llu", first ? "" : ",", (unsigned long long)c->status[i]);
            else
                od_buf_printf(b, "%s\"%zu\":%llu", first ? "" : ",", i, (unsigned long long)c->status[i]);
            first = 0;
        }
    od_buf_puts(b, "},\"errors\":{");
    for (int i = 0; i < OD_ERR_KINDS; i++)
        od_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", od_err_names[i], (unsigned long long)c->errors[i]);
    od_buf_putc(b, '}');
    json_hist(b, "latency_us", r->st.latency);
    json_hist(b, "service_time_us", r->st.service);
    json_hist(b, "send_delay_us", r->st.send_delay);
    if (r->st.timeline) json_timeline(b, r->st.timeline);
    od_buf_putc(b, '}');
}
