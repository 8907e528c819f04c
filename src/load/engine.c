/*
 * engine — see engine.h.  One worker = one thread = one epoll loop.  Per scenario a worker
 * holds a fixed array of connection slots, an idle list (most recently used first, so few
 * connections stay warm), a ring buffer backlog, and its statistics.  This file runs the
 * workers and the run; conn.c, arrivals.c and script.c are the worker's parts (worker.h).
 */
#include "load/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "load/worker.h"
#include "base/log.h"

static void arm(od_worker_t *w, uint64_t at)
{
    if (w->armed == at) return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)}};
    timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    w->armed = at;
}

/* Returns the time this thread has spent runnable but waiting for a CPU, from its
 * /proc/thread-self/schedstat opened as fd (0 when the kernel does not say). */
static uint64_t runq_ns(int fd)
{
    char text[128];
    ssize_t n = fd >= 0 ? pread(fd, text, sizeof(text) - 1, 0) : -1;
    if (n <= 0) return 0;
    text[n] = '\0';
    unsigned long long run = 0, wait = 0;
    return sscanf(text, "%llu %llu", &run, &wait) == 2 ? (uint64_t)wait : 0;
}

/*
 * Once a tick (`span` long, `spun` of it spinning): a thread that spins much of its time is
 * nearly always runnable, so when another task wants its CPU (the server under test, when
 * they share the machine) the two trade whole scheduler slices (milliseconds): the spin slows
 * what it measures and loses the instants it keeps, where a thread that sleeps is let back
 * in at once.  So when a thread that spun over 1/BUSY_SPIN of the last tick waited for its
 * CPU more than 1/CONTENDED of it, it sleeps to each instant for SPIN_BACKOFF_NS, then
 * tries spinning again.  Measured with the CPU shared: at 100 and 1000/s (a few % to half of
 * the time spinning) the spin still sent 50-100x closer to the instant than sleeping; at
 * 10 000/s (all of it) 3-5x later, and a Perl server beside two threads spinning through
 * 2000/s fell a fifth behind.
 */
#define BUSY_SPIN 2  /* half of a tick */
#define CONTENDED 20 /* 5 % of a tick */
#define SPIN_BACKOFF_NS 1000000000ull
static uint64_t spin_window(od_worker_t *w, uint64_t now, uint64_t spin, uint64_t span, uint64_t spun)
{
    uint64_t rq = runq_ns(w->schedstat_fd);
    uint64_t waited = rq > w->runq_last ? rq - w->runq_last : 0;
    w->runq_last = rq;
    if (spin && span && spun > span / BUSY_SPIN && waited > span / CONTENDED)
        w->spin_back_at = now + SPIN_BACKOFF_NS;
    return now < w->spin_back_at ? 0 : spin;
}

/* Keeps how late a timed sleep woke (ns). */
static void record_late(od_worker_t *w, uint64_t late_ns)
{
    uint64_t us = late_ns / 1000;
    w->late_us[w->late_i] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    w->late_i = (w->late_i + 1) % OD_LATE_RING;
    if (w->late_n < OD_LATE_RING) w->late_n++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Once a tick: the spin window that covers how late this thread's sleeps woke (less the time
 * they then waited for a CPU), their p99
 * (over the last OD_LATE_RING) plus a quarter and LATE_MARGIN_NS, at most `max` (--spin).
 * Until MIN_SAMPLES wake-ups are known, `max`.  Measured on the busy 2-core VM: at 1000/s a
 * window grown to the 1 ms gap spun all the time and, the CPU shared, backed off to sleeping
 * (send delay p50 50-76 µs) where a third of the gap kept p50 at 1 µs.  A fixed window is either too narrow
 * at low rates, where an idle vCPU wakes latest (0.3-1.2 ms p99 send delay at 100/s with 300 µs), or wasteful
 * where wakes are prompt; the spin's CPU is about window ÷ inter-arrival gap.
 */
#define LATE_MARGIN_NS 20000ull
#define MIN_SAMPLES 8
#define GAP_SHARE 3                   /* the window's most, of the gap between two instants */
#define SPIN_THROUGH_GAP_NS 250000ull /* closer instants (4000/s a thread): spin through them */
static uint64_t adapt(od_worker_t *w, uint64_t max)
{
    /* a third of the gap between instants at most, where the gap is wide enough to sleep in:
     * a window over it spins all the time, which a shared CPU then takes away (spin_window) */
    if (w->gap_ns >= SPIN_THROUGH_GAP_NS && max > w->gap_ns / GAP_SHARE) max = w->gap_ns / GAP_SHARE;
    if (max == 0 || w->late_n < MIN_SAMPLES) return max;
    uint32_t v[OD_LATE_RING];
    memcpy(v, w->late_us, w->late_n * sizeof(v[0]));
    qsort(v, w->late_n, sizeof(v[0]), cmp_u32);
    size_t rank = (w->late_n * 99 + 99) / 100; /* 1-based: the p99 (the max below 100 samples) */
    uint64_t p99 = (uint64_t)v[rank - 1] * 1000;
    uint64_t win = p99 + p99 / 4 + LATE_MARGIN_NS;
    return win < max ? win : max;
}

/*
 * This close to an instant a spinning worker handles no answers (they wait, level-triggered,
 * until the send is made): on this VM reading one costs 5-15 µs of system calls (perf: most of
 * it interrupts re-enabled through the hypervisor), and a batch of them read just before an
 * instant made the send that late.  Only where instants are GUARD_GAPS guards apart or more
 * (up to 12 500/s per thread): closer, answers must be read between every two sends.
 */
#define SEND_GUARD_NS 20000ull
#define GUARD_GAPS 4

/* counts one poll of a spinning thread that took `took` ns when that was long enough to be a stop */
static void stall(od_worker_t *w, uint64_t took)
{
    if (took < OD_STALL_NS) return;
    w->cpu.stalls++;
    w->cpu.stalled_ns += took;
    if (took > w->cpu.stall_max_ns) w->cpu.stall_max_ns = took;
}

/*
 * Waits for socket events until `next` (at most): polls without sleeping through the last
 * `spin` before `instant` (the next arrival to keep) and until `answer_by` (the first stretch
 * after a send), sleeps otherwise, waking a spin window before the instant.  A sleeping
 * thread wakes tens to hundreds of µs late on a VM, and that lateness would be in the send
 * delay or in the service time.  Accounts the time spun and slept in w->cpu.
 * Returns the number of events in ev (0 when the time came first, -1 on error).
 */
static int wait_events(od_worker_t *w, struct epoll_event *ev, int nev, uint64_t now, uint64_t next,
                       uint64_t instant, uint64_t spin, uint64_t answer_by, int guard, int *have_pwait2)
{
    int n;
    if (next <= now) return epoll_wait(w->epfd, ev, nev, 0);
    if (instant - now <= spin || now < answer_by) {
        uint64_t t = od_now_ns(), t0; /* `now` is from before the caller's sends: not a poll's start */
        do {
            if (guard && instant > t && instant - t <= SEND_GUARD_NS) { /* the clock only, then send */
                while (t < instant && t < next) {
                    t0 = t;
                    t = od_now_ns();
                    stall(w, t - t0);
                }
                n = 0;
                break;
            }
            t0 = t;
            n = epoll_wait(w->epfd, ev, nev, 0);
            t = od_now_ns();
            stall(w, t - t0);
        } while (n == 0 && t < next && (instant - t <= spin || t < answer_by));
        w->cpu.spin_ns += t - now;
        return n;
    }
    /* the tick needs no precision: only the instant gets a spin window */
    uint64_t d = (instant - spin < next ? instant - spin : next) - now;
    uint64_t wake_at = now + d;
    uint64_t rq0 = spin ? runq_ns(w->schedstat_fd) : 0;
    if (*have_pwait2) {
        /* a nanosecond timeout: no timer to arm and read back per arrival */
        struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u), .tv_nsec = (long)(d % 1000000000u)};
        n = epoll_pwait2(w->epfd, ev, nev, &ts, NULL);
        if (n < 0 && errno == ENOSYS) {
            *have_pwait2 = 0; /* Linux < 5.11: the timerfd from now on */
            return 0;
        }
    } else {
        arm(w, now + d);
        n = epoll_wait(w->epfd, ev, nev, -1);
    }
    uint64_t t = od_now_ns();
    if (n == 0 && instant != UINT64_MAX && t > instant + OD_STALL_NS) w->cpu.overslept++; /* woke past it */
    if (n == 0 && spin && *have_pwait2 && t > wake_at) {
        /* the wake-up's own lateness: time spent waiting for the CPU once awake is contention,
         * which spinning does not cover (a spinning thread is preempted as well) */
        uint64_t rq = runq_ns(w->schedstat_fd), waited = rq > rq0 ? rq - rq0 : 0;
        record_late(w, t - wake_at > waited ? t - wake_at - waited : 0);
    }
    w->cpu.sleep_ns += t - now;
    return n;
}

static void *worker_main(void *arg)
{
    od_worker_t *w = arg;
    od_load_run_t *run = w->run;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* wake at arrival instants, not up to 50 µs later */
    /* the state is built here, on the thread that uses it */
    w->script = od_script_create(run->set, &run->target, w->index, run->nthreads, run->run_id, &w->err);
    int ok = w->script != NULL;
    if (ok) {
        w->static_req = od_script_static_request(w->script, &w->static_len);
        w->wants_response = od_script_wants_response(w->script);
    }

    pthread_mutex_lock(&run->gate_lock);
    if (!ok) run->abort = 1;
    run->nready++;
    pthread_cond_broadcast(&run->gate_cond);
    while (!run->go && !run->abort)
        pthread_cond_wait(&run->gate_cond, &run->gate_lock);
    int go = run->go && !run->abort;
    uint64_t t0 = run->t0;
    pthread_mutex_unlock(&run->gate_lock);
    if (!go) return NULL;

    for (size_t i = 0; i < w->nscens; i++) {
        od_scen_t *s = &w->scens[i];
        s->start = t0 + s->sc->start_time_ns;
        s->end = s->start + s->sc->duration_ns;
        if (!s->closed_model) {
            s->k = (uint64_t)w->index;
            uint64_t at = s->k < s->narrivals ? od_scenario_arrival_ns(s->sc, s->k) : UINT64_MAX;
            s->next_due = at == UINT64_MAX ? UINT64_MAX : s->start + at;
        }
    }
    struct epoll_event ev[256];
    int have_pwait2 = 1; /* Linux >= 5.11; else the timerfd */
    uint64_t spin = run->spin_ns;
    w->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    w->next_tick = t0;
    w->cpu.runq_ns = w->runq_last = runq_ns(w->schedstat_fd);
    uint64_t loop_start = od_now_ns(), tick_at = 0, spun_at_tick = 0;
    for (;;) {
        uint64_t now = od_now_ns();
        uint64_t next = UINT64_MAX, instant = UINT64_MAX; /* instant: the next one to keep */
        int active = 0;
        uint32_t busy = 0;
        for (size_t i = 0; i < w->nscens; i++) {
            uint64_t t = od_scen_step(&w->scens[i], now);
            if (t < next) next = t;
            active += w->scens[i].phase != OD_PHASE_DONE;
            uint64_t polls = od_follow_step(&w->scens[i], now); /* no instant to keep: no spin */
            if (polls < next) next = polls;
            if (w->scens[i].closed_model) continue; /* no instants to keep there */
            busy += w->scens[i].busy;
            if (t < instant) instant = t;
        }
        if (instant != UINT64_MAX && instant != w->cur_instant) { /* the gap adapt() bounds the window by */
            if (w->cur_instant && instant > w->cur_instant) w->gap_ns = instant - w->cur_instant;
            w->cur_instant = instant;
        }
        if (now >= w->next_tick) {
            od_worker_tick(w, now);
            if (spin == 0 && run->spin_ns && tick_at) w->cpu.unspun_ns += now - tick_at; /* that tick slept */
            w->window_ns = adapt(w, run->spin_ns);
            w->cpu.window_ns_sum += w->window_ns;
            w->cpu.window_ticks++;
            if (w->window_ns > w->cpu.window_max_ns) w->cpu.window_max_ns = w->window_ns;
            spin =
                spin_window(w, now, w->window_ns, tick_at ? now - tick_at : 0, w->cpu.spin_ns - spun_at_tick);
            spun_at_tick = w->cpu.spin_ns;
            tick_at = now;
            w->next_tick = now + TICK_NS;
        }
        if (!active) break;
        if (w->next_tick < next) next = w->next_tick;
        uint64_t answer_by = busy ? w->last_sent + spin : 0; /* an answer is polled for this long */
        /* (behind, the instant is before the last send: no guard, every answer is read) */
        int guard = spin && instant != UINT64_MAX && instant >= w->last_sent + GUARD_GAPS * SEND_GUARD_NS;
        int n = wait_events(w, ev, (int)OD_ARRAY_SIZE(ev), now, next, instant, spin, answer_by, guard,
                            &have_pwait2);
        for (int i = 0; i < n; i++) {
            if (guard && od_now_ns() + SEND_GUARD_NS >= instant) break; /* the rest after the send */
            uint64_t tag = ev[i].data.u64;
            if (tag == 0) {
                uint64_t expirations;
                if (read(w->tfd, &expirations, sizeof(expirations)) < 0) { /* spurious: nothing to do */
                }
                w->armed = 0;
            } else if (tag & OD_FOLLOW_TAG) {
                od_follow_event((void *)(uintptr_t)(tag & ~(uint64_t)OD_FOLLOW_TAG), ev[i].events);
            } else {
                od_conn_event(ev[i].data.ptr, ev[i].events);
            }
        }
    }
    w->cpu.wall_ns = od_now_ns() - loop_start;
    uint64_t rq = runq_ns(w->schedstat_fd);
    w->cpu.runq_ns = rq >= w->cpu.runq_ns ? rq - w->cpu.runq_ns : 0;
    if (w->schedstat_fd >= 0) close(w->schedstat_fd);
    od_worker_publish(w);
    atomic_fetch_add(&run->nfinished, 1);
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------------ */

static uint32_t share(uint32_t total, int nthreads, int index)
{
    uint32_t n = total / (uint32_t)nthreads;
    if ((uint32_t)index < total % (uint32_t)nthreads) n++;
    return n;
}

static double peak_rate(const od_scenario_t *sc)
{
    if (sc->executor == OD_EXEC_CONSTANT_RATE) return sc->rate;
    double peak = sc->start_rate;
    for (size_t i = 0; i < sc->nstages; i++)
        if (sc->stages[i].target > peak) peak = sc->stages[i].target;
    return peak;
}

static void scen_init(od_worker_t *w, od_scen_t *s, const od_scenario_t *sc, size_t index)
{
    od_load_run_t *run = w->run;
    s->sc = sc;
    s->w = w;
    s->index = index;
    s->phase = OD_PHASE_WAIT;
    s->closed_model = sc->executor == OD_EXEC_CONSTANT_CONCURRENCY;
    s->closed_seq = (uint64_t)w->index;
    if (s->closed_model) {
        s->maxconns = share(sc->connections, run->nthreads, w->index);
    } else {
        uint32_t total = sc->connections ? sc->connections : OD_LOAD_DEFAULT_CONNECTIONS;
        s->maxconns = (total + (uint32_t)run->nthreads - 1) / (uint32_t)run->nthreads;
        s->narrivals = od_scenario_arrivals(sc);
        /* by default an arrival may wait about two seconds for a connection before it is dropped */
        double dflt = peak_rate(sc) * 2;
        uint32_t total_bl = sc->max_backlog ? sc->max_backlog
                                            : (uint32_t)(dflt < 1000  ? 1000
                                                         : dflt > 1e6 ? 1e6
                                                                      : dflt);
        s->bl_cap = (total_bl + (uint32_t)run->nthreads - 1) / (uint32_t)run->nthreads;
        s->bl = od_calloc(s->bl_cap, sizeof(*s->bl));
    }
    s->depth = !s->closed_model && sc->pipeline > 1 ? sc->pipeline : 1;
    s->conns = od_calloc(s->maxconns ? s->maxconns : 1, sizeof(*s->conns));
    for (uint32_t i = 0; i < s->maxconns; i++) {
        s->conns[i].fd = -1;
        s->conns[i].s = s;
        s->conns[i].q = od_calloc(s->depth, sizeof(*s->conns[i].q));
    }
    od_load_stats_init(&s->st);
    /* the run, its drain (timeout) and the stop grace: answers later than that are not kept */
    s->st.timeline = od_load_timeline_create(sc->duration_ns + sc->timeout_ns + STOP_GRACE_NS);
    s->ival = od_hist_create();
    s->pub_ival = od_hist_create();
    if (sc->follow) {
        s->follow = od_follow_create(s);
        s->cival = od_hist_create();
        s->pub_cival = od_hist_create();
    }
}

static void scen_dispose(od_scen_t *s)
{
    for (uint32_t i = 0; i < s->maxconns; i++) {
        od_conn_t *c = &s->conns[i];
        if (c->fd >= 0) close(c->fd);
        od_buf_dispose(&c->obuf);
        od_buf_dispose(&c->head);
        od_buf_dispose(&c->body);
        free(c->in);
        free(c->q);
    }
    free(s->conns);
    free(s->bl);
    od_load_stats_dispose(&s->st);
    od_hist_destroy(s->ival);
    od_hist_destroy(s->pub_ival);
    od_follow_destroy(s->follow);
    od_hist_destroy(s->cival);
    od_hist_destroy(s->pub_cival);
}

od_load_run_t *od_load_run_create(const od_scenario_set_t *set, const od_url_t *target, int threads,
                                  const char *run_id, uint64_t spin_ns, od_buf_t *err)
{
    od_load_run_t *r = od_calloc(1, sizeof(*r));
    r->spin_ns = spin_ns;
    r->set = set;
    r->target = *target;
    r->nthreads = threads;
    r->run_id = od_strdup(run_id);
    pthread_mutex_init(&r->gate_lock, NULL);
    pthread_cond_init(&r->gate_cond, NULL);
    size_t nsc = od_scenario_set_count(set);
    r->done_count = od_calloc(nsc, sizeof(*r->done_count));
    r->workers = od_calloc((size_t)threads, sizeof(*r->workers));
    for (int i = 0; i < threads; i++) {
        od_worker_t *w = &r->workers[i];
        w->run = r;
        w->index = i;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->epfd < 0 || w->tfd < 0) od_fatal("cannot create an event loop: %s", strerror(errno));
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &e);
        pthread_mutex_init(&w->pub_lock, NULL);
        w->nscens = nsc;
        w->scens = od_calloc(nsc, sizeof(*w->scens));
        for (size_t j = 0; j < nsc; j++)
            scen_init(w, &w->scens[j], od_scenario_set_get(set, j), j);
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&r->workers[i].tid, NULL, worker_main, &r->workers[i]) != 0)
            od_fatal("cannot start a worker thread: %s", strerror(errno));
        r->workers[i].started = 1;
    }
    pthread_mutex_lock(&r->gate_lock);
    while (r->nready < threads)
        pthread_cond_wait(&r->gate_cond, &r->gate_lock);
    int failed = r->abort;
    pthread_mutex_unlock(&r->gate_lock);
    if (failed) {
        od_load_run_join(r);
        for (int i = 0; i < threads; i++)
            if (r->workers[i].err.len) {
                od_buf_append(err, r->workers[i].err.base, r->workers[i].err.len);
                break; /* every worker ran the same file: one report is enough */
            }
        od_load_run_destroy(r);
        return NULL;
    }
    return r;
}

void od_load_run_go(od_load_run_t *r, uint64_t t0)
{
    pthread_mutex_lock(&r->gate_lock);
    r->t0 = t0;
    r->go = 1;
    pthread_cond_broadcast(&r->gate_cond);
    pthread_mutex_unlock(&r->gate_lock);
}

void od_load_run_stop(od_load_run_t *r)
{
    atomic_store(&r->stop, 1);
}

int od_load_run_scenario_done(od_load_run_t *r, size_t i)
{
    return atomic_load(&r->done_count[i]) >= r->nthreads;
}

int od_load_run_finished(od_load_run_t *r)
{
    return atomic_load(&r->nfinished) >= r->nthreads;
}

void od_load_run_snapshot(od_load_run_t *r, size_t i, od_load_snapshot_t *snap, od_hist_t *interval,
                          od_hist_t *cinterval)
{
    memset(snap, 0, sizeof(*snap));
    snap->phase = OD_PHASE_DONE;
    for (int t = 0; t < r->nthreads; t++) {
        od_worker_t *w = &r->workers[t];
        od_scen_t *s = &w->scens[i];
        pthread_mutex_lock(&w->pub_lock);
        od_load_counts_add(&snap->c, &s->pub_c);
        snap->inflight += s->pub_inflight;
        snap->backlog += s->pub_backlog;
        if (s->pub_phase < snap->phase) snap->phase = s->pub_phase;
        if (interval && s->pub_ival->total) {
            od_hist_merge(interval, s->pub_ival);
            od_hist_reset(s->pub_ival);
        }
        if (cinterval && s->pub_cival && s->pub_cival->total) {
            od_hist_merge(cinterval, s->pub_cival);
            od_hist_reset(s->pub_cival);
        }
        pthread_mutex_unlock(&w->pub_lock);
    }
}

void od_load_run_join(od_load_run_t *r)
{
    pthread_mutex_lock(&r->gate_lock);
    if (!r->go) r->abort = 1;
    pthread_cond_broadcast(&r->gate_cond);
    pthread_mutex_unlock(&r->gate_lock);
    for (int i = 0; i < r->nthreads; i++) {
        if (r->workers[i].started) pthread_join(r->workers[i].tid, NULL);
        r->workers[i].started = 0;
    }
}

void od_load_run_result(od_load_run_t *r, size_t i, od_load_stats_t *out, double *elapsed_s)
{
    uint64_t longest = 0;
    for (int t = 0; t < r->nthreads; t++) {
        od_scen_t *s = &r->workers[t].scens[i];
        if (out->timeline == NULL && s->st.timeline != NULL)
            out->timeline = od_load_timeline_create(s->sc->duration_ns + s->sc->timeout_ns + STOP_GRACE_NS);
        od_load_stats_merge(out, &s->st);
        if (s->done_at > s->start && s->done_at - s->start > longest) longest = s->done_at - s->start;
    }
    *elapsed_s = (double)longest / 1e9;
}

void od_load_run_cpu(od_load_run_t *r, od_load_cpu_t *out)
{
    for (int t = 0; t < r->nthreads; t++) {
        const od_load_cpu_t *c = &r->workers[t].cpu;
        out->wall_ns += c->wall_ns;
        out->sleep_ns += c->sleep_ns;
        out->spin_ns += c->spin_ns;
        out->runq_ns += c->runq_ns;
        out->unspun_ns += c->unspun_ns;
        out->window_ns_sum += c->window_ns_sum;
        out->window_ticks += c->window_ticks;
        out->stalls += c->stalls;
        out->stalled_ns += c->stalled_ns;
        out->overslept += c->overslept;
        if (c->stall_max_ns > out->stall_max_ns) out->stall_max_ns = c->stall_max_ns;
        if (c->window_max_ns > out->window_max_ns) out->window_max_ns = c->window_max_ns;
        if (c->wall_ns == 0) continue;
        uint64_t idle = c->sleep_ns + c->spin_ns;
        double busy = idle < c->wall_ns ? (double)(c->wall_ns - idle) / (double)c->wall_ns : 0;
        if (busy > out->busiest) out->busiest = busy;
    }
    out->threads += r->nthreads;
}

const char *od_load_run_script_error(od_load_run_t *r)
{
    for (int t = 0; t < r->nthreads; t++)
        if (r->workers[t].script_error) return r->workers[t].script_error;
    return NULL;
}

void od_load_run_destroy(od_load_run_t *r)
{
    if (r == NULL) return;
    od_load_run_join(r);
    for (int i = 0; i < r->nthreads; i++) {
        od_worker_t *w = &r->workers[i];
        for (size_t j = 0; j < w->nscens; j++)
            scen_dispose(&w->scens[j]);
        free(w->scens);
        od_script_destroy(w->script);
        close(w->epfd);
        close(w->tfd);
        od_buf_dispose(&w->err);
        od_buf_dispose(&w->lerr);
        od_buf_dispose(&w->scratch);
        free(w->script_error);
        pthread_mutex_destroy(&w->pub_lock);
    }
    free(r->workers);
    free(r->done_count);
    free(r->run_id);
    pthread_mutex_destroy(&r->gate_lock);
    pthread_cond_destroy(&r->gate_cond);
    free(r);
}
