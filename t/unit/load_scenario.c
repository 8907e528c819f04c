/*
 * scenario — unit tests (TAP) of the scenario loader orderd and orderload share:
 * the JSON orderd serves, errors with file:line:col, thresholds, captures, the arrival
 * schedule of the open-model executors, and scaling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scenario.h"
#include "tap.h"

static char dir[] = "/tmp/od-scenario-XXXXXX";

/* Writes text to DIR/name.lua and returns the path (static storage, one at a time). */
static const char *write_lua(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s.lua", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text; returns the set or NULL with the errors in err. */
static od_scenario_set_t *load(const char *name, const char *text, od_buf_t *err)
{
    od_buf_reset(err);
    return od_scenario_load(write_lua(name, text), err);
}

static int has(const od_buf_t *b, const char *needle)
{
    return b->base && strstr(b->base, needle) != NULL;
}

static int count(const od_buf_t *b, const char *needle)
{
    int n = 0;
    for (const char *p = b->base; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

int main(void)
{
    if (mkdtemp(dir) == NULL) return 1;
    od_buf_t err = OD_BUF_INIT, js = OD_BUF_INIT;

    od_scenario_set_t *s = load("burst",
                                "return {\n"
                                "  scenarios = { burst = { executor = \"constant-arrival-rate\", rate = 100, "
                                "duration = \"10s\" } },\n"
                                "  request = function(ctx) return \"POST\", \"/orders\", {}, \"{}\" end,\n"
                                "}\n",
                                &err);
    ok(s != NULL, "a valid file loads%s%s", s ? "" : ": ", s ? "" : err.base);
    if (s) {
        od_scenario_set_json(s, &js);
        char want[512];
        snprintf(want, sizeof(want),
                 "{\"name\":\"burst\",\"file\":\"%s/burst.lua\",\"scenarios\":{\"burst\":{\"executor\":"
                 "\"constant-arrival-rate\",\"rate\":100,\"duration_s\":10,\"start_time_s\":0}}}",
                 dir);
        ok(strcmp(js.base, want) == 0, "JSON is the documented shape: %s", js.base);
        ok(strcmp(od_scenario_set_name(s), "burst") == 0, "the set's name is the file's basename");
        ok(od_scenario_set_request_kind(s) == OD_REQ_FUNCTION, "request is a function");
        const od_scenario_t *sc = od_scenario_set_get(s, 0);
        ok(od_scenario_arrivals(sc) == 1000, "100/s for 10 s schedules 1000 arrivals (%llu)",
           (unsigned long long)od_scenario_arrivals(sc));
        ok(od_scenario_arrival_ns(sc, 0) == 0 && od_scenario_arrival_ns(sc, 1) == 10000000 &&
               od_scenario_arrival_ns(sc, 999) == 9990000000ull &&
               od_scenario_arrival_ns(sc, 1000) == UINT64_MAX,
           "arrival k is due at k / rate, none at or after the end");
        od_scenario_set_scale(s, 0.5);
        ok(sc->duration_ns == 5000000000ull && od_scenario_arrivals(sc) == 500,
           "scaling halves the duration, not the rate");
        od_scenario_set_free(s);
    }

    s = load(
        "seq",
        "local function f(ctx) return { path = '/x' } end\n"
        "return {\n"
        "  target = 'http://127.0.0.1:9',\n"
        "  scenarios = {\n"
        "    b = { rate = 5, duration = '2s', start_time = '3s', pipeline = 4 },\n"
        "    a = { executor = 'ramping-arrival-rate', start_rate = 0,\n"
        "          stages = { { duration = '10s', target = 100 }, { duration = '10s', target = 0 } } },\n"
        "    c = { executor = 'constant-concurrency', connections = 8, duration = '1s', start_time = '3s' "
        "},\n"
        "  },\n"
        "  thresholds = { ['latency.p99'] = '< 250ms', ['a:error_rate'] = { '< 1%', '<= 0.5%' }, dropped = "
        "'== 0' },\n"
        "  profile = { { at = '5s', path = '/profile/cpu?seconds=3', save = 'cpu.pb.gz' }, { at = 1, path = "
        "'/x', scenario = 'b' } },\n"
        "  request = f,\n"
        "}\n",
        &err);
    ok(s != NULL, "several executors, thresholds and captures load%s%s", s ? "" : ": ", s ? "" : err.base);
    if (s) {
        ok(od_scenario_set_count(s) == 3 && strcmp(od_scenario_set_get(s, 0)->name, "a") == 0 &&
               strcmp(od_scenario_set_get(s, 1)->name, "b") == 0 &&
               strcmp(od_scenario_set_get(s, 2)->name, "c") == 0,
           "scenarios are ordered by start_time, then name");
        const od_scenario_t *a = od_scenario_set_find(s, "a");
        ok(a->executor == OD_EXEC_RAMPING_RATE && a->duration_ns == 20000000000ull &&
               od_scenario_arrivals(a) == 1000,
           "a ramp 0->100->0 over 20 s schedules its area, 1000 arrivals (%llu)",
           (unsigned long long)od_scenario_arrivals(a));
        uint64_t t250 = od_scenario_arrival_ns(a, 250), t500 = od_scenario_arrival_ns(a, 500);
        ok(t250 > 7060000000ull && t250 < 7080000000ull && t500 > 9990000000ull && t500 < 10010000000ull,
           "ramp arrivals follow the integral of the rate (250th at %.3fs, 500th at %.3fs)", t250 / 1e9,
           t500 / 1e9);
        int mono = 1;
        for (uint64_t k = 1; k < 1000; k++)
            if (od_scenario_arrival_ns(a, k) < od_scenario_arrival_ns(a, k - 1)) mono = 0;
        ok(mono, "ramp arrival instants never go back");
        ok(od_scenario_set_span_ns(s) == 20000000000ull, "span is the last scenario's end");
        ok(od_scenario_set_nthresholds(s) == 4, "a list of expressions gives one threshold each");
        int found = 0;
        for (size_t i = 0; i < od_scenario_set_nthresholds(s); i++) {
            const od_threshold_t *t = od_scenario_set_threshold(s, i);
            if (strcmp(t->metric, "latency.p99") == 0 && t->op == OD_CMP_LT && t->limit == 250000 &&
                !t->scope)
                found++;
            if (strcmp(t->metric, "error_rate") == 0 && t->scope && strcmp(t->scope, "a") == 0 &&
                t->limit > 0.0049 && t->limit < 0.0101)
                found++;
        }
        ok(found == 3, "thresholds parse metric, scope, operator and limit (µs, fractions)");
        ok(od_scenario_set_ncaptures(s) == 2 &&
               strcmp(od_scenario_set_capture(s, 0)->save, "cpu.pb.gz") == 0 &&
               od_scenario_set_capture(s, 0)->at_ns == 5000000000ull &&
               strcmp(od_scenario_set_capture(s, 1)->scenario, "b") == 0 &&
               od_scenario_set_capture(s, 1)->save != NULL,
           "captures keep at, path, save (derived when absent) and scenario");
        ok(strcmp(od_scenario_set_target(s), "http://127.0.0.1:9") == 0, "target is kept");
        od_buf_reset(&js);
        od_scenario_set_json(s, &js);
        ok(has(&js, "\"stages\":[{\"duration_s\":10,\"target\":100},{\"duration_s\":10,\"target\":0}]") &&
               has(&js, "\"connections\":8") && has(&js, "\"pipeline\":4") && count(&js, "\"pipeline\"") == 1,
           "JSON lists stages, connections and a pipeline (only where one is set)");
        ok(od_scenario_set_find(s, "b")->pipeline == 4 && od_scenario_set_find(s, "a")->pipeline == 0,
           "pipeline is kept (0: not set)");
        od_scenario_set_free(s);
    }

    /* errors, each with file:line:col */
    s = load("bad1",
             "return {\n"
             "  scenarios = {\n"
             "    normal = { executor = 'constant-arrival-rate',\n"
             "      rate = 'x', duration = '30s' },\n"
             "    other = { executr = 1 },\n"
             "  },\n"
             "}\n",
             &err);
    ok(s == NULL && has(&err, "bad1.lua:4:7: scenarios.normal.rate must be a number") &&
           has(&err, "bad1.lua:5:15: unknown key \"scenarios.other.executr\" (did you mean \"executor\"?"),
       "wrong types and unknown keys are reported with line and column");
    s = load("bad2", "return {\n  scenarios = {\n    x = { rate = 10 }\n  }\n  oops\n}\n", &err);
    if (err.len && err.base[err.len - 1] == '\n') err.base[--err.len] = '\0';
    ok(s == NULL && has(&err, "bad2.lua:5:"), "a syntax error names file and line: %s",
       err.base ? err.base : "");
    s = load("bad3",
             "local t = nil\nreturn { scenarios = { x = { rate = 1, duration = 1 } }, request = "
             "function(ctx) return t.x end }\n",
             &err);
    ok(s == NULL && has(&err, "bad3.lua:2:"), "an error inside request(ctx) is found at load, with its line");
    s = load("bad4", "return { scenarios = { x = { rate = 1, duration = '1 parsec' } }, scenario = 1 }\n",
             &err);
    ok(s == NULL && has(&err, "bad4.lua:1:40: scenarios.x.duration must be a duration") &&
           has(&err, "bad4.lua:1:67: unknown key \"scenario\" in the scenario file's table (did you mean "
                     "\"scenarios\"?"),
       "bad durations and top-level typos");
    s = load("bad5",
             "return { scenarios = { x = { executor = 'constant-concurrency', duration = '1s' } },\n"
             "  thresholds = { ['latency.p99'] = '< 250' } }\n",
             &err);
    ok(s == NULL && has(&err, "needs connections"), "constant-concurrency needs connections");
    s = load("bad6",
             "return { scenarios = { x = { rate = 1, duration = '1s' } },\n"
             "  thresholds = { ['latency.p99'] = '< 250', ['bogus'] = '< 1', ['y:rate'] = '> 1' } }\n",
             &err);
    ok(s == NULL &&
           has(&err, "bad6.lua:2:18: threshold latency.p99: \"250\" must be a duration with a unit") &&
           has(&err, "unknown metric") && has(&err, "no scenario named \"y\""),
       "threshold errors: unit, metric, scope");
    s = load("bad7", "while true do end\n", &err);
    ok(s == NULL && has(&err, "bad7.lua:1: loading the scenario file exceeded its budget"),
       "an endless loop at load is stopped, at its line");
    s = load("bad8", "return { scenarios = {}, profile = { { path = 'x' } } }\n", &err);
    ok(s == NULL && has(&err, "scenarios is empty"), "an empty scenarios table is an error");
    od_buf_reset(&err);
    ok(od_scenario_load("/nonexistent/x.lua", &err) == NULL &&
           has(&err, "/nonexistent/x.lua:0:0: cannot read"),
       "a missing file is reported");

    /* the bundled scenarios load (when run from the project root) */
    const char *bundled[] = {"normal", "high", "burst", "all", "ramp"};
    for (size_t i = 0; i < sizeof(bundled) / sizeof(bundled[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "lua/scenarios/%s.lua", bundled[i]);
        if (access(path, R_OK) != 0) continue;
        od_buf_reset(&err);
        s = od_scenario_load(path, &err);
        ok(s != NULL, "%s loads%s%s", path, s ? "" : ": ", s ? "" : err.base);
        od_scenario_set_free(s);
    }

    od_buf_dispose(&err);
    od_buf_dispose(&js);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
