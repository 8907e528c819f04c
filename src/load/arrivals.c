/*
 * arrivals — a worker's scenarios over time: arrivals due at their instants, the backlog,
 * which connection sends what, the counts each request and answer adds, the phases of a
 * scenario (wait, run, drain, done) and the snapshots the main thread reads (see worker.h).
 */
#include "load/worker.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>

#define ARRIVAL_BATCH 4096 /* arrivals handled before looking at sockets again */

/* ---- requests ----------------------------------------------------------------------------- */

/* the timeline point for `now` (every scenario of a run has a timeline) */
static od_tl_point_t *tl_now(od_scen_t *s, uint64_t now)
{
    return od_load_timeline_at(s->st.timeline, now > s->start ? now - s->start : 0);
}

/* counts an error of `kind` in the totals and in the second it happened in */
void od_scen_count_error(od_scen_t *s, int kind, uint64_t now)
{
    s->st.c.errors[kind]++;
    tl_now(s, now)->errors++;
}

void od_scen_script_error(od_worker_t *w, od_scen_t *s)
{
    od_scen_count_error(s, OD_ERR_SCRIPT, od_now_ns());
    if (w->script_error == NULL) w->script_error = od_strdup(w->lerr.base ? w->lerr.base : "script error");
    od_buf_reset(&w->lerr);
}

/* Readies the parser for the answer to c's oldest request. */
static void start_answer(od_conn_t *c)
{
    od_resp_reset(&c->resp);
    c->resp.no_body = od_conn_oldest(c)->no_body;
    c->loc_len = 0;
    od_buf_reset(&c->body);
    od_buf_reset(&c->head);
}

/*
 * Hands the request in w->scratch (or the static one) to c.  On an idle connection the
 * request's own bytes are what is written (no copy); pipelined behind requests still in flight,
 * it is appended to what c has not written yet.  `ready` is when a connection could first take
 * it (its intended start, or later when it waited for one): intended -> ready is its
 * connection wait, ready -> now its send delay (stats.h).
 */
static void assign(od_scen_t *s, od_conn_t *c, uint64_t intended, uint64_t ready, uint64_t seq, uint64_t now)
{
    od_worker_t *w = s->w;
    const char *req = w->static_req ? w->static_req : w->scratch.base;
    size_t len = w->static_req ? w->static_len : w->scratch.len;
    int head = len >= 5 && memcmp(req, "HEAD ", 5) == 0;
    if (c->busy == 0) {
        if (w->static_req) {
            c->out = w->static_req;
            c->out_len = w->static_len;
        } else {
            od_buf_t t = c->obuf; /* swap buffers: no copy */
            c->obuf = w->scratch;
            w->scratch = t;
            c->out = c->obuf.base;
            c->out_len = c->obuf.len;
        }
    } else {
        size_t left = c->out_len - c->out_off;
        if (c->out == c->obuf.base) {
            memmove(c->obuf.base, c->out + c->out_off, left);
            c->obuf.len = left;
        } else {
            od_buf_reset(&c->obuf);
            od_buf_append(&c->obuf, c->out + c->out_off, left);
        }
        od_buf_append(&c->obuf, req, len);
        c->out = c->obuf.base;
        c->out_len = c->obuf.len;
    }
    c->out_off = 0;
    c->q[(c->q_head + c->busy) % s->depth] = (od_sent_t){intended, seq, now, now + s->sc->timeout_ns, head};
    if (c->busy++ == 0) start_answer(c);
    s->busy++;
    w->last_sent = now;
    if (ready < intended) ready = intended;
    uint64_t delay = now > ready ? now - ready : 0, wait = ready - intended;
    od_hist_record(s->st.send_delay, delay / 1000 ? delay / 1000 : 1);
    if (!s->closed_model) od_hist_record(s->st.conn_wait, wait / 1000 ? wait / 1000 : 1);
    s->st.c.sent++;
    tl_now(s, now)->sent++;
    if (delay + wait >= OD_LATE_NS) s->st.c.late++; /* late: sent that long after its intended start */
    if (c->connected) od_conn_write(c);
}

/* the open connection with the fewest requests in flight, when one has room for another
 * (every connection is open and busy: the request is pipelined behind its answers) */
static od_conn_t *least_busy(od_scen_t *s)
{
    od_conn_t *best = NULL;
    for (uint32_t i = 0; i < s->maxconns; i++) {
        od_conn_t *c = &s->conns[i];
        if (c->fd >= 0 && c->busy < s->depth && (best == NULL || c->busy < best->busy)) best = c;
    }
    return best;
}

/*
 * Sends one request: builds it, then uses `c` if given (free and open), else an idle
 * connection, else a new one, else (pipelining) the open one with the fewest in flight.  The
 * caller has checked that one of these exists (can_send).  `ready`: as for assign.
 */
static void dispatch(od_scen_t *s, od_conn_t *c, uint64_t intended, uint64_t ready, uint64_t seq,
                     uint64_t now)
{
    od_worker_t *w = s->w;
    if (!w->static_req) {
        double elapsed = intended > s->start ? (double)(intended - s->start) / 1e9 : 0;
        if (od_script_request(w->script, s->index, seq, elapsed, &w->scratch, &w->lerr) != 0) {
            od_scen_script_error(w, s);
            if (c && c->fd >= 0 && !c->busy && s->phase != OD_PHASE_DONE) od_conn_idle_push(s, c);
            return;
        }
    }
    if (c == NULL || c->fd < 0 || c->busy)
        c = od_conn_idle_pop(s);
    else
        od_conn_idle_remove(s, c);
    if (c == NULL && (c = od_conn_free_slot(s)) != NULL) {
        if (od_conn_open(s, c) != 0) { /* refused at once: this request failed to connect */
            s->st.c.sent++;
            tl_now(s, now)->sent++;
            od_scen_count_error(s, OD_ERR_CONNECT, now);
            return;
        }
    } else if (c == NULL) {
        c = least_busy(s);
    }
    OD_ASSERT(c != NULL);
    assign(s, c, intended, ready, seq, now);
}

/* an idle connection, room for another, or (pipelining) an open one with room behind its
 * answers: requests in flight sit only on open connections, at most depth on each */
static int can_send(od_scen_t *s)
{
    return s->idle != NULL || s->nopen < s->maxconns || s->busy < s->nopen * s->depth;
}

/* Sends what waits in the backlog while connections are free; then parks c as idle. */
static void serve_backlog(od_scen_t *s, od_conn_t *c, uint64_t now)
{
    if (!s->serving) {
        s->serving = 1;
        while (s->bl_len > 0 && ((c && c->fd >= 0 && !c->busy) || can_send(s))) {
            od_pending_t p = s->bl[s->bl_head];
            s->bl_head = (s->bl_head + 1) % s->bl_cap;
            s->bl_len--;
            od_conn_t *use = (c && c->fd >= 0 && !c->busy) ? c : NULL;
            dispatch(s, use, p.intended, now, p.seq, now); /* a connection is free from now */
            if (use) c = NULL;
        }
        s->serving = 0;
    }
    if (c && c->fd >= 0 && !c->busy) od_conn_idle_push(s, c);
}

/* A connection is free again (c, possibly closed) or was lost (c == NULL). */
void od_scen_next_work(od_scen_t *s, od_conn_t *c, uint64_t now, int may_reopen)
{
    if (s->closed_model) {
        if (s->phase != OD_PHASE_RUN) {
            if (c && c->fd >= 0) od_conn_close(c);
            return;
        }
        if (c && c->fd < 0 && !may_reopen) return; /* reopened by the next od_worker_tick */
        if (c && c->fd < 0) c = NULL;
        if (c == NULL && !can_send(s)) return;
        uint64_t seq = s->closed_seq;
        s->closed_seq += (uint64_t)s->w->run->nthreads;
        s->st.c.scheduled++;
        dispatch(s, c, now, now, seq, now);
        return;
    }
    serve_backlog(s, c, now);
}

void od_scen_conn_failed(od_conn_t *c, int kind, uint64_t now)
{
    od_scen_t *s = c->s;
    for (uint32_t i = 0; i < c->busy; i++) /* whether the server processed them is unknown */
        od_scen_count_error(s, kind, now);
    od_conn_close(c);
    od_scen_next_work(s, c, now, kind != OD_ERR_CONNECT);
}

/*
 * c closes after an answer while requests are pipelined behind it: a server that says close
 * does not process them (RFC 9112 9.6), so they go back to the front of the backlog, in order,
 * with their intended starts, and are sent again (their first send's delay stays recorded).
 */
static void requeue_unanswered(od_scen_t *s, od_conn_t *c)
{
    for (uint32_t i = c->busy; i-- > 0;) {
        od_sent_t *e = &c->q[(c->q_head + i) % s->depth];
        s->st.c.sent--;
        tl_now(s, e->sent_at)->sent--;
        if (e->sent_at > e->intended && e->sent_at - e->intended >= OD_LATE_NS) s->st.c.late--;
        if (s->bl_len < s->bl_cap) {
            s->bl_head = (s->bl_head + s->bl_cap - 1) % s->bl_cap;
            s->bl[s->bl_head] = (od_pending_t){e->intended, e->seq};
            s->bl_len++;
        } else {
            s->st.c.dropped++;
        }
    }
    s->busy -= c->busy;
    c->busy = 0;
}

void od_scen_complete(od_conn_t *c, uint64_t now)
{
    od_scen_t *s = c->s;
    od_worker_t *w = s->w;
    const od_sent_t *e = od_conn_oldest(c);
    uint64_t lat = now > e->intended ? (now - e->intended) / 1000 : 0;
    uint64_t svc = now > e->sent_at ? (now - e->sent_at) / 1000 : 0;
    uint64_t seq = e->seq;
    od_hist_record(s->st.latency, lat ? lat : 1);
    od_hist_record(s->ival, lat ? lat : 1);
    od_hist_record(s->st.service, svc ? svc : 1);
    s->st.c.completed++;
    od_tl_point_t *p = tl_now(s, now);
    p->completed++;
    od_tl_record(p, lat ? lat : 1);
    int status = c->resp.status;
    s->st.c.status[status >= 100 && status < 600 ? status : 0]++;
    if (s->follow && status == 202) od_follow_add(s, c->loc, c->loc_len, now);
    if (status >= 400)
        od_scen_count_error(s, OD_ERR_STATUS, now);
    else if (w->wants_response)
        switch (od_script_response(w->script, s->index, seq, status, c->head.base, c->head.len, c->body.base,
                                   c->body.len, &w->lerr)) {
        case 0: /* response() rejected the answer */
            od_scen_count_error(s, OD_ERR_STATUS, now);
            break;
        case -1: /* counted as a script error, not as a rejected answer */
            od_scen_script_error(w, s);
            break;
        }
    c->q_head = (c->q_head + 1) % s->depth;
    c->busy--;
    s->busy--;
    if (!c->resp.keep_alive) {
        requeue_unanswered(s, c);
        od_conn_close(c);
    } else if (c->busy) {
        start_answer(c);
    }
    od_scen_next_work(s, c, now, 1);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static void arrival(od_scen_t *s, uint64_t intended, uint64_t seq, uint64_t now)
{
    s->st.c.scheduled++;
    if (s->bl_len == 0 && can_send(s)) {
        dispatch(s, NULL, intended, intended, seq, now);
    } else if (s->bl_len < s->bl_cap) {
        s->bl[(s->bl_head + s->bl_len) % s->bl_cap] = (od_pending_t){intended, seq};
        s->bl_len++;
        s->st.c.queued++;
    } else {
        s->st.c.dropped++;
    }
}

void od_worker_publish(od_worker_t *w)
{
    pthread_mutex_lock(&w->pub_lock);
    for (size_t i = 0; i < w->nscens; i++) {
        od_scen_t *s = &w->scens[i];
        s->pub_c = s->st.c;
        if (s->ival->total) {
            od_hist_merge(s->pub_ival, s->ival);
            od_hist_reset(s->ival);
        }
        if (s->cival && s->cival->total) {
            od_hist_merge(s->pub_cival, s->cival);
            od_hist_reset(s->cival);
        }
        s->pub_inflight = s->busy;
        s->pub_backlog = s->bl_len;
        s->pub_phase = s->phase;
    }
    pthread_mutex_unlock(&w->pub_lock);
}

static void finish(od_scen_t *s, uint64_t now)
{
    for (uint32_t i = 0; i < s->maxconns; i++) {
        od_conn_t *c = &s->conns[i];
        if (c->fd < 0) continue;
        for (uint32_t j = 0; j < c->busy; j++)
            od_scen_count_error(s, OD_ERR_TIMEOUT, now);
        od_conn_close(c);
    }
    s->st.c.dropped += s->bl_len;
    s->bl_len = 0;
    od_follow_finish(s);
    s->phase = OD_PHASE_DONE;
    s->done_at = now;
    od_worker_publish(s->w);
    atomic_fetch_add(&s->w->run->done_count[s->index], 1);
}

/* Advances scenario s to `now`; returns when it next needs attention. */
uint64_t od_scen_step(od_scen_t *s, uint64_t now)
{
    od_load_run_t *run = s->w->run;
    int stop = atomic_load_explicit(&run->stop, memory_order_relaxed);
    switch (s->phase) {
    case OD_PHASE_WAIT:
        if (stop) {
            finish(s, now);
            return UINT64_MAX;
        }
        if (now < s->start) return s->start;
        s->phase = OD_PHASE_RUN;
        if (s->closed_model) {
            for (uint32_t i = 0; i < s->maxconns; i++)
                od_scen_next_work(s, NULL, now, 1);
        }
        /* fall through */
    case OD_PHASE_RUN:
        if (s->closed_model) {
            if (now < s->end && !stop) return s->end;
        } else {
            int budget = ARRIVAL_BATCH;
            while (s->next_due <= now && budget-- > 0 && !stop) {
                arrival(s, s->next_due, s->k, now);
                s->k += (uint64_t)run->nthreads;
                uint64_t at = s->k < s->narrivals ? od_scenario_arrival_ns(s->sc, s->k) : UINT64_MAX;
                s->next_due = at == UINT64_MAX ? UINT64_MAX : s->start + at;
            }
            if (s->next_due != UINT64_MAX && !stop) return s->next_due;
        }
        s->phase = OD_PHASE_DRAIN;
        s->drain_deadline = stop ? now + STOP_GRACE_NS : (now > s->end ? now : s->end) + s->sc->timeout_ns;
        if (s->closed_model) { /* idle connections have nothing more to do */
            while (s->idle)
                od_conn_close(s->idle);
        }
        /* fall through */
    case OD_PHASE_DRAIN:
        if (stop && s->drain_deadline > now + STOP_GRACE_NS) s->drain_deadline = now + STOP_GRACE_NS;
        if ((s->busy == 0 && s->bl_len == 0 && od_follow_pending(s) == 0) || now >= s->drain_deadline) {
            finish(s, now);
            return UINT64_MAX;
        }
        return s->drain_deadline;
    default:
        return UINT64_MAX;
    }
}

void od_worker_tick(od_worker_t *w, uint64_t now)
{
    for (size_t i = 0; i < w->nscens; i++) {
        od_scen_t *s = &w->scens[i];
        if (s->phase == OD_PHASE_WAIT || s->phase == OD_PHASE_DONE) continue;
        for (uint32_t j = 0; j < s->maxconns; j++) {
            od_conn_t *c = &s->conns[j];
            if (c->fd >= 0 && c->busy && now >= od_conn_oldest(c)->deadline)
                od_scen_conn_failed(c, OD_ERR_TIMEOUT, now);
        }
        od_follow_tick(s, now);
        /* closed model: retry connections whose request failed to build, reopen what failed to
         * connect (bounded: each attempt may fail again at once) */
        if (s->closed_model && s->phase == OD_PHASE_RUN) {
            for (uint32_t n = s->nopen - s->busy; n > 0 && s->idle; n--)
                od_scen_next_work(s, od_conn_idle_pop(s), now, 1);
            for (uint32_t n = s->maxconns - s->nopen; n > 0; n--)
                od_scen_next_work(s, NULL, now, 1);
        }
    }
    od_worker_publish(w);
}
