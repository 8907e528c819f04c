/*
 * prof_trace — the execution trace: one trace at a time; spans, lock waits, instants and
 * flows from several threads come out as Chrome Trace Event JSON that parses (checked with
 * perl's core JSON::PP), with thread names, order ids, matching flow ids, each flow event
 * inside a slice of its thread and slices properly nested; buffers are bounded and drops
 * counted; writers racing with stop are safe.  TAP.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prof/lockprof.h"
#include "prof/threads.h"
#include "prof/trace.h"
#include "tap.h"

/* Decodes the JSON in `path` and prints facts about it, one "key=value" per line. */
static const char checker[] =
    "use strict; use JSON::PP;"
    "open(my $f, '<', $ARGV[0]) or die; local $/; my $j = JSON::PP->new->decode(<$f>);"
    "my (%names, %x, @fl, %c);"
    "for my $e (@{$j->{traceEvents}}) {"
    "  my $ph = $e->{ph};"
    "  if ($ph eq 'M') {"
    "    $names{$e->{args}{name}} = 1 if $e->{name} eq 'thread_name';"
    "    $c{procname}++ if $e->{name} eq 'process_name' && $e->{args}{name} eq 'orderd';"
    "  } elsif ($ph eq 'X') {"
    "    my $s = int($e->{ts} * 1000 + 0.5); my $d = int($e->{dur} * 1000 + 0.5);"
    "    push @{$x{$e->{tid}}}, [$s, $s + $d];"
    "    $c{x_order}++ if $e->{cat} eq 'stage' && defined $e->{args}{order_id};"
    "    $c{lock}++ if $e->{name} =~ /^lock wait: inventory$/;"
    "  } elsif ($ph eq 'i') { $c{instants}++ if $e->{s} eq 'g' && $e->{args}{detail} eq 'burst' }"
    "  elsif ($ph eq 's' || $ph eq 'f') { push @fl, $e; $c{$ph}++ }"
    "}"
    "my $bad = 0;"
    "for my $t (keys %x) {"
    "  my @st; for my $sl (sort { $a->[0] <=> $b->[0] || $b->[1] <=> $a->[1] } @{$x{$t}}) {"
    "    pop @st while @st && $st[-1][1] <= $sl->[0];"
    "    $bad++ if @st && $sl->[1] > $st[-1][1]; push @st, $sl } }"
    "my ($enc, %s, %f) = (0);"
    "for my $e (@fl) {"
    "  my $t = int($e->{ts} * 1000 + 0.5);"
    "  $enc++ if grep { $_->[0] < $t && $t < $_->[1] } @{$x{$e->{tid}} || []};"
    "  ($e->{ph} eq 's' ? \\%s : \\%f)->{$e->{id}} = $e;"
    "}"
    "my $m = grep { $f{$_} && $f{$_}{tid} != $s{$_}{tid} && $f{$_}{ts} > $s{$_}{ts}"
    "               && $f{$_}{cat} eq $s{$_}{cat} && $f{$_}{name} eq $s{$_}{name} } keys %s;"
    "print \"json=ok\\n\", map(\"$_=\" . ($c{$_} // 0) . \"\\n\", qw(procname x_order lock instants s f)),"
    "  \"matched=$m\\nenclosed=$enc\\nbadnest=$bad\\nnames=\", join(',', sort keys %names),"
    "  \"\\nunit=$j->{displayTimeUnit}\\ndropped=$j->{otherData}{dropped_events}\\n\";";

typedef struct facts {
    char text[4096];
} facts_t;

/* runs the checker on the JSON; facts->text holds its output ("" if perl failed) */
static int check_json(const od_buf_t *json, facts_t *facts)
{
    char path[] = "/tmp/prof_trace_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    fwrite(json->base, 1, json->len, f);
    fclose(f);
    char script[] = "/tmp/prof_trace_pl_XXXXXX";
    fd = mkstemp(script);
    f = fdopen(fd, "w");
    fputs(checker, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "perl %s %s", script, path);
    FILE *p = popen(cmd, "r");
    size_t n = fread(facts->text, 1, sizeof(facts->text) - 1, p);
    facts->text[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    unlink(script);
    return rc == 0 ? 0 : -1;
}

/* the value of key in the facts, as a number (-1 if absent) */
static long fact(const facts_t *facts, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\n%s=", key);
    const char *p = strstr(facts->text, k);
    return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

static const char *fact_str(const facts_t *facts, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof(k), "\n%s=", key);
    const char *p = strstr(facts->text, k);
    out[0] = '\0';
    if (p) {
        p += strlen(k);
        size_t n = strcspn(p, "\n");
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    }
    return out;
}

/* --- the main scenario ------------------------------------------------------------------- */

#define NORDERS 50
static od_mutex_t inventory;

static void *http_main(void *arg)
{
    od_thread_register("http-0");
    for (int i = 0; i < NORDERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "ord-%d", i);
        uint64_t t0 = od_now_ns();
        od_sleep_ns(2000);
        od_trace_span("parse", id, t0, od_now_ns());
        od_trace_flow_begin((uint64_t)i + 1, id);
    }
    od_thread_unregister();
    return arg;
}

/* the contender holds the lock until the worker is about to take it, and 5 ms more: the
 * worker's first lock waits, however the threads are scheduled */
static int contender_holds, worker_locking;

static void *worker_main(void *arg)
{
    od_thread_register("worker-0");
    while (!__atomic_load_n(&contender_holds, __ATOMIC_ACQUIRE))
        od_sleep_ns(100000);
    __atomic_store_n(&worker_locking, 1, __ATOMIC_RELEASE); /* the first od_mutex_lock below */
    for (int i = 0; i < NORDERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "ord-%d", i);
        od_trace_flow_end((uint64_t)i + 1, id); /* before the stage, as the pool does */
        uint64_t t0 = od_now_ns();
        od_mutex_lock(&inventory);
        od_sleep_ns(3000);
        od_mutex_unlock(&inventory);
        od_trace_span("reserve", id, t0, od_now_ns());
    }
    od_thread_unregister();
    return arg;
}

static void *contender_main(void *arg)
{
    od_thread_register("worker-1");
    od_mutex_lock(&inventory);
    __atomic_store_n(&contender_holds, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&worker_locking, __ATOMIC_ACQUIRE))
        od_sleep_ns(100000);
    od_sleep_ns(5000000);
    od_mutex_unlock(&inventory);
    for (int i = 0; i < 200; i++) {
        od_mutex_lock(&inventory);
        od_sleep_ns(3000);
        od_mutex_unlock(&inventory);
    }
    uint64_t t = od_now_ns(); /* whether it ever waited or not, it recorded something */
    od_trace_span("contend", NULL, t, t + 1000);
    od_thread_unregister();
    return arg;
}

static void test_scenario(void)
{
    od_mutex_init(&inventory, "inventory");
    ok(!od_trace_active() && !od_trace_running(), "no trace at first");
    ok(od_trace_start() == 0, "start");
    ok(od_trace_active() && od_trace_running(), "active while running");
    ok(od_trace_start() == -1, "a second start fails while one runs");

    od_trace_instant("scenario start", "burst");
    pthread_t h, w, c;
    pthread_create(&h, NULL, http_main, NULL);
    pthread_join(h, NULL); /* all enqueued before the worker starts: flows go forwards */
    pthread_create(&w, NULL, worker_main, NULL);
    pthread_create(&c, NULL, contender_main, NULL);
    pthread_join(w, NULL);
    pthread_join(c, NULL);
    od_trace_instant("scenario end", "burst");

    od_buf_t out = OD_BUF_INIT;
    od_trace_stop(&out);
    ok(!od_trace_active() && !od_trace_running(), "stopped");
    ok(out.len > 0 && strncmp(out.base, "{\"traceEvents\":[", 16) == 0, "output is a trace object");

    facts_t facts;
    int rc = check_json(&out, &facts);
    ok(rc == 0 && strncmp(facts.text, "json=ok\n", 8) == 0, "the output parses as JSON (JSON::PP)");
    if (rc != 0) printf("# %s\n# first bytes: %.300s\n", facts.text, out.base);
    char names[512];
    fact_str(&facts, "names", names, sizeof(names));
    ok(strstr(names, "http-0") && strstr(names, "worker-0") && strstr(names, "worker-1"),
       "thread_name metadata for every thread (%s)", names);
    ok(fact(&facts, "procname") == 1, "process_name orderd");
    ok(fact(&facts, "x_order") == 2 * NORDERS, "X spans carry order ids (%ld)", fact(&facts, "x_order"));
    ok(fact(&facts, "lock") > 0, "lock waits recorded as 'lock wait: inventory' (%ld)", fact(&facts, "lock"));
    ok(fact(&facts, "instants") == 2, "two global instants with their detail");
    ok(fact(&facts, "s") == NORDERS && fact(&facts, "f") == NORDERS, "%d flow starts and ends", NORDERS);
    ok(fact(&facts, "matched") == NORDERS,
       "every flow id has its s on one thread and its f later on another (%ld)", fact(&facts, "matched"));
    ok(fact(&facts, "enclosed") == 2 * NORDERS, "every flow event lies inside a slice of its thread (%ld)",
       fact(&facts, "enclosed"));
    ok(fact(&facts, "badnest") == 0, "slices nest properly on every thread");
    char unit[16];
    ok(strcmp(fact_str(&facts, "unit", unit, sizeof(unit)), "ms") == 0, "displayTimeUnit ms");
    ok(fact(&facts, "dropped") == 0, "nothing dropped");
    od_buf_dispose(&out);

    od_trace_stop(&out);
    ok(strstr(out.base, "\"error\":\"no trace running\"") != NULL,
       "stop without a trace says so, in a JSON trace");
    od_buf_dispose(&out);
    od_mutex_destroy(&inventory);

    /* a fresh trace after a stop */
    ok(od_trace_start() == 0, "a new trace starts after the stop");
    od_trace_stop(&out);
    ok(check_json(&out, &facts) == 0 && fact(&facts, "s") == 0, "and holds nothing old");
    od_buf_dispose(&out);
}

/* --- bounds ------------------------------------------------------------------------------ */

static long other_num(const od_buf_t *b, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(b->base, "\"otherData\"");
    p = p ? strstr(p, k) : NULL;
    return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

/* flooders hold their registry slot until all are done: a buffer belongs to a slot, and a
 * thread taking over a slot would continue the previous owner's buffer */
static pthread_barrier_t flood_registered, flood_done;

static int flood_events = OD_TRACE_MAX_THREAD_EVENTS + 5000;

static void *flood_main(void *arg)
{
    char name[16];
    snprintf(name, sizeof(name), "flood-%d", (int)(intptr_t)arg);
    od_thread_register(name);
    pthread_barrier_wait(&flood_registered);
    for (int i = 0; i < flood_events; i++)
        od_trace_span("flood", NULL, 1, 2); /* before the trace start: stored, not written */
    pthread_barrier_wait(&flood_done);
    od_thread_unregister();
    return NULL;
}

static void flood(int nthreads, od_buf_t *out)
{
    pthread_t t[16];
    pthread_barrier_init(&flood_registered, NULL, (unsigned)nthreads);
    pthread_barrier_init(&flood_done, NULL, (unsigned)nthreads);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, flood_main, (void *)(intptr_t)i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&flood_registered);
    pthread_barrier_destroy(&flood_done);
    od_trace_stop(out);
}

static void test_bounds(void)
{
    /* one thread, default bounds: the per-thread cap */
    ok(od_trace_start() == 0, "start (per-thread bound)");
    od_buf_t out = OD_BUF_INIT;
    flood(1, &out);
    long dropped = other_num(&out, "dropped_events"), bytes = other_num(&out, "buffered_bytes");
    /* the thread's name takes one event */
    ok(dropped == 5001, "events beyond %d per thread are dropped and counted (%ld)",
       OD_TRACE_MAX_THREAD_EVENTS, dropped);
    ok(bytes == OD_TRACE_MAX_THREAD_EVENTS * 128L, "the buffer did not grow (%ld bytes)", bytes);
    ok(other_num(&out, "max_events_per_thread") == OD_TRACE_MAX_THREAD_EVENTS &&
           other_num(&out, "max_bytes") == (long)OD_TRACE_MAX_BYTES,
       "otherData reports the bounds");
    od_buf_dispose(&out);

    /* the whole-trace cap, lowered (the default takes 600 K events: slow under TSan):
     * 8192 events per thread, 2 MiB (16384 events) in all, 4 threads wanting 13192 each */
    od_trace_set_limits(8192, 2u << 20);
    flood_events = 8192 + 5000;
    ok(od_trace_start() == 0, "start (whole-trace bound)");
    flood(4, &out);
    dropped = other_num(&out, "dropped_events");
    bytes = other_num(&out, "buffered_bytes");
    ok(other_num(&out, "max_events_per_thread") == 8192 && other_num(&out, "max_bytes") == 2L << 20,
       "od_trace_set_limits lowers the bounds");
    ok(bytes == 2L << 20, "the trace stopped growing at its bound (%ld bytes)", bytes);
    /* every call was stored or dropped; a thread name costs one more when stored */
    long calls = 4L * flood_events, settled = dropped + bytes / 128;
    ok(settled >= calls && settled <= calls + 4, "everything else was dropped and counted (%ld)", dropped);
    od_buf_dispose(&out);
    od_trace_set_limits(0, 0);
}

/* --- racing stop ------------------------------------------------------------------------- */

static int racing_stop;

static void *racer_main(void *arg)
{
    od_thread_register(arg ? "racer-reg" : "racer");
    if (!arg) od_thread_unregister(); /* one registered, one using the shared buffer */
    uint64_t n = 0;
    while (!__atomic_load_n(&racing_stop, __ATOMIC_ACQUIRE)) {
        uint64_t t = od_now_ns();
        od_trace_span("race", "ord-x", t, t + 10);
        od_trace_flow_begin(++n, "ord-x");
        od_trace_instant("mark", NULL);
        od_sleep_ns(5000); /* keep each trace small: the checker is perl */
    }
    if (arg) od_thread_unregister();
    return NULL;
}

static void test_race(void)
{
    pthread_t r[2];
    pthread_create(&r[0], NULL, racer_main, (void *)1);
    pthread_create(&r[1], NULL, racer_main, NULL);
    int good = 0, rounds = 20;
    for (int i = 0; i < rounds; i++) {
        od_buf_t out = OD_BUF_INIT;
        if (od_trace_start() != 0) break;
        od_sleep_ns(1000000);
        od_trace_stop(&out);
        size_t n = out.len;
        if (n > 4 && strncmp(out.base, "{\"traceEvents\":[", 16) == 0 &&
            strcmp(out.base + n - 3, "}}\n") == 0)
            good++;
        if (i == rounds - 1) {
            facts_t facts;
            ok(check_json(&out, &facts) == 0, "a trace taken under fire parses");
        }
        od_buf_dispose(&out);
    }
    __atomic_store_n(&racing_stop, 1, __ATOMIC_RELEASE);
    pthread_join(r[0], NULL);
    pthread_join(r[1], NULL);
    ok(good == rounds, "%d start/stop rounds against busy writers, all complete", good);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_scenario();
    test_bounds();
    test_race();
    return done_testing();
}
