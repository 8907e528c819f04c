/* A reload's diff: one line per key that differs, the keys needing a hand-over named and put
 * back to their running value, secrets never shown. */
#include "config_diff.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void replace(char **s, const char *v)
{
    free(*s);
    *s = od_strdup(v);
}

int main(void)
{
    od_config_t a, b;
    od_buf_t out = OD_BUF_INIT;

    od_config_defaults(&a);
    od_config_defaults(&b);
    is_int((long long)od_config_diff(&a, &b, 1, &out), 0, "two default configs: no difference");
    ok(out.len == 0, "and no line");

    b.pool.reserve.stripes = 1;
    b.pool.validate.max_amount = 250.5;
    b.pool.queue = 10;
    b.profiling.mutex_fraction = 5;
    replace(&b.profiling.token, "s3cret");
    replace(&b.profiling.schedule, "");
    b.http.threads = 4;
    replace(&b.listen.host, "0.0.0.0");
    b.listen.port = 9090;
    b.pool_files.results_kept = 7;
    b.profiling.cpu_hz = 250;
    b.metrics.processing.n = 3;
    size_t n = od_config_diff(&a, &b, 0, &out);
    const char *t = out.base ? out.base : "";
    if (!ok(n == 11, "eleven keys differ (%zu)", n)) printf("# %.200s\n", t);
    ok(strstr(t, "reserve.stripes: 4 -> 1\n") != NULL, "reserve.stripes: 4 -> 1");
    ok(strstr(t, "validate.max_amount: 10000 -> 250.5\n") != NULL, "a double in %%g");
    ok(strstr(t, "queue: 1000 -> 10\n") != NULL, "queue: 1000 -> 10");
    ok(strstr(t, "profiling.mutex_fraction: 1 -> 5\n") != NULL, "a YAML key by its dotted name");
    ok(strstr(t, "profiling.token: (none) -> (set)\n") != NULL && strstr(t, "s3cret") == NULL,
       "a token that changed is said to be set, never shown");
    ok(strstr(t, "profiling.schedule: \"lua/schedule.lua\" -> \"\"\n") != NULL, "a path, quoted");
    ok(strstr(t, "http.threads: 1 -> 4 (needs a hand-over: not applied)\n") != NULL,
       "http.threads needs a hand-over");
    ok(strstr(t, "listen: 127.0.0.1:8080 -> 0.0.0.0:9090 (needs a hand-over: not applied)\n") != NULL,
       "listen needs a hand-over");
    ok(strstr(t, "pool.results_kept: 10000 -> 7 (needs a hand-over: not applied)\n") != NULL,
       "pool.results_kept needs a hand-over");
    ok(strstr(t, "profiling.cpu_hz: 100 -> 250 (the itimer engine read its rate at exec") != NULL,
       "cpu_hz where the engine cannot change it live: named");
    ok(strstr(t, "metrics.processing_buckets: [") != NULL, "buckets, summarized");
    is_int(b.http.threads, 1, "http.threads: the running value is put back");
    is_str(b.listen.host, "127.0.0.1", "listen's host: put back");
    is_int(b.listen.port, 8080, "listen's port: put back");
    is_int((long long)b.pool_files.results_kept, 10000, "results_kept: put back");
    is_int(b.profiling.cpu_hz, 100, "cpu_hz on the itimer engine: put back");
    is_int(b.pool.reserve.stripes, 1, "a live key keeps its new value");
    is_str(b.profiling.token, "s3cret", "the new token is kept");

    od_buf_reset(&out);
    b.profiling.cpu_hz = 250;
    od_config_diff(&a, &b, 1, &out);
    ok(strstr(out.base, "profiling.cpu_hz: 100 -> 250\n") != NULL, "cpu_hz on the perf_event engine: live");
    is_int(b.profiling.cpu_hz, 250, "and kept");

    od_buf_reset(&out);
    od_config_t c;
    od_config_defaults(&c);
    c.rules_hash = a.rules_hash + 7;
    c.schedule_hash = a.schedule_hash + 9;
    is_int((long long)od_config_diff(&a, &c, 1, &out), 1, "a schedule whose text changed at the same path");
    ok(strstr(out.base, "profiling.schedule: lua/schedule.lua: its text changed\n") != NULL, "is named: %s",
       out.base);
    ok(strstr(out.base, "pool.rules") == NULL, "rules: none named, none reported");

    od_buf_dispose(&out);
    od_config_dispose(&a);
    od_config_dispose(&b);
    od_config_dispose(&c);
    return done_testing();
}
