/*
 * load/selfcheck — unit tests (TAP) of orderload's verdict on its own figures
 * (src/load/selfcheck.c): a run passes when every scenario's send-delay p99 is at most 10 %
 * of its latency p99, and so is its connection-wait p99, and no worker was busy over 90 %;
 * when it fails, the advice follows the cause (arrivals that waited for a connection, a
 * saturated worker, a busy machine, sleeps that woke past their instant, a spinning thread
 * stopped by the machine); the JSON object has the same verdict.  Includes the .c files under
 * test.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/load/report.c"
#include "../../src/load/report_json.c"
#include "../../src/load/selfcheck.c"
#include "../../src/load/stats.c"
#include "tap.h"

/* a result whose every send delay is sd_us and every latency lat_us (n answers) */
static void fill(od_load_result_t *r, const char *name, uint64_t sd_us, uint64_t lat_us, uint64_t n)
{
    od_load_result_init(r, name);
    for (uint64_t i = 0; i < n; i++) {
        od_hist_record(r->st.send_delay, sd_us);
        od_hist_record(r->st.latency, lat_us);
    }
    r->st.c.scheduled = r->st.c.sent = r->st.c.completed = n;
}

static int has(char *const *list, size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(list[i], needle)) return 1;
    return 0;
}

int main(void)
{
    od_load_result_t good, late;
    fill(&good, "good", 2, 300, 1000);
    fill(&late, "late", 150, 400, 1000);
    od_load_cpu_t cpu = {.wall_ns = 1000000000ull, .sleep_ns = 900000000ull, .busiest = 0.05, .threads = 1};
    od_selfcheck_scen_t one[] = {{&good, 256}};
    od_selfcheck_t v;

    od_selfcheck_eval(&v, one, 1, &cpu, 0.5, 200000, 1);
    ok(v.ok && v.nproblems == 0 && v.nadvice == 0, "2us of send delay against 300us of latency passes");
    ok(v.worst && strcmp(v.worst, "good") == 0 && v.send_delay_p99_us == 2 && v.latency_p99_us == 300,
       "the verdict names the scenario and its p99s (%g, %g)", v.send_delay_p99_us, v.latency_p99_us);
    json_t *j = od_selfcheck_json(&v);
    ok(json_is_true(json_object_get(j, "ok")) && json_array_size(json_object_get(j, "problems")) == 0,
       "the JSON says ok with no problems");
    ok(fabs(json_real_value(json_object_get(j, "send_delay_share")) - 2.0 / 300) < 1e-4 &&
           json_real_value(json_object_get(j, "spin_us")) == 200,
       "... with the share and the spin window");
    json_decref(j);
    od_selfcheck_dispose(&v);

    /* late wake-ups: sleeps woke past their instants, so the spin window is the advice */
    od_selfcheck_scen_t two[] = {{&good, 256}, {&late, 8}};
    cpu.overslept = 100; /* of 2000 sends */
    od_selfcheck_eval(&v, two, 2, &cpu, 0.5, 200000, 1);
    ok(!v.ok && v.nproblems == 1 && has(v.problems, v.nproblems, "late: send delay p99 150us is 38%"),
       "150us of send delay against 400us fails, naming the scenario (%s)",
       v.nproblems ? v.problems[0] : "-");
    ok(v.worst && strcmp(v.worst, "late") == 0, "the worst scenario is the one reported");
    ok(v.nadvice == 1 && has(v.advice, v.nadvice, "--spin, now 200us"), "the advice is a wider spin window");
    od_selfcheck_dispose(&v);
    od_selfcheck_eval(&v, two, 2, &cpu, 0.5, OD_LOAD_MAX_SPIN_NS, 2);
    ok(v.nadvice == 1 && has(v.advice, v.nadvice, "add threads (-t, now 2)"),
       "with the widest window already, the advice is more threads");
    od_selfcheck_dispose(&v);

    /* late sends with no late wake: a thread that spun to its instants was stopped */
    cpu.overslept = 0;
    od_load_cpu_t stopped = cpu;
    stopped.stalls = 1200;
    stopped.spin_ns = 800000000ull;
    stopped.stall_max_ns = 90000;
    od_selfcheck_eval(&v, two, 2, &stopped, 0.5, 200000, 1);
    ok(!v.ok && v.nadvice == 1 && has(v.advice, v.nadvice, "stopped 1200 times for 20us or more") &&
           has(v.advice, v.nadvice, "1500 per second of spinning, the longest 90us") &&
           has(v.advice, v.nadvice, "a wider spin window does not help"),
       "stops of a spinning thread: the machine, not the window (%s)", v.nadvice ? v.advice[0] : "-");
    j = od_selfcheck_json(&v);
    ok(json_integer_value(json_object_get(j, "stalls")) == 1200 &&
           json_real_value(json_object_get(j, "stall_max_us")) == 90,
       "... and the JSON counts the stops");
    json_decref(j);
    od_selfcheck_dispose(&v);

    /* arrivals that waited for a connection: on time once one was free, so the wait is the
     * problem, not the send delay */
    od_load_result_t waited;
    fill(&waited, "waited", 2, 400, 1000);
    for (int i = 0; i < 1000; i++)
        od_hist_record(waited.st.conn_wait, i < 900 ? 1 : 300);
    waited.st.c.queued = 100;
    od_selfcheck_scen_t three[] = {{&good, 256}, {&waited, 8}};
    od_selfcheck_eval(&v, three, 2, &cpu, 0.5, 200000, 1);
    ok(!v.ok && v.nproblems == 1 && has(v.problems, v.nproblems, "waited: conn wait p99 300us is 75%") &&
           has(v.problems, v.nproblems, "the server got them late"),
       "a conn wait p99 of 300us against 400us fails (%s)", v.nproblems ? v.problems[0] : "-");
    ok(has(v.advice, v.nadvice, "waited: 100 arrivals waited for a free connection") &&
           has(v.advice, v.nadvice, "connections (now 8)") && !has(v.advice, v.nadvice, "--spin"),
       "... raise the scenario's connections, not the spin window");
    ok(v.wait_worst && strcmp(v.wait_worst, "waited") == 0 && v.conn_wait_p99_us == 300 &&
           strcmp(v.worst, "waited") != 0,
       "... the verdict names it for its wait (the worst send delay is another's)");
    od_selfcheck_dispose(&v);
    od_load_result_dispose(&waited);

    /* the machine was busy */
    od_load_cpu_t busy_machine = cpu;
    busy_machine.runq_ns = 100000000ull;
    od_selfcheck_eval(&v, two, 2, &busy_machine, 0.5, 200000, 1);
    ok(!v.ok && has(v.advice, v.nadvice, "waited 0.10s for a CPU") && !has(v.advice, v.nadvice, "--spin"),
       "time on the run queue: the machine is busy");
    od_selfcheck_dispose(&v);

    /* a saturated worker fails the run even when the send delays are small */
    od_load_cpu_t saturated = cpu;
    saturated.busiest = 0.97;
    od_selfcheck_eval(&v, one, 1, &saturated, 0.5, 200000, 3);
    ok(!v.ok && v.nproblems == 1 && has(v.problems, v.nproblems, "busy 97% of the run"),
       "a worker busy 97%% of the run fails the check");
    ok(has(v.advice, v.nadvice, "add worker threads (-t, now 3)"), "... and the advice is more threads");
    j = od_selfcheck_json(&v);
    ok(json_is_false(json_object_get(j, "ok")) && json_array_size(json_object_get(j, "problems")) == 1 &&
           json_array_size(json_object_get(j, "advice")) == 1,
       "the JSON carries the same verdict");
    json_decref(j);
    od_selfcheck_dispose(&v);

    /* no answers at all: nothing to judge but the CPU */
    od_load_result_t none;
    od_load_result_init(&none, "none");
    od_selfcheck_scen_t empty[] = {{&none, 256}};
    od_selfcheck_eval(&v, empty, 1, &cpu, 0, 200000, 1);
    ok(v.ok && v.worst == NULL, "a scenario without answers is not judged");
    j = od_selfcheck_json(&v);
    ok(json_is_null(json_object_get(j, "scenario")), "... and the JSON's scenario is null");
    json_decref(j);
    od_selfcheck_dispose(&v);

    od_load_result_dispose(&good);
    od_load_result_dispose(&late);
    od_load_result_dispose(&none);
    return done_testing();
}
