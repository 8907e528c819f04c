/*
 * orderload — the Lua-scripted load generator: options, scenario resolution, the run of
 * each scenario file in turn (announcements, profile captures, the progress line), the
 * reports and the exit code.  The load itself is made by engine.c's worker threads; this
 * file is the main thread.
 *
 * Exit codes: 0 ok, 99 a threshold failed, 2 usage or script error, 3 target unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "load/control.h"
#include "load/engine.h"
#include "load/http.h"
#include "load/report.h"
#include "load/report_json.h"
#include "load/resolve.h"
#include "load/selfcheck.h"
#include "load/stats.h"
#include "base/log.h"
#include "scenario/scenario.h"

#define EXIT_THRESHOLD 99
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define DEFAULT_TARGET "http://127.0.0.1:8080"
#define LOOP_NS 20000000ull
#define ANNOUNCE_LEAD_NS 10000000ull

static const char usage_text[] =
    "usage: orderload [options] SCENARIO...\n"
    "\n"
    "Runs load scenarios against an HTTP server (by default an orderd) and reports latency\n"
    "measured from each request's intended start, so a stalled server shows in the numbers.\n"
    "SCENARIO is a Lua file, or a name listed in the config's `scenarios:` or found as\n"
    "lua/scenarios/NAME.lua.  Several run one after another.\n"
    "\n"
    "options:\n"
    "  -u URL              target (overrides the file's `target`; default " DEFAULT_TARGET ")\n"
    "  -d DURATION         scale every scenario of each file to fit DURATION (e.g. 10s)\n"
    "  -c CONFIG           the YAML naming the scenarios (default config/orderd.yaml)\n"
    "  -t THREADS          worker threads (default: CPUs, at most 4)\n"
    "  --spin DURATION     the most a worker polls instead of sleeping before each send, and\n"
    "                      after it while its answer is awaited: as long as its recent wake-ups\n"
    "                      were late, so that a late wake-up is in no time measured\n"
    "                      (0 to 10ms; default 2ms; 0 = sleep to the instant)\n"
    "  --json FILE         write the report as JSON (schema 1) to FILE\n"
    "  --progress INTERVAL progress line on stderr this often (default 1s; 0 = none)\n"
    "  --profile-dir DIR   where `profile` captures are saved (default: beside --json, else .)\n"
    "  --quiet             no progress line and no text report (warnings and failures still)\n"
    "  --no-announce       do not POST /scenarios/NAME/start and /end to the target\n"
    "  -h, --help          this text\n"
    "\n"
    "exit: 0 ok, 99 a threshold failed, 2 usage or script error, 3 target unreachable\n"
    "Scenario files are described in lua/scenarios/README.md.\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct options {
    const char *url, *config, *json, *profile_dir;
    uint64_t duration_ns, progress_ns, spin_ns;
    int threads, quiet, announce, config_given;
} options_t;

/* One scenario file's run and results. */
typedef struct file_run {
    char *path;
    od_scenario_set_t *set;
    od_url_t url;
    char *target;
    od_load_result_t *results;
    od_load_result_t total;
    double span_s;
    double *th_values;
    int *th_ok;
    od_capture_job_t *captures;
    size_t ncaptures;
    char *script_error;
    int ran;
} file_run_t;

static options_t opt = {.config = "config/orderd.yaml",
                        .progress_ns = 1000000000ull,
                        .spin_ns = OD_LOAD_DEFAULT_SPIN_NS,
                        .announce = 1};
static json_t *warnings;      /* the JSON document's "warnings" array */
static od_load_cpu_t cpu_all; /* where the workers' time went, over every file's run */

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    od_buf_t m = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&m, fmt, ap);
    va_end(ap);
    od_warn("%s", m.base);
    if (warnings == NULL) warnings = json_array();
    json_array_append_new(warnings, od_json_text(m.base));
    od_buf_dispose(&m);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "orderload: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(orderload --help lists the options)\n");
    exit(EXIT_USAGE);
}

static void parse_options(int argc, char **argv)
{
    enum { O_JSON = 256, O_PROGRESS, O_QUIET, O_PROFILE_DIR, O_NO_ANNOUNCE, O_SPIN };
    static const struct option longopts[] = {
        {"json", required_argument, NULL, O_JSON},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"profile-dir", required_argument, NULL, O_PROFILE_DIR},
        {"no-announce", no_argument, NULL, O_NO_ANNOUNCE},
        {"spin", required_argument, NULL, O_SPIN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opt.threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
    int c;
    while ((c = getopt_long(argc, argv, "u:d:c:t:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            opt.url = optarg;
            break;
        case 'd':
            if (od_parse_duration(optarg, &opt.duration_ns) != 0 || opt.duration_ns < 1000000)
                usage_error("-d %s: not a duration such as 10s", optarg);
            break;
        case 'c':
            opt.config = optarg;
            opt.config_given = 1;
            break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 256) usage_error("-t %s: threads must be 1 to 256", optarg);
            opt.threads = (int)t;
            break;
        }
        case O_JSON:
            opt.json = optarg;
            break;
        case O_PROGRESS:
            if (od_parse_duration(optarg, &opt.progress_ns) != 0)
                usage_error("--progress %s: not a duration such as 1s (0 turns it off)", optarg);
            if (opt.progress_ns > 0 && opt.progress_ns < 100000000ull) opt.progress_ns = 100000000ull;
            break;
        case 'q':
        case O_QUIET:
            opt.quiet = 1;
            break;
        case O_PROFILE_DIR:
            opt.profile_dir = optarg;
            break;
        case O_NO_ANNOUNCE:
            opt.announce = 0;
            break;
        case O_SPIN:
            if (od_parse_duration(optarg, &opt.spin_ns) != 0 || opt.spin_ns > OD_LOAD_MAX_SPIN_NS)
                usage_error("--spin %s: the spin window must be a duration from 0 to 10ms (e.g. 300us)",
                            optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        default:
            fprintf(stderr, "%s", usage_text);
            exit(EXIT_USAGE);
        }
    }
    if (optind >= argc) usage_error("name at least one SCENARIO");
}

static char *random_id(void)
{
    unsigned char b[4] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(b, 1, sizeof(b), f) != sizeof(b)) {
        uint64_t t = od_wall_ns() ^ ((uint64_t)getpid() << 16);
        memcpy(b, &t, sizeof(b));
    }
    if (f) fclose(f);
    return od_asprintf("%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

static char *capture_dir(void)
{
    if (opt.profile_dir) return od_strdup(opt.profile_dir);
    if (opt.json) {
        const char *slash = strrchr(opt.json, '/');
        if (slash) return od_strndup(opt.json, (size_t)(slash - opt.json));
    }
    return od_strdup(".");
}

/* ---- progress ----------------------------------------------------------------------------- */

typedef struct progress {
    int tty;
    uint64_t last_sent, last_completed, last_at, next_at;
    od_hist_t *interval, *cinterval; /* latency to each answer; completion of followed orders */
    int printed;
} progress_t;

static void progress_line(progress_t *p, file_run_t *fr, od_load_run_t *run, uint64_t t0, uint64_t now,
                          int final)
{
    size_t n = od_scenario_set_count(fr->set);
    od_load_counts_t sum = {0};
    uint64_t inflight = 0, backlog = 0;
    od_buf_t names = OD_BUF_INIT;
    od_hist_reset(p->interval);
    od_hist_reset(p->cinterval);
    for (size_t i = 0; i < n; i++) {
        od_load_snapshot_t s;
        od_load_run_snapshot(run, i, &s, p->interval, p->cinterval);
        od_load_counts_add(&sum, &s.c);
        inflight += s.inflight;
        backlog += s.backlog;
        if (s.phase == OD_PHASE_RUN || s.phase == OD_PHASE_DRAIN)
            od_buf_printf(&names, "%s%s", names.len ? "," : "", od_scenario_set_get(fr->set, i)->name);
    }
    if (final && !p->tty && p->printed && sum.sent == p->last_sent && sum.completed == p->last_completed) {
        od_buf_dispose(&names); /* the last line said it all */
        return;
    }
    p->last_completed = sum.completed;
    double dt = (double)(now - p->last_at) / 1e9;
    double rate = dt > 0 ? (double)(sum.sent - p->last_sent) / dt : 0;
    p->last_sent = sum.sent;
    p->last_at = now;
    char p50[24], p99[24], c99[24];
    od_fmt_us(p50, (double)od_hist_percentile(p->interval, 50));
    od_fmt_us(p99, (double)od_hist_percentile(p->interval, 99));
    od_fmt_us(c99, (double)od_hist_percentile(p->cinterval, 99));
    char line[576];
    snprintf(line, sizeof(line),
             "%6.1fs %-16s sent %llu (%.1f/s) done %llu inflight %llu backlog %llu dropped %llu errors "
             "%llu%s%s%s%s%s%s",
             (double)(now - t0) / 1e9, names.len ? names.base : "-", (unsigned long long)sum.sent, rate,
             (unsigned long long)sum.completed, (unsigned long long)inflight, (unsigned long long)backlog,
             (unsigned long long)sum.dropped, (unsigned long long)od_load_errors_total(&sum),
             p->interval->total ? " p50 " : "", p->interval->total ? p50 : "",
             p->interval->total ? " p99 " : "", p->interval->total ? p99 : "",
             p->cinterval->total ? " completion p99 " : "", p->cinterval->total ? c99 : "");
    if (p->tty)
        fprintf(stderr, "\r%s\033[K", line);
    else
        fprintf(stderr, "%s\n", line);
    p->printed = 1;
    od_buf_dispose(&names);
}

/* ---- one scenario file -------------------------------------------------------------------- */

static double target_rate(const od_scenario_t *sc)
{
    if (sc->executor == OD_EXEC_CONSTANT_RATE) return sc->rate;
    if (sc->executor == OD_EXEC_RAMPING_RATE)
        return (double)od_scenario_arrivals(sc) / ((double)sc->duration_ns / 1e9);
    return 0;
}

static int run_file(file_run_t *fr, const char *run_id, const char *cdir)
{
    od_scenario_set_t *set = fr->set;
    size_t n = od_scenario_set_count(set);
    od_buf_t err = OD_BUF_INIT;
    od_load_run_t *run = od_load_run_create(set, &fr->url, opt.threads, run_id, opt.spin_ns, &err);
    if (run == NULL) {
        fprintf(stderr, "orderload: %s\n", err.base ? err.base : "cannot start");
        od_buf_dispose(&err);
        return EXIT_USAGE;
    }
    od_buf_dispose(&err);
    fr->ran = 1;

    od_announcer_t ann = {.url = &fr->url, .disabled = !opt.announce};
    int *started = od_calloc(n, sizeof(int)), *ended = od_calloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++)
        if (od_scenario_set_get(set, i)->start_time_ns == 0) {
            od_announce(&ann, od_scenario_set_get(set, i)->name, "start");
            started[i] = 1;
        }
    fr->ncaptures = od_scenario_set_ncaptures(set);
    fr->captures = od_calloc(fr->ncaptures ? fr->ncaptures : 1, sizeof(*fr->captures));
    uint64_t t0 = od_now_ns() + 10000000ull;
    for (size_t i = 0; i < fr->ncaptures; i++) {
        const od_capture_t *cap = od_scenario_set_capture(set, i);
        od_capture_init(&fr->captures[i], cap, &fr->url, cdir);
        uint64_t base = cap->scenario ? od_scenario_set_find(set, cap->scenario)->start_time_ns : 0;
        fr->captures[i].due = t0 + base + cap->at_ns;
    }
    progress_t pr = {.tty = isatty(2), .last_at = t0, .next_at = t0 + opt.progress_ns};
    pr.interval = od_hist_create();
    pr.cinterval = od_hist_create();
    int show_progress = !opt.quiet && opt.progress_ns > 0;
    int stopped = 0;
    od_load_run_go(run, t0);

    for (;;) {
        uint64_t now = od_now_ns();
        if (interrupted && !stopped) {
            stopped = 1;
            od_load_run_stop(run);
            warn("interrupted: ending the run early");
        }
        for (size_t i = 0; i < n; i++) {
            const od_scenario_t *sc = od_scenario_set_get(set, i);
            /* announce a little ahead, so that the target knows before the first request */
            if (!started[i] && now + LOOP_NS + ANNOUNCE_LEAD_NS >= t0 + sc->start_time_ns) {
                od_announce(&ann, sc->name, "start");
                started[i] = 1;
            }
            if (started[i] && !ended[i] && od_load_run_scenario_done(run, i)) {
                od_announce(&ann, sc->name, "end");
                ended[i] = 1;
            }
        }
        for (size_t i = 0; i < fr->ncaptures; i++)
            if (!stopped && !fr->captures[i].started && !fr->captures[i].done && now >= fr->captures[i].due)
                od_capture_start(&fr->captures[i]);
        if (show_progress && now >= pr.next_at) {
            progress_line(&pr, fr, run, t0, now, 0);
            pr.next_at += opt.progress_ns;
            if (pr.next_at < now) pr.next_at = now + opt.progress_ns;
        }
        if (od_load_run_finished(run)) break;
        od_sleep_ns(LOOP_NS);
    }
    od_load_run_join(run);
    if (show_progress) {
        progress_line(&pr, fr, run, t0, od_now_ns(), 1);
        if (pr.tty) fputc('\n', stderr);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i] && !ended[i]) od_announce(&ann, od_scenario_set_get(set, i)->name, "end");

    /* captures still running finish within their own timeouts */
    int waiting = 0;
    for (size_t i = 0; i < fr->ncaptures; i++)
        if (fr->captures[i].started && !atomic_load(&fr->captures[i].done)) waiting = 1;
    if (waiting && !opt.quiet) fprintf(stderr, "orderload: waiting for profile captures to finish...\n");
    for (size_t i = 0; i < fr->ncaptures; i++) {
        od_capture_job_t *j = &fr->captures[i];
        int was_started = j->started;
        od_capture_join(j);
        if (!was_started && !j->error) j->error = od_strdup("not fetched: the run ended before its time");
        if (j->error)
            warn("profile %s: %s", j->cap->path, j->error);
        else if (!opt.quiet)
            fprintf(stderr, "orderload: saved %s (%zu bytes)\n", j->file, j->bytes);
    }

    /* results */
    fr->results = od_calloc(n, sizeof(*fr->results));
    od_load_result_init(&fr->total, "total");
    double open_scheduled = 0;
    for (size_t i = 0; i < n; i++) {
        const od_scenario_t *sc = od_scenario_set_get(set, i);
        od_load_result_t *r = &fr->results[i];
        od_load_result_init(r, sc->name);
        double elapsed;
        od_load_run_result(run, i, &r->st, &elapsed);
        r->executor = od_executor_name(sc->executor);
        r->follow = sc->follow;
        fr->total.follow |= sc->follow;
        r->target_rate = target_rate(sc);
        r->duration_s = (double)sc->duration_ns / 1e9;
        if (stopped && elapsed > 0 && elapsed < r->duration_s) r->duration_s = elapsed;
        uint64_t done = sc->executor == OD_EXEC_CONSTANT_CONCURRENCY ? r->st.c.completed : r->st.c.sent;
        r->achieved_rate = r->duration_s > 0 ? (double)done / r->duration_s : 0;
        od_load_stats_merge(&fr->total.st, &r->st);
        if (sc->executor != OD_EXEC_CONSTANT_CONCURRENCY) open_scheduled += (double)r->st.c.scheduled;
    }
    fr->span_s = (double)od_scenario_set_span_ns(set) / 1e9;
    fr->total.duration_s = fr->span_s;
    fr->total.target_rate = fr->span_s > 0 ? open_scheduled / fr->span_s : 0;
    fr->total.achieved_rate = fr->span_s > 0 ? (double)fr->total.st.c.sent / fr->span_s : 0;
    const char *se = od_load_run_script_error(run);
    if (se) fr->script_error = od_strdup(se);

    /* thresholds */
    size_t nt = od_scenario_set_nthresholds(set);
    fr->th_values = od_calloc(nt ? nt : 1, sizeof(double));
    fr->th_ok = od_calloc(nt ? nt : 1, sizeof(int));
    for (size_t i = 0; i < nt; i++) {
        const od_threshold_t *th = od_scenario_set_threshold(set, i);
        const od_load_result_t *r = &fr->total;
        for (size_t j = 0; th->scope && j < n; j++)
            if (strcmp(fr->results[j].name, th->scope) == 0) r = &fr->results[j];
        double v = 0;
        fr->th_ok[i] = od_load_metric(r, th->metric, &v) == 0 && od_load_compare(v, th->op, th->limit);
        fr->th_values[i] = v;
    }

    /* warnings */
    for (size_t i = 0; i < n; i++) {
        const od_load_result_t *r = &fr->results[i];
        const od_load_counts_t *c = &r->st.c;
        if (r->target_rate > 0 && !stopped &&
            (r->achieved_rate < 0.99 * r->target_rate || c->sent < c->scheduled * 0.99))
            warn("%s: target rate missed: %.2f/s achieved of %.2f/s (%llu of %llu scheduled requests sent)",
                 r->name, r->achieved_rate, r->target_rate, (unsigned long long)c->sent,
                 (unsigned long long)c->scheduled);
        if (c->dropped)
            warn("%s: %llu requests dropped: every connection was busy and the backlog was full "
                 "(raise connections or max_backlog, or lower the rate)",
                 r->name, (unsigned long long)c->dropped);
        if (c->flost)
            warn("%s: %llu of %llu followed orders were not seen done or failed (evicted, still queued when "
                 "following stopped, or no Location): their completion latency is not in the figures",
                 r->name, (unsigned long long)c->flost, (unsigned long long)c->followed);
        if (c->late > c->sent / 100 && c->late > 0)
            warn("%s: %llu requests were sent 10 ms or more after their intended time "
                 "(waiting for a free connection, or the generator could not keep up)",
                 r->name, (unsigned long long)c->late);
    }
    od_load_run_cpu(run, &cpu_all);
    free(started);
    free(ended);
    od_hist_destroy(pr.interval);
    od_hist_destroy(pr.cinterval);
    od_load_run_destroy(run);
    return 0;
}

/* ---- output ------------------------------------------------------------------------------- */

static const char *cmp_text(od_cmp_t op)
{
    static const char *const t[] = {"<", "<=", ">", ">=", "=="};
    return t[op];
}

static void print_text(file_run_t *frs, size_t nf, const od_load_result_t *grand, size_t nscen_total)
{
    for (size_t f = 0; f < nf; f++) {
        file_run_t *fr = &frs[f];
        if (!fr->ran) continue;
        size_t n = od_scenario_set_count(fr->set);
        for (size_t i = 0; i < n; i++) {
            const od_scenario_t *sc = od_scenario_set_get(fr->set, i);
            char title[512], how[128];
            if (sc->executor == OD_EXEC_CONSTANT_RATE)
                snprintf(how, sizeof(how), "%g/s for %gs", sc->rate, (double)sc->duration_ns / 1e9);
            else if (sc->executor == OD_EXEC_RAMPING_RATE)
                snprintf(how, sizeof(how), "%zu stages over %gs", sc->nstages, (double)sc->duration_ns / 1e9);
            else
                snprintf(how, sizeof(how), "%u connections for %gs", sc->connections,
                         (double)sc->duration_ns / 1e9);
            snprintf(title, sizeof(title), "scenario %s (%s, %s) %s -> %s", sc->name,
                     od_executor_name(sc->executor), how, fr->path, fr->target);
            od_report_text(stdout, &fr->results[i], title);
            fputc('\n', stdout);
        }
        if (n > 1 && nf > 1) {
            char title[512];
            snprintf(title, sizeof(title), "total of %s", fr->path);
            od_report_text(stdout, &fr->total, title);
            fputc('\n', stdout);
        }
    }
    if (nscen_total > 1) {
        od_report_text(stdout, grand, "total");
        fputc('\n', stdout);
    }
}

static void print_thresholds(file_run_t *frs, size_t nf, int only_failures)
{
    int header = 0;
    for (size_t f = 0; f < nf; f++) {
        file_run_t *fr = &frs[f];
        if (!fr->ran) continue;
        for (size_t i = 0; i < od_scenario_set_nthresholds(fr->set); i++) {
            if (only_failures && fr->th_ok[i]) continue;
            const od_threshold_t *th = od_scenario_set_threshold(fr->set, i);
            if (!header) {
                fprintf(only_failures ? stderr : stdout, "thresholds\n");
                header = 1;
            }
            char v[32], lim[32];
            od_fmt_metric(v, th->metric, fr->th_values[i]);
            od_fmt_metric(lim, th->metric, th->limit);
            fprintf(only_failures ? stderr : stdout, "  %s %s   (%s %s: %s %s %s)\n",
                    fr->th_ok[i] ? "✓" : "✗", th->expr, od_scenario_set_name(fr->set),
                    th->scope ? th->scope : "total", v, cmp_text(th->op), lim);
        }
    }
}

static int write_json(const char *path, file_run_t *frs, size_t nf, const od_load_result_t *grand, int ok,
                      const char *run_id, uint64_t started_wall, const od_selfcheck_t *verdict)
{
    char when[32];
    od_format_time(started_wall, when);
    json_t *doc = json_object();
    json_object_set_new(doc, "schema", json_integer(1));
    json_object_set_new(doc, "ok", json_boolean(ok));
    json_object_set_new(doc, "tool", json_string("orderload"));
    json_object_set_new(doc, "run_id", od_json_text(run_id));
    json_object_set_new(doc, "started_at", od_json_text(when));
    json_t *files = json_array();
    for (size_t f = 0; f < nf; f++) {
        json_t *o = json_object();
        json_object_set_new(o, "file", od_json_text(frs[f].path));
        json_object_set_new(o, "target", od_json_text(frs[f].target));
        json_object_set_new(o, "span_s", od_json_fixed("%.3f", frs[f].span_s));
        json_array_append_new(files, o);
    }
    json_object_set_new(doc, "files", files);
    json_t *scenarios = json_object();
    for (size_t f = 0; f < nf; f++) {
        if (!frs[f].ran) continue;
        for (size_t i = 0; i < od_scenario_set_count(frs[f].set); i++) {
            const char *name = frs[f].results[i].name;
            /* a name already used by an earlier file gets its file's name appended */
            int dup = 0;
            for (size_t g = 0; g < f; g++)
                if (frs[g].ran && od_scenario_set_find(frs[g].set, name)) dup = 1;
            const od_scenario_t *sc = od_scenario_set_get(frs[f].set, i);
            json_t *o = od_report_json(&frs[f].results[i]);
            json_object_set_new(o, "file", od_json_text(frs[f].path));
            json_object_set_new(o, "start_time_s", od_json_fixed("%.3f", (double)sc->start_time_ns / 1e9));
            char *key = dup ? od_asprintf("%s@%s", name, od_scenario_set_name(frs[f].set)) : od_strdup(name);
            json_t *k = od_json_text(key); /* the file's name may not be UTF-8 */
            json_object_set_new(scenarios, json_string_value(k), o);
            json_decref(k);
            free(key);
        }
    }
    json_object_set_new(doc, "scenarios", scenarios);
    json_object_set_new(doc, "total", od_report_json(grand));
    json_t *thresholds = json_array();
    for (size_t f = 0; f < nf; f++) {
        if (!frs[f].ran) continue;
        for (size_t i = 0; i < od_scenario_set_nthresholds(frs[f].set); i++) {
            const od_threshold_t *th = od_scenario_set_threshold(frs[f].set, i);
            json_t *o = json_object();
            json_object_set_new(o, "expr", od_json_text(th->expr));
            json_object_set_new(o, "value", od_json_fixed("%.6g", frs[f].th_values[i]));
            json_object_set_new(o, "limit", od_json_fixed("%.6g", th->limit));
            json_object_set_new(o, "ok", json_boolean(frs[f].th_ok[i]));
            json_object_set_new(o, "scope", od_json_text(th->scope ? th->scope : "total"));
            json_object_set_new(o, "file", od_json_text(frs[f].path));
            json_array_append_new(thresholds, o);
        }
    }
    json_object_set_new(doc, "thresholds", thresholds);
    json_t *profiles = json_array();
    for (size_t f = 0; f < nf; f++) {
        for (size_t i = 0; i < frs[f].ncaptures; i++) {
            od_capture_job_t *j = &frs[f].captures[i];
            json_t *o = json_object();
            json_object_set_new(o, "path", od_json_text(j->cap->path));
            json_object_set_new(o, "file", od_json_text(j->file));
            json_object_set_new(o, "status", json_integer(j->status));
            json_object_set_new(o, "bytes", json_integer((json_int_t)j->bytes));
            json_object_set_new(o, "ok", json_boolean(j->error == NULL));
            if (j->error) json_object_set_new(o, "error", od_json_text(j->error));
            json_array_append_new(profiles, o);
        }
    }
    json_object_set_new(doc, "profiles", profiles);
    if (warnings == NULL) warnings = json_array();
    json_object_set(doc, "warnings", warnings);
    json_object_set_new(doc, "self_check", od_selfcheck_json(verdict));
    int rc = od_json_write_file(path, doc);
    json_decref(doc);
    return rc;
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    od_log_prog = "orderload";
    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    char **list = NULL;
    od_buf_t err = OD_BUF_INIT;
    if (od_resolve_config(opt.config, opt.config_given, &list, &err) != 0) {
        fprintf(stderr, "orderload: %s\n", err.base);
        od_buf_dispose(&err);
        return EXIT_USAGE;
    }
    size_t nf = (size_t)(argc - optind);
    file_run_t *frs = od_calloc(nf, sizeof(*frs));
    int failed = 0;
    for (size_t f = 0; f < nf; f++) {
        od_buf_reset(&err);
        frs[f].path = od_resolve_scenario(argv[optind + (int)f], list, &err);
        if (frs[f].path == NULL) {
            fprintf(stderr, "orderload: %s\n", err.base);
            failed = 1;
            continue;
        }
        od_buf_reset(&err);
        frs[f].set = od_scenario_load(frs[f].path, &err);
        if (frs[f].set == NULL) {
            fputs(err.base ? err.base : "cannot load\n", stderr);
            failed = 1;
        }
    }
    od_resolve_free(list);
    int rc = 0;
    char *run_id = NULL, *cdir = NULL;
    if (failed) {
        rc = EXIT_USAGE;
        goto out;
    }

    /* targets: every one must answer before any load starts */
    for (size_t f = 0; f < nf; f++) {
        const char *t = opt.url ? opt.url : od_scenario_set_target(frs[f].set);
        frs[f].target = od_strdup(t ? t : DEFAULT_TARGET);
        od_buf_reset(&err);
        if (od_url_parse(frs[f].target, &frs[f].url, &err) != 0) {
            fprintf(stderr, "orderload: %s\n", err.base);
            rc = opt.url ? EXIT_USAGE : EXIT_UNREACHABLE;
            goto out;
        }
        int fd = od_http_connect(&frs[f].url, 3000000000ull);
        if (fd < 0) {
            fprintf(stderr, "orderload: target %s is unreachable: %s\n", frs[f].target, strerror(errno));
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        close(fd);
        if (opt.duration_ns) {
            uint64_t span = od_scenario_set_span_ns(frs[f].set);
            if (span > 0) od_scenario_set_scale(frs[f].set, (double)opt.duration_ns / (double)span);
        }
    }

    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    run_id = random_id();
    cdir = capture_dir();
    uint64_t started_wall = od_wall_ns();
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    for (size_t f = 0; f < nf && !interrupted; f++) {
        rc = run_file(&frs[f], run_id, cdir);
        if (rc != 0) break;
    }
    getrusage(RUSAGE_SELF, &ru1);

    od_load_result_t grand;
    od_load_result_init(&grand, "total");
    double span = 0, open_sched = 0;
    size_t nscen = 0;
    int th_failed = 0, script_error = 0;
    uint64_t connect_errors = 0;
    for (size_t f = 0; f < nf; f++) {
        if (!frs[f].ran) continue;
        od_load_stats_merge(&grand.st, &frs[f].total.st);
        grand.follow |= frs[f].total.follow;
        span += frs[f].span_s;
        open_sched += frs[f].total.target_rate * frs[f].span_s;
        nscen += od_scenario_set_count(frs[f].set);
        for (size_t i = 0; i < od_scenario_set_nthresholds(frs[f].set); i++)
            if (!frs[f].th_ok[i]) th_failed = 1;
        if (frs[f].script_error) {
            fprintf(stderr, "orderload: script error while running: %s\n", frs[f].script_error);
            script_error = 1;
        }
    }
    connect_errors = grand.st.c.errors[OD_ERR_CONNECT];
    grand.duration_s = span;
    grand.target_rate = span > 0 ? open_sched / span : 0;
    grand.achieved_rate = span > 0 ? (double)grand.st.c.sent / span : 0;

    double cpu =
        (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
        (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) /
            1e6;
    od_selfcheck_scen_t *checked = od_calloc(nscen ? nscen : 1, sizeof(*checked));
    size_t nchecked = 0;
    for (size_t f = 0; f < nf; f++)
        for (size_t i = 0; frs[f].ran && i < od_scenario_set_count(frs[f].set); i++) {
            const od_scenario_t *sc = od_scenario_set_get(frs[f].set, i);
            uint32_t conns = sc->connections || sc->executor == OD_EXEC_CONSTANT_CONCURRENCY
                                 ? sc->connections
                                 : OD_LOAD_DEFAULT_CONNECTIONS;
            checked[nchecked++] =
                (od_selfcheck_scen_t){&frs[f].results[i], conns, sc->pipeline > 1 ? sc->pipeline : 1};
        }
    od_selfcheck_t verdict;
    od_selfcheck_eval(&verdict, checked, nchecked, &cpu_all, cpu, opt.spin_ns, opt.threads);
    free(checked);
    if (!opt.quiet) {
        print_text(frs, nf, &grand, nscen);
        print_thresholds(frs, nf, 0);
        if (grand.st.c.sent) {
            char spin[24], win[24];
            od_fmt_us(spin, (double)opt.spin_ns / 1e3);
            od_fmt_us(win, verdict.window_us);
            printf(
                "orderload used %.2f s of CPU: %.1f us per request (its threads spun %.2f s, a window of %s "
                "on average, --spin %s)\n",
                cpu, cpu * 1e6 / (double)grand.st.c.sent, verdict.spin_s, win, spin);
        }
        if (nchecked) od_selfcheck_print(stdout, &verdict);
    } else {
        print_thresholds(frs, nf, 1);
        if (!verdict.ok) od_selfcheck_print(stderr, &verdict);
    }

    int unreachable = rc == 0 && grand.st.c.completed == 0 && connect_errors > 0;
    if (unreachable) fprintf(stderr, "orderload: the target never answered: every connection was refused\n");
    int ok = rc == 0 && !th_failed && !script_error && !unreachable;
    if (opt.json && (rc == 0 || nscen > 0)) {
        if (write_json(opt.json, frs, nf, &grand, ok, run_id, started_wall, &verdict) != 0 && rc == 0)
            rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = script_error ? EXIT_USAGE : unreachable ? EXIT_UNREACHABLE : th_failed ? EXIT_THRESHOLD : 0;
    od_load_result_dispose(&grand);
    od_selfcheck_dispose(&verdict);

out:

    for (size_t f = 0; f < nf; f++) {
        if (frs[f].results)
            for (size_t i = 0; i < od_scenario_set_count(frs[f].set); i++)
                od_load_result_dispose(&frs[f].results[i]);
        free(frs[f].results);
        if (frs[f].ran) od_load_result_dispose(&frs[f].total);
        for (size_t i = 0; i < frs[f].ncaptures; i++)
            od_capture_dispose(&frs[f].captures[i]);
        free(frs[f].captures);
        free(frs[f].th_values);
        free(frs[f].th_ok);
        free(frs[f].script_error);
        free(frs[f].target);
        free(frs[f].path);
        od_scenario_set_free(frs[f].set);
    }
    free(frs);
    od_buf_dispose(&err);
    json_decref(warnings);
    free(run_id);
    free(cdir);
    return rc;
}
