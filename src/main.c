/* orderd: the order server.  Loads and checks the config, then runs the layers one way —
 * config -> server -> pool -> pipeline — until SIGTERM/SIGINT: main starts the pool, then the
 * HTTP server that feeds it, takes the stop signal, drains the pool while the server still
 * answers (503 for new orders), prints the summary and stops the server. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "drain.h"
#include "handover.h"
#include "reload.h"
#include "scenario/scenario.h"
#include "base/heap_pages.h"
#include "base/log.h"
#include "pool/pool.h"
#include "prof/cpu.h"
#include "http/profiling.h"
#include "prof/lockprof.h"
#include "prof/prof_env.h"
#include "pool/results.h"
#include "http/routes.h"
#include "pool/rules.h"
#include "schedule/scenario_state.h"
#include "schedule/schedule.h"
#include "http/profiles.h"
#include "http/server.h"
#include "pool/stats.h"

#define ORDERD_VERSION "0.1.0"
#define HEAP_PAGES_AFTER (8 << 20) /* an idle server's heap stays in 4 KiB pages */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: orderd [-c CONFIG] [--check] [--version] [--help]\n"
                "\n"
                "The orderd order server: an HTTP order API over a priority worker pool, built to be\n"
                "profiled (see /debug/pprof/ and /profile/* once it runs).\n"
                "\n"
                "  -c, --config FILE  the YAML config (default: config/orderd.yaml)\n"
                "      --check        load and validate the config and every Lua script it names,\n"
                "                     print \"ok\" and exit 0, or print each problem as\n"
                "                     FILE:LINE:COL: message and exit 2\n"
                "      --version      print the version and exit\n"
                "  -h, --help         print this help and exit\n"
                "\n"
                "SIGTERM, SIGINT or SIGQUIT stops accepting orders (503), drains the queue, finishes the\n"
                "orders in flight, prints a summary and exits 0; while it drains, SIGQUIT abandons the\n"
                "queue (exit 3, the unprocessed ids written to a file it names).  SIGHUP reloads the\n"
                "config and every Lua script it names, checked as --check checks them: on any problem\n"
                "it logs them and keeps the running config, otherwise it applies what can change live\n"
                "(workers, queue, knobs, rules, schedule, scenarios, profiling rates) and logs each\n"
                "change; the rest (listeners, http.threads, ...) is named as needing a hand-over.\n"
                "SIGUSR2 hands over to a new orderd on the same sockets.\n");
}

/* Blocks the signals main's loop takes before any thread starts, so that every thread
 * inherits the mask and only main's sigwait takes them; a write to a closed socket is an
 * error, not a signal. */
static sigset_t block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

/* config -> server -> pool: the pool runs first, the server feeds it; main's thread then
 * takes the signals — SIGHUP reloads, SIGUSR2 hands over — until a stop signal, after which
 * the pool drains while the server still answers (503 for new orders); returns the exit
 * status (0 after a clean drain, 1 if something could not start or orders were lost).  The
 * threads started earlier (the profiling schedule's) block these signals themselves. */
static int serve(od_app_t *app)
{
    sigset_t signals = block_signals();
    if (od_pool_start(app->pool) != 0) return 1;
    if (od_server_start(app->srv) != 0) return 1; /* od_pool_destroy joins the idle workers */
    od_handover_ready(); /* when a hand-over started this process: the old one stops accepting */
    int sig = 0;
    for (;;) {
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP)
            od_reload(app);
        else if (sig != SIGUSR2)
            break;
        else if (od_handover_begin(app, &signals) == 0)
            break; /* handed over: drain (drain.h) with sig SIGUSR2 */
    }
    int rc = od_drain(app, sig, &signals);
    od_server_stop();
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path = "config/orderd.yaml";
    int check = 0, explicit_config = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            explicit_config = 1;
            break;
        case 'k':
            check = 1;
            break;
        case 'V':
            printf("orderd %s\n", ORDERD_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "orderd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    od_config_t cfg;
    od_config_defaults(&cfg);
    od_buf_t errors = OD_BUF_INIT;
    od_scenario_set_t **sets = NULL;
    od_stats_t stats;
    int have_stats = 0;
    od_results_t *results = NULL;
    od_pool_t *pool = NULL;
    od_scenario_state_t *scenarios = NULL;
    int rc = 2;
    od_reload_load(config_path, explicit_config, &cfg, &sets, &errors); /* as a SIGHUP reads it */

    if (errors.len) {
        fputs(errors.base, stderr);
        if (!check) fprintf(stderr, "orderd: not starting: the config has problems (see above)\n");
        goto out;
    }
    if (check) {
        puts("ok");
        rc = 0;
        goto out;
    }

    /* gperftools reads its settings when the library loads: re-exec once with them set
     * (CPUPROFILE_FREQUENCY only matters to the itimer engine) */
    od_cpu_configure((od_cpu_engine_t)cfg.profiling.cpu_engine, cfg.profiling.cpu_hz);
    int itimer = strcmp(od_cpu_engine_name(), "itimer") == 0;
    od_prof_env_reexec(argv, itimer ? cfg.profiling.cpu_hz : 0, (long)cfg.profiling.heap_sample_bytes);
    if (cfg.profiling.enabled) {
        const char *why = "";
        if (itimer && cfg.profiling.cpu_engine == OD_CPU_ENGINE_AUTO && !od_cpu_perf_available(&why))
            od_info("profiling: cpu engine itimer at %d Hz (auto: %s)", od_cpu_hz(), why);
        else if (!itimer && od_cpu_arm(&why) == 0)
            od_info("profiling: cpu engine perf_event at %d Hz (one event, inherited by every thread)",
                    od_cpu_hz());
        else if (!itimer)
            od_info("profiling: cpu engine perf_event at %d Hz (per-thread events: %s)", od_cpu_hz(), why);
        else
            od_info("profiling: cpu engine %s at %d Hz", od_cpu_engine_name(), od_cpu_hz());
    }

    /* a growing queue is fresh memory for every order it holds: in huge pages beyond the
     * first few MiB, a fault per 2 MiB instead of per 4 KiB (see base/heap_pages.h) */
    const char *why_not = "";
    if (od_heap_pages_install(HEAP_PAGES_AFTER, &why_not) == 0)
        od_info("memory: heap growth beyond %d MiB in 2 MiB transparent huge pages", HEAP_PAGES_AFTER >> 20);
    else
        od_info("memory: heap in 4 KiB pages (%s)", why_not);

    od_lockprof_configure(cfg.profiling.mutex_fraction, cfg.profiling.block_rate_ns);
    od_stats_init(&stats);
    have_stats = 1;
    results = od_results_create(cfg.pool_files.results_kept);
    if (od_rules_install(cfg.pool_files.rules, &errors) != 0) {
        fputs(errors.base, stderr);
        goto out;
    }
    pool = od_pool_create(&cfg.pool, results, &stats);
    scenarios = od_scenario_state_create();
    od_server_t srv = {.cfg = &cfg,
                       .pool = pool,
                       .results = results,
                       .stats = &stats,
                       .scenario_state = scenarios,
                       .argc = argc,
                       .argv = argv,
                       .started_wall_ns = od_wall_ns()};
    od_routes_register();
    od_profiling_register();
    od_profiles_register();
    od_app_t app = {.config_path = config_path,
                    .argc = argc,
                    .argv = argv,
                    .cfg = &cfg,
                    .sets = sets,
                    .srv = &srv,
                    .pool = pool,
                    .results = results,
                    .stats = &stats,
                    .scenarios = scenarios};
    app.sched = od_schedule_start(&cfg, pool, &stats, scenarios); /* NULL: no schedule */
    rc = serve(&app);
    od_schedule_stop(app.sched);
    od_reload_dispose(&app);

out: /* every exit releases what it holds, so the ASan build's leak check stays meaningful */
    od_pool_destroy(pool);
    od_scenario_state_destroy(scenarios);
    if (results) od_results_destroy(results);
    if (have_stats) od_stats_dispose(&stats);
    for (size_t i = 0; sets && i < cfg.nscenarios; i++)
        od_scenario_set_free(sets[i]);
    free(sets);
    od_config_dispose(&cfg);
    od_buf_dispose(&errors);
    return rc;
}
