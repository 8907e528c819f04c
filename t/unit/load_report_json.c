/*
 * load/report_json — unit tests (TAP) of orderload's --json pieces (src/load/report_json.c):
 * figures keep their rounding, strings that are not UTF-8 still make a valid document, and a
 * result's object has SPEC's keys in the document's order.  Includes the .c files under test
 * (h2o style): orderd's objects do not contain them.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/load/report.c"
#include "../../src/load/report_json.c"
#include "../../src/load/stats.c"
#include "tap.h"

/* json_dumps as the document's writer prints */
static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
}

int main(void)
{
    json_t *j = od_json_fixed("%.3f", 19.99883);
    char *t = dump(j);
    ok(t && strcmp(t, "19.999") == 0, "a rate keeps 3 decimals (%s)", t ? t : "NULL");
    free(t);
    json_decref(j);
    j = od_json_fixed("%.1f", 1234567.04);
    t = dump(j);
    ok(t && strcmp(t, "1234567.0") == 0, "a mean keeps 1 decimal (%s)", t ? t : "NULL");
    free(t);
    json_decref(j);
    j = od_json_fixed("%.3f", 0.0 / 0.0);
    ok(json_is_null(j), "a figure that is not a number is null (JSON has no NaN)");
    json_decref(j);

    j = od_json_text("caf\xc3\xa9 \xff\xfe ok \xed\xa0\x80");
    t = dump(j);
    ok(t &&
           strcmp(t, "\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"") == 0,
       "UTF-8 is kept, stray bytes and an encoded surrogate become U+FFFD");
    free(t);
    json_decref(j);

    od_load_result_t r;
    od_load_result_init(&r, "s");
    r.executor = "constant-arrival-rate";
    r.target_rate = 10;
    r.achieved_rate = 9.5;
    r.duration_s = 2;
    r.st.c.scheduled = r.st.c.sent = r.st.c.completed = 20;
    r.st.c.status[202] = 19;
    r.st.c.status[0] = 1;
    od_hist_record(r.st.latency, 900);
    j = od_report_json(&r);
    const char *keys[] = {"executor",      "counts",      "rate",       "duration_s",
                          "status_codes",  "errors",      "latency_us", "service_time_us",
                          "send_delay_us", "conn_wait_us"};
    size_t i = 0, same = 1;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (i >= OD_ARRAY_SIZE(keys) || strcmp(key, keys[i]) != 0) same = 0;
        i++;
    }
    ok(same && i == OD_ARRAY_SIZE(keys), "a result's keys, in SPEC's order");
    t = json_dumps(json_object_get(j, "status_codes"), JSON_COMPACT | JSON_PRESERVE_ORDER);
    ok(t && strcmp(t, "{\"other\":1,\"202\":19}") == 0, "status codes: other first, then by code (%s)",
       t ? t : "NULL");
    free(t);
    t = dump(json_object_get(j, "rate"));
    ok(t && strcmp(t, "{\"target\":10.0,\"achieved\":9.5}") == 0, "the rate object (%s)", t ? t : "NULL");
    free(t);
    ok(json_integer_value(json_object_get(json_object_get(j, "latency_us"), "count")) == 1 &&
           json_is_integer(json_object_get(json_object_get(j, "latency_us"), "p99")),
       "histograms have integer percentiles and a count");
    json_decref(j);
    r.executor = NULL;
    r.target_rate = 0;
    j = od_report_json(&r);
    ok(json_object_get(j, "executor") == NULL &&
           json_is_null(json_object_get(json_object_get(j, "rate"), "target")),
       "a total has no executor; a closed model's target is null");
    json_decref(j);
    od_load_result_dispose(&r);
    return done_testing();
}
