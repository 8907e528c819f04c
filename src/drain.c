/* drain — the stop (drain.h) */
#include "drain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "handover.h"
#include "http/server.h"
#include "pool/pool.h"
#include "pool/stats.h"

#define PROGRESS_NS 1000000000u /* a progress line every second */

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR2:
        return "SIGUSR2";
    }
    return strsignal(sig);
}

/* the next signal of `signals` within ms milliseconds, 0 if none */
static int next_signal(const sigset_t *signals, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    int sig = sigtimedwait(signals, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Where SIGQUIT writes the unprocessed ids: the profiling output directory when it exists
 * (or can be made) and is writable, where the run's other files are; else $TMPDIR or /tmp. */
static void ids_path(const od_app_t *app, char *out, size_t size)
{
    const char *dir = app->cfg->profiling.output_dir;
    if (dir && *dir) {
        mkdir(dir, 0755); /* EEXIST is fine */
        if (access(dir, W_OK) == 0) {
            snprintf(out, size, "%s/unprocessed-%d.ids", dir, (int)getpid());
            return;
        }
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(out, size, "%s/orderd-unprocessed-%d.ids", tmp && *tmp ? tmp : "/tmp", (int)getpid());
}

/* After a hand-over: closes the listeners and waits until every connection this process
 * holds has ended (at most OD_DRAIN_CONNS_WAIT_S); a stop signal ends the wait early
 * (returned, SIGQUIT to be acted on by the pool's drain). */
static int finish_connections(const sigset_t *signals)
{
    od_server_stop_accepting();
    uint64_t start = od_now_ns(), next = start + PROGRESS_NS;
    od_info("hand-over: listeners closed; finishing %d open connections (Connection: close)",
            od_server_connections());
    for (;;) {
        int open = od_server_connections();
        uint64_t now = od_now_ns();
        if (open == 0) {
            od_info("hand-over: every connection ended (%.1f s)", (double)(now - start) / 1e9);
            return 0;
        }
        if (now - start > (uint64_t)OD_DRAIN_CONNS_WAIT_S * 1000000000u) {
            od_warn("hand-over: %d connections still open after %d s; draining without them", open,
                    OD_DRAIN_CONNS_WAIT_S);
            return 0;
        }
        if (now >= next) {
            od_info("hand-over: %d connections still open", open);
            next += PROGRESS_NS;
        }
        int sig = next_signal(signals, 50);
        if (sig == SIGUSR2 || sig == SIGHUP)
            od_warn("%s: refused: this process handed over to pid %d and is draining", sig_name(sig),
                    (int)od_handover_successor());
        else if (sig) {
            od_warn("%s: draining now, without waiting for the %d open connections", sig_name(sig), open);
            return sig;
        }
    }
}

int od_drain(od_app_t *app, int sig, const sigset_t *signals)
{
    int quit = 0;
    if (sig == SIGUSR2) quit = finish_connections(signals) == SIGQUIT;
    od_pool_snapshot_t snap;
    od_pool_snapshot(app->pool, &snap);
    od_stats_t *st = app->stats;
    uint64_t done0 = od_stats_get(&st->processed);
    od_info("%s: draining %zu queued and %d in-flight orders; new orders get 503",
            sig == SIGUSR2 ? "hand-over" : strsignal(sig), snap.queue_length, snap.active);
    od_pool_begin_drain(app->pool);

    char path[4096] = "";
    od_buf_t ids = OD_BUF_INIT;
    size_t abandoned = 0;
    int quitting = 0;
    uint64_t next = od_now_ns() + PROGRESS_NS;
    for (;;) {
        od_pool_snapshot(app->pool, &snap);
        if (snap.queue_length == 0 && snap.active == 0) break;
        uint64_t done = od_stats_get(&st->processed) - done0;
        if (od_now_ns() >= next) {
            od_info("draining: %zu queued, %d in flight, %llu done so far", snap.queue_length, snap.active,
                    (unsigned long long)done);
            next += PROGRESS_NS;
        }
        int s = quit ? SIGQUIT : next_signal(signals, 50);
        if (s == SIGTERM || s == SIGINT) {
            if (!path[0]) ids_path(app, path, sizeof(path));
            od_info("%s again: %zu queued and %d in flight remain; nothing is lost if you wait. To abandon "
                    "them: kill -QUIT %d (exits 3 once the %d in flight finish, writing the ids of the "
                    "unprocessed orders to %s)",
                    sig_name(s), snap.queue_length, snap.active, (int)getpid(), snap.active, path);
        } else if (s == SIGQUIT) {
            abandoned = od_pool_abandon(app->pool, &ids);
            quitting = 1;
            od_warn("SIGQUIT: abandoning %zu queued orders; waiting for the %d in flight", abandoned,
                    snap.active);
            break;
        } else if (s) {
            od_warn("%s: refused while draining", sig_name(s));
        }
        quit = 0;
    }
    od_pool_drain(app->pool); /* joins the workers: the orders in flight have finished */
    if (sig == SIGUSR2) od_handover_export(app);

    uint64_t accepted = od_stats_get(&st->accepted), processed = od_stats_get(&st->processed);
    uint64_t ok = od_stats_get(&st->success), errors = od_stats_get(&st->errors);
    int rc = accepted == processed ? 0 : 1;
    char tail[4200] = "";
    const char *verdict =
        accepted == processed && processed == ok + errors ? "(nothing lost)" : "(MISMATCH: orders lost)";
    if (quitting) { /* the file exists even when nothing was queued: the user asked for it */
        if (!path[0]) ids_path(app, path, sizeof(path));
        if (od_write_file_atomic(path, ids.base ? ids.base : "", ids.len, 0644, NULL) != 0) {
            const char *tmp = getenv("TMPDIR");
            od_warn("cannot write %s: %s; writing to the temporary directory instead", path, strerror(errno));
            snprintf(path, sizeof(path), "%s/orderd-unprocessed-%d.ids", tmp && *tmp ? tmp : "/tmp",
                     (int)getpid());
            if (od_write_file_atomic(path, ids.base ? ids.base : "", ids.len, 0644, NULL) != 0)
                od_error("cannot write %s either: %s", path, strerror(errno));
        }
        int whole = accepted == processed + abandoned && processed == ok + errors;
        snprintf(tail, sizeof(tail), " abandoned=%zu (%s %s)", abandoned,
                 whole ? "the ids of the abandoned orders are in" : "MISMATCH: orders lost; ids in", path);
        verdict = "";
        rc = 3;
    }
    fprintf(stderr,
            "orderd: summary: accepted=%llu processed=%llu success=%llu errors=%llu rejected=%llu "
            "uptime=%.1fs%s%s%s\n",
            (unsigned long long)accepted, (unsigned long long)processed, (unsigned long long)ok,
            (unsigned long long)errors, (unsigned long long)od_stats_get(&st->rejected),
            (double)(od_now_ns() - st->start_ns) / 1e9, tail, *verdict ? " " : "", verdict);
    od_buf_dispose(&ids);
    return rc;
}
