/* The config loader: defaults, a full file, and every kind of problem with FILE:LINE:COL. */
#include "config.h"
#include "prof/cpu.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/orderd-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* loads text; returns the errors (static) or NULL if it loaded */
static const char *load(const char *text, od_config_t *c)
{
    static od_buf_t errors;
    od_buf_reset(&errors);
    od_config_defaults(c);
    const char *p = write_file("c.yaml", text);
    int rc = od_config_load(c, p, &errors);
    return rc == 0 ? NULL : errors.base ? errors.base : "";
}

static void bad(const char *text, const char *want, const char *what)
{
    od_config_t c;
    const char *e = load(text, &c);
    ok(e && strstr(e, want), "%s: reports \"%s\"", what, want);
    if (e && !strstr(e, want)) printf("#   got: %s", e);
    if (!e) printf("#   it loaded\n");
    od_config_dispose(&c);
}

static const char *pool_load(const char *lua, od_pool_config_t *pc)
{
    static od_buf_t errors;
    od_buf_reset(&errors);
    od_pool_config_defaults(pc);
    const char *p = write_file("w.lua", lua);
    int rc = od_pool_config_load(pc, p, &errors);
    return rc == 0 ? NULL : errors.base ? errors.base : "";
}

static void pool_bad(const char *lua, const char *want, const char *what)
{
    od_pool_config_t pc;
    const char *e = pool_load(lua, &pc);
    ok(e && strstr(e, want), "workers.lua %s: reports \"%s\"", what, want);
    if (e && !strstr(e, want)) printf("#   got: %s", e);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    od_config_t c;
    ok(load("", &c) == NULL && c.listen.port == 8080 && c.http.threads == 1 &&
           c.pool_files.results_kept == 10000 && c.profiling.cpu_hz == 100 &&
           c.profiling.heap_sample_bytes == 524288 && c.nscenarios == 3 &&
           c.profiling.keep_bytes == 256u << 20,
       "an empty file gives every default");
    od_config_dispose(&c);

    const char *full =
        "listen: 127.0.0.1:9090\n"
        "http:\n  threads: 2\n  max_body_bytes: 1MiB\n"
        "pool:\n  script: lua/workers.lua\n  rules: \"\"\n  results_kept: 5\n"
        "profiling:\n  enabled: false\n  listen: 127.0.0.1:9091\n  token: s3cret\n  cpu_hz: 250\n"
        "  heap_sample_bytes: 0\n  mutex_fraction: 5\n  block_rate_ns: 1000\n  max_seconds: 60\n"
        "  schedule: \"\"\n  output_dir: /tmp/x\n  keep: { files: 3, bytes: 1MiB }\n"
        "scenarios: [a.lua, b.lua]\n";
    ok(load(full, &c) == NULL, "a full config loads");
    ok(c.listen.port == 9090 && c.http.threads == 2 && c.http.max_body_bytes == 1048576 &&
           c.pool_files.results_kept == 5 && !c.profiling.enabled && c.profiling.listen.port == 9091 &&
           strcmp(c.profiling.token, "s3cret") == 0 && c.profiling.cpu_hz == 250 &&
           c.profiling.heap_sample_bytes == 0 && c.profiling.mutex_fraction == 5 &&
           c.profiling.block_rate_ns == 1000 && c.profiling.max_seconds == 60 &&
           c.profiling.schedule[0] == '\0' && c.profiling.keep_files == 3 && c.nscenarios == 2 &&
           strcmp(c.scenarios[1], "b.lua") == 0,
       "every value applied");
    od_config_dispose(&c);

    bad("listen: 127.0.0.1:8080\nbogus: 1\n", "c.yaml:2:1: unknown key \"bogus\"", "unknown top-level key");
    bad("http:\n  threads: 2\n  thread: 3\n", "c.yaml:3:3: unknown key \"http.thread\"",
        "unknown nested key");
    /* metrics: histogram buckets */
    {
        od_config_t m;
        od_config_defaults(&m);
        int asc = m.metrics.processing.n > 10 && m.metrics.queue_wait.n > 10;
        for (size_t i = 1; i < m.metrics.processing.n; i++)
            asc &= m.metrics.processing.le[i] > m.metrics.processing.le[i - 1];
        for (size_t i = 1; i < m.metrics.queue_wait.n; i++)
            asc &= m.metrics.queue_wait.le[i] > m.metrics.queue_wait.le[i - 1];
        ok(asc && m.metrics.processing.le[0] > 0 && m.metrics.queue_wait.le[0] > 0,
           "default buckets: more than 10 each, positive, strictly ascending");
        od_config_dispose(&m);
        const char *e = load("metrics:\n  processing_buckets: [0.001, 0.01, 0.1]\n"
                             "  queue_wait_buckets: [1e-5, 0.5]\n",
                             &m);
        ok(e == NULL && m.metrics.processing.n == 3 && m.metrics.processing.le[1] == 0.01 &&
               m.metrics.queue_wait.n == 2 && m.metrics.queue_wait.le[0] == 1e-5,
           "metrics buckets set in the YAML");
        od_config_dispose(&m);
        e = load("metrics:\n  processing_buckets: [0.001, 0.001]\n", &m);
        ok(e && m.metrics.processing.n > 3, "a bad list changes nothing (the defaults stay)");
        od_config_dispose(&m);
        od_buf_t many = OD_BUF_INIT;
        od_buf_puts(&many, "metrics:\n  queue_wait_buckets: [");
        for (int i = 1; i <= OD_BUCKETS_MAX + 1; i++)
            od_buf_printf(&many, "%s%d", i > 1 ? ", " : "", i);
        od_buf_puts(&many, "]\n");
        bad(many.base, "c.yaml:2:23: metrics.queue_wait_buckets must list 1 to 128 bounds, got 129",
            "too many buckets");
        od_buf_dispose(&many);
    }
    bad("metrics:\n  processing_buckets: [0.001, 0.01, 0.005]\n",
        "c.yaml:2:37: metrics.processing_buckets must be strictly ascending: 0.005 follows 0.01",
        "buckets descending");
    bad("metrics:\n  processing_buckets: [0.001, -1]\n",
        "c.yaml:2:31: metrics.processing_buckets: each bound must be a number of seconds above 0",
        "a negative bound");
    bad("metrics:\n  processing_buckets: [0.001, fast]\n",
        "c.yaml:2:31: metrics.processing_buckets: each bound", "a bound that is not a number");
    bad("metrics:\n  processing_buckets: [\"0.1\"]\n", "c.yaml:2:24: metrics.processing_buckets: each bound",
        "a quoted bound");
    bad("metrics:\n  processing_buckets: []\n", "c.yaml:2:23: metrics.processing_buckets must list 1 to 128",
        "no buckets");
    bad("metrics:\n  processing_buckets: 0.1\n", "c.yaml:2:23: metrics.processing_buckets must be a list",
        "a scalar");
    bad("metrics:\n  processing_buckets: [[0.1]]\n",
        "c.yaml:2:24: metrics.processing_buckets must be a list of numbers", "a nested list");
    bad("metrics:\n  buckets: [0.1]\n", "c.yaml:2:3: unknown key \"metrics.buckets\"",
        "an unknown metrics key");
    bad("http:\n  threads: two\n", "c.yaml:2:12: http.threads must be a whole number", "wrong type");
    bad("http:\n  threads: 0\n", "http.threads must be from 1 to 64", "out of range");
    bad("http:\n  threads: \"2\"\n", "http.threads must be a whole number", "quoted number");
    /* profiling.cpu_engine, and a cpu_hz the engine cannot deliver */
    ok(load("", &c) == NULL && c.profiling.cpu_engine == OD_CPU_ENGINE_AUTO, "cpu_engine defaults to auto");
    od_config_dispose(&c);
    ok(load("profiling:\n  cpu_engine: itimer\n", &c) == NULL &&
           c.profiling.cpu_engine == OD_CPU_ENGINE_ITIMER,
       "cpu_engine: itimer parses");
    od_config_dispose(&c);
    ok(load("profiling:\n  cpu_engine: perf_event\n  cpu_hz: 1000\n", &c) == NULL &&
           c.profiling.cpu_engine == OD_CPU_ENGINE_PERF_EVENT && c.profiling.cpu_hz == 1000,
       "cpu_engine: perf_event with cpu_hz 1000 loads");
    od_config_dispose(&c);
    bad("profiling:\n  cpu_engine: perf\n",
        "c.yaml:2:15: profiling.cpu_engine must be auto, perf_event or itimer, got \"perf\"",
        "unknown cpu_engine");
    bad("profiling:\n  cpu_engine: [itimer]\n",
        "c.yaml:2:15: profiling.cpu_engine must be auto, perf_event or itimer", "cpu_engine as a list");
    {
        char want[256];
        int tick = od_cpu_itimer_max_hz();
        /* over the tick, within the perf_event engine's reach */
        int over = tick * 4 > OD_CPU_PERF_MAX_HZ ? OD_CPU_PERF_MAX_HZ : tick * 4;
        snprintf(
            want, sizeof(want),
            "c.yaml:3:11: cpu_hz %d exceeds the itimer engine's limit of %d Hz (the kernel tick, CONFIG_HZ); "
            "use cpu_engine: perf_event or cpu_hz <= %d\n",
            over, tick, tick);
        char cfg[128];
        /* cpu_hz before cpu_engine too: the check waits for the whole file */
        snprintf(cfg, sizeof(cfg), "profiling:\n  cpu_engine: itimer\n  cpu_hz: %d\n", over);
        bad(cfg, want, "cpu_hz over the itimer engine's limit");
        snprintf(want, sizeof(want), "c.yaml:2:11: cpu_hz %d exceeds the itimer engine's limit", over);
        snprintf(cfg, sizeof(cfg), "profiling:\n  cpu_hz: %d\n  cpu_engine: itimer\n", over);
        bad(cfg, want, "cpu_hz over the itimer limit, given before cpu_engine");
        snprintf(cfg, sizeof(cfg), "profiling:\n  cpu_engine: itimer\n  cpu_hz: %d\n", tick);
        ok(load(cfg, &c) == NULL, "cpu_hz at the itimer limit (%d) loads", tick);
        od_config_dispose(&c);
        snprintf(cfg, sizeof(cfg), "profiling:\n  enabled: false\n  cpu_engine: itimer\n  cpu_hz: %d\n",
                 over);
        ok(load(cfg, &c) == NULL, "profiling disabled: cpu_hz is not held to an engine");
        od_config_dispose(&c);
        if (od_cpu_perf_available(NULL)) {
            snprintf(cfg, sizeof(cfg), "profiling:\n  cpu_hz: %d\n", over);
            ok(load(cfg, &c) == NULL, "cpu_engine auto (perf_event here) takes cpu_hz %d", over);
            od_config_dispose(&c);
        } else {
            snprintf(want, sizeof(want), "cpu_engine auto chose itimer because");
            snprintf(cfg, sizeof(cfg), "profiling:\n  cpu_hz: %d\n", over);
            bad(cfg, want, "cpu_engine auto (itimer here) refuses cpu_hz over the tick, saying why");
        }
    }
    bad("profiling:\n  cpu_engine: perf_event\n  cpu_hz: 4000\n",
        "c.yaml:3:11: cpu_hz 4000 exceeds the perf_event engine's limit of 2000 Hz (measured: beyond it the "
        "sampling's own cost skews the shares); use cpu_hz <= 2000\n",
        "cpu_hz over the perf_event engine's measured limit");
    bad("profiling:\n  cpu_hz: 4001\n", "c.yaml:2:11: profiling.cpu_hz must be from 1 to 4000",
        "cpu_hz over 4000");
    bad("listen: 127.0.0.1\n", "c.yaml:1:9: listen must be HOST:PORT", "listen without port");
    bad("listen: 127.0.0.1:70000\n", "listen must be HOST:PORT", "port out of range");
    bad("profiling:\n  enabled: maybe\n", "profiling.enabled must be true or false", "bad boolean");
    bad("profiling:\n  keep: { files: 3, bytes: lots }\n", "profiling.keep.bytes must be a size", "bad size");
    bad("http: [1, 2]\n", "http must be a mapping", "list where a mapping belongs");
    bad("scenarios: a.lua\n", "scenarios must be a list", "scalar where a list belongs");
    bad("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "c.yaml:2:1: duplicate key \"listen\"",
        "duplicate key");
    bad("http:\n  threads: [\n", "c.yaml:", "broken YAML");
    bad("http: {threads: 1\n", "c.yaml:", "unclosed flow mapping");
    bad("listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", "only one YAML document", "two documents");
    bad("http:\n  threads: 0\n  max_body_bytes: 1\nbogus: 2\n", "bogus", "several problems reported at once");
    {
        od_config_t c2;
        const char *e = load("http:\n  threads: 0\n  max_body_bytes: 1\n", &c2);
        int lines = 0;
        for (const char *p = e; p && *p; p++)
            lines += *p == '\n';
        is_int(lines, 2, "each problem on its own line");
        od_config_dispose(&c2);
    }
    {
        od_config_t c3;
        od_buf_t errors = OD_BUF_INIT;
        od_config_defaults(&c3);
        ok(od_config_load(&c3, "/nonexistent/orderd.yaml", &errors) == -1 &&
               strstr(errors.base, "/nonexistent/orderd.yaml:1:1: cannot open"),
           "a missing file is reported with its name");
        od_buf_dispose(&errors);
        od_config_dispose(&c3);
    }

    od_listen_t l;
    ok(od_listen_parse("[::1]:80", &l) == 0 && strcmp(l.host, "::1") == 0 && l.port == 80, "[::1]:80 parses");
    ok(od_listen_is_loopback(&l), "::1 is loopback");
    free(l.host);
    ok(od_listen_parse("0.0.0.0:80", &l) == 0 && !od_listen_is_loopback(&l), "0.0.0.0 is not loopback");
    free(l.host);
    ok(od_listen_parse("127.1.2.3:80", &l) == 0 && od_listen_is_loopback(&l), "127.1.2.3 is loopback");
    free(l.host);
    ok(od_listen_parse("::1:80", &l) == -1, "bare IPv6 needs brackets");

    /* the pool table */
    od_pool_config_t pc;
    ok(pool_load("return { workers = 3, queue = 10, reserve = { stripes = 2 }, price = { work_us = 5 } }",
                 &pc) == NULL &&
           pc.workers == 3 && pc.queue == 10 && pc.reserve.stripes == 2 && pc.price.work_us == 5 &&
           pc.pay.ms_per_priority == 10,
       "pool table applied over the defaults");
    ok(pool_load("return { workers = orderd.cpus() * 2 }", &pc) == NULL && pc.workers >= 2, "orderd.cpus()");
    setenv("OD_T_WORKERS", "7", 1);
    ok(pool_load("return { workers = tonumber(orderd.env('OD_T_WORKERS')) }", &pc) == NULL && pc.workers == 7,
       "orderd.env()");
    pool_bad("return {\n  workers = 2,\n  wokers = 3,\n}\n", "w.lua:3: unknown key \"wokers\"",
             "unknown key, with its line");
    pool_bad("return {\n  reserve = {\n    stripe = 2,\n  },\n}\n", "w.lua:3: unknown key \"reserve.stripe\"",
             "unknown nested key");
    pool_bad("return { workers = 0 }", "workers (worker threads) must be a whole number from 1",
             "out of range");
    pool_bad("return { workers = 2.5 }", "must be a whole number", "fraction");
    pool_bad("return { workers = function() return 2 end }", "the pool table holds values only",
             "a function");
    pool_bad("return { workers = 2", "w.lua:1:", "syntax error");
    pool_bad("error('boom')", "w.lua:1: boom", "runtime error");
    pool_bad("return 42", "must return the pool table", "not a table");
    pool_bad("return { price = 5 }", "price must be a table", "number where a table belongs");
    /* positions come from the returned table itself, not from the first matching text */
    pool_bad("-- workers = 1 is the old default\nlocal note = 'workers = 2'\nreturn {\n  workers = 0,\n}\n",
             "w.lua:4: workers (worker threads) must be",
             "a bad value at its field, past a comment and a string");
    pool_bad("return {\n  price = { work_us = 1 },\n  reserve = {\n    hold_us = 1, work_us = 2,\n  },\n}\n",
             "w.lua:4: unknown key \"reserve.work_us\"", "a nested key at the line of its own table");
    pool_bad("local reserve = { stripes = 0 }\nreturn {\n  reserve = reserve,\n}\n",
             "w.lua:3: reserve.stripes (inventory mutexes) must be", "a table built elsewhere: at its field");
    {
        od_pool_config_t pc2;
        od_buf_t errors = OD_BUF_INIT;
        od_pool_config_defaults(&pc2);
        ok(od_pool_config_load(&pc2, "/nonexistent/w.lua", &errors) == -1 &&
               strstr(errors.base, "/nonexistent/w.lua:1: cannot open"),
           "a missing script is reported with its name: %s", errors.base);
        od_buf_dispose(&errors);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return done_testing();
}
