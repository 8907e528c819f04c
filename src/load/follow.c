/*
 * follow — a scenario's `follow = true` (see worker.h): each 202's Location is polled with
 * GET until the order is done or failed, and its completion latency is recorded.
 *
 * What is measured: accepted -> finished, from the order's own timestamps in the last poll's
 * answer (queue_ms + processing_ms: orderd's clock from the enqueue to the end of
 * processing), so the figure does not depend on how often orders are polled.  An answer
 * without them (a target other than orderd) gives the time from the 202 to the poll that
 * saw the order finished.  Time-to-202 stays in latency_us, from the intended start.
 *
 * Bounded polling, per worker and scenario: FOLLOW_CONNS keep-alive connections of their own
 * (a poll never takes a connection an arrival needs), one poll in flight on each; the first
 * poll FIRST_POLL_NS after the 202, each next one POLL_GROWTH times later, at most
 * MAX_INTERVAL_NS apart; at most MAX_POLLS polls per order and MAX_PENDING orders followed
 * at once.  An order not seen finished (404 once evicted, polls exhausted, the scenario's
 * drain deadline, more than MAX_PENDING followed, a 202 without a usable Location) counts as
 * lost.  The polls run on the worker's thread, so their CPU is in the generator's own.
 */
#include "load/worker.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define FOLLOW_CONNS 4
#define MAX_PENDING 100000
#define FIRST_POLL_NS 10000000ull     /* 10 ms */
#define MAX_INTERVAL_NS 1000000000ull /* 1 s */
#define POLL_GROWTH 1.5
#define MAX_POLLS 64 /* about a minute at the longest interval */

typedef struct order {
    uint64_t accepted, due, interval;
    uint32_t polls;
    size_t len;
    char path[]; /* len bytes and a NUL */
} order_t;

typedef struct poll {
    int fd, connected;
    uint32_t events;
    struct follow *f;
    order_t *o; /* the order being asked about; NULL: idle */
    uint64_t deadline;
    od_buf_t out;
    size_t out_off;
    char *in;
    size_t in_len, in_cap;
    od_resp_t resp;
    od_buf_t body;
} poll_t;

struct follow {
    od_scen_t *s;
    order_t **heap; /* a min-heap by due */
    size_t n, cap;
    size_t inflight;
    poll_t conns[FOLLOW_CONNS];
};

/* ---- the orders waiting for their next poll ------------------------------------------------ */

static void heap_push(struct follow *f, order_t *o)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->heap = od_realloc(f->heap, f->cap * sizeof(*f->heap));
    }
    size_t i = f->n++;
    while (i > 0 && f->heap[(i - 1) / 2]->due > o->due) {
        f->heap[i] = f->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    f->heap[i] = o;
}

static order_t *heap_pop(struct follow *f)
{
    order_t *top = f->heap[0], *last = f->heap[--f->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= f->n) break;
        if (c + 1 < f->n && f->heap[c + 1]->due < f->heap[c]->due) c++;
        if (f->heap[c]->due >= last->due) break;
        f->heap[i] = f->heap[c];
        i = c;
    }
    if (f->n) f->heap[i] = last;
    return top;
}

struct follow *od_follow_create(od_scen_t *s)
{
    struct follow *f = od_calloc(1, sizeof(*f));
    f->s = s;
    for (int i = 0; i < FOLLOW_CONNS; i++) {
        f->conns[i].fd = -1;
        f->conns[i].f = f;
    }
    return f;
}

static void poll_close(poll_t *p)
{
    if (p->fd < 0) return;
    close(p->fd); /* also leaves the epoll set */
    p->fd = -1;
    p->connected = 0;
    p->in_len = 0;
}

void od_follow_destroy(struct follow *f)
{
    if (f == NULL) return;
    for (int i = 0; i < FOLLOW_CONNS; i++) {
        poll_t *p = &f->conns[i];
        poll_close(p);
        free(p->o);
        od_buf_dispose(&p->out);
        od_buf_dispose(&p->body);
        free(p->in);
    }
    for (size_t i = 0; i < f->n; i++)
        free(f->heap[i]);
    free(f->heap);
    free(f);
}

size_t od_follow_pending(const od_scen_t *s)
{
    return s->follow ? s->follow->n + s->follow->inflight : 0;
}

/* ---- the 202 ------------------------------------------------------------------------------- */

static void location_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    od_conn_t *c = arg;
    if (nlen != 8 || strncasecmp(name, "location", 8) != 0) return;
    if (vlen > 7 && strncasecmp(value, "http://", 7) == 0) { /* absolute: its path, on the target */
        const char *slash = memchr(value + 7, '/', vlen - 7);
        vlen = slash ? vlen - (size_t)(slash - value) : 0;
        value = slash;
    }
    if (vlen == 0 || value[0] != '/' || vlen >= sizeof(c->loc)) return; /* not usable: lost */
    memcpy(c->loc, value, vlen);
    c->loc_len = vlen;
}

void od_follow_location(od_conn_t *c)
{
    c->loc_len = 0;
    if (c->resp.status == 202) od_resp_each_header(c->resp.head, c->resp.head_len, location_header, c);
}

void od_follow_add(od_scen_t *s, const char *loc, size_t len, uint64_t now)
{
    struct follow *f = s->follow;
    s->st.c.followed++;
    if (len == 0 || od_follow_pending(s) >= MAX_PENDING) {
        s->st.c.flost++;
        return;
    }
    order_t *o = od_malloc(sizeof(*o) + len + 1);
    o->accepted = now;
    o->interval = FIRST_POLL_NS;
    o->due = now + FIRST_POLL_NS;
    o->polls = 0;
    o->len = len;
    memcpy(o->path, loc, len);
    o->path[len] = '\0';
    heap_push(f, o);
}

/* ---- polls --------------------------------------------------------------------------------- */

static void set_events(poll_t *p, uint32_t ev)
{
    if (p->events == ev) return;
    struct epoll_event e = {.events = ev, .data.u64 = (uint64_t)(uintptr_t)p | OD_FOLLOW_TAG};
    epoll_ctl(p->f->s->w->epfd, EPOLL_CTL_MOD, p->fd, &e);
    p->events = ev;
}

static int poll_open(poll_t *p)
{
    od_worker_t *w = p->f->s->w;
    int connected = 0;
    int fd = od_conn_dial(&w->run->target, &connected);
    if (fd < 0) return -1;
    p->fd = fd;
    p->connected = connected;
    p->events = EPOLLIN | EPOLLRDHUP | (connected ? 0 : EPOLLOUT);
    p->in_len = 0;
    struct epoll_event e = {.events = p->events, .data.u64 = (uint64_t)(uintptr_t)p | OD_FOLLOW_TAG};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        p->fd = -1;
        return -1;
    }
    return 0;
}

/* The order o was not seen finished this time: polls it again later, or gives it up. */
static void again(struct follow *f, order_t *o, uint64_t now)
{
    if (o->polls >= MAX_POLLS) {
        f->s->st.c.flost++;
        free(o);
        return;
    }
    o->interval = (uint64_t)((double)o->interval * POLL_GROWTH);
    if (o->interval > MAX_INTERVAL_NS) o->interval = MAX_INTERVAL_NS;
    o->due = now + o->interval;
    heap_push(f, o);
}

/* Takes p's order back (for `again`, or to be freed). */
static order_t *take(poll_t *p)
{
    order_t *o = p->o;
    p->o = NULL;
    if (o) p->f->inflight--;
    return o;
}

static void poll_failed(poll_t *p, uint64_t now)
{
    poll_close(p);
    order_t *o = take(p);
    if (o) again(p->f, o, now);
}

static void poll_write(poll_t *p, uint64_t now)
{
    while (p->out_off < p->out.len) {
        ssize_t n = write(p->fd, p->out.base + p->out_off, p->out.len - p->out_off);
        if (n > 0) {
            p->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            set_events(p, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            return;
        } else {
            poll_failed(p, now);
            return;
        }
    }
    set_events(p, EPOLLIN | EPOLLRDHUP);
}

static void send_poll(poll_t *p, order_t *o, uint64_t now)
{
    od_scen_t *s = p->f->s;
    p->o = o;
    p->f->inflight++;
    o->polls++;
    s->st.c.polls++;
    if (p->fd < 0 && poll_open(p) != 0) {
        poll_failed(p, now);
        return;
    }
    od_buf_reset(&p->out);
    od_buf_printf(&p->out, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: orderload\r\n\r\n", o->path,
                  s->w->run->target.hostport);
    p->out_off = 0;
    p->deadline = now + s->sc->timeout_ns;
    od_resp_reset(&p->resp);
    od_buf_reset(&p->body);
    if (p->connected) poll_write(p, now);
}

uint64_t od_follow_step(od_scen_t *s, uint64_t now)
{
    struct follow *f = s->follow;
    if (f == NULL || s->phase == OD_PHASE_WAIT || s->phase == OD_PHASE_DONE) return UINT64_MAX;
    while (f->n > 0 && f->heap[0]->due <= now) {
        poll_t *p = NULL;
        for (int i = 0; i < FOLLOW_CONNS && p == NULL; i++)
            if (f->conns[i].o == NULL) p = &f->conns[i];
        if (p == NULL) return UINT64_MAX; /* every connection busy: an answer frees one */
        send_poll(p, heap_pop(f), now);
    }
    return f->n ? f->heap[0]->due : UINT64_MAX;
}

/* The order's accepted -> finished time in µs: its own queue_ms + processing_ms when the
 * answer has them, else from the 202 to now. */
static uint64_t completion_us(json_t *doc, const order_t *o, uint64_t now)
{
    json_t *q = json_object_get(doc, "queue_ms"), *pr = json_object_get(doc, "processing_ms");
    double us = json_is_number(q) && json_is_number(pr)
                    ? (json_number_value(q) + json_number_value(pr)) * 1000.0 + 0.5
                    : (double)(now > o->accepted ? now - o->accepted : 0) / 1000.0;
    return us >= 1 ? (uint64_t)us : 1;
}

/* A poll's answer is complete: records the order if it finished, else polls it again. */
static void answered(poll_t *p, uint64_t now)
{
    struct follow *f = p->f;
    od_scen_t *s = f->s;
    order_t *o = take(p);
    int status = p->resp.status;
    if (!p->resp.keep_alive) poll_close(p);
    if (o == NULL) return;
    if (status == 404) { /* evicted from the server's results (or never known) */
        s->st.c.flost++;
        free(o);
        return;
    }
    json_t *doc = status == 200 ? json_loadb(p->body.base ? p->body.base : "", p->body.len, 0, NULL) : NULL;
    json_t *st = json_object_get(doc, "state");
    const char *state = json_is_string(st) ? json_string_value(st) : "";
    int done = strcmp(state, "done") == 0, failed = strcmp(state, "failed") == 0;
    if (done || failed) {
        uint64_t us = completion_us(doc, o, now);
        od_hist_record(s->st.completion, us);
        if (s->cival) od_hist_record(s->cival, us);
        od_tl_record_completion(od_load_timeline_at(s->st.timeline, now > s->start ? now - s->start : 0), us);
        if (done)
            s->st.c.fdone++;
        else
            s->st.c.ffailed++;
        free(o);
    } else {
        again(f, o, now);
    }
    json_decref(doc);
}

static void poll_readable(poll_t *p)
{
    for (;;) {
        ssize_t n = od_conn_read(p->fd, &p->in, p->in_len, &p->in_cap);
        if (n < 0 && errno == EAGAIN) return;
        uint64_t now = od_now_ns();
        if (n <= 0 || p->o == NULL) {
            if (p->o && n == 0 && od_resp_eof(&p->resp) == 0)
                answered(p, now);
            else
                poll_failed(p, now); /* closed, an error, or bytes nobody asked for */
            return;
        }
        p->in_len += (size_t)n;
        ssize_t used = od_resp_feed(&p->resp, p->in, p->in_len, &p->body);
        if (used < 0) {
            poll_failed(p, now);
            return;
        }
        if ((size_t)used < p->in_len) memmove(p->in, p->in + used, p->in_len - (size_t)used);
        p->in_len -= (size_t)used;
        if (p->resp.state == OD_RESP_DONE) {
            p->in_len = 0;
            answered(p, now);
            return;
        }
        if ((size_t)n < p->in_cap - p->in_len) return;
    }
}

void od_follow_event(void *arg, uint32_t ev)
{
    poll_t *p = arg;
    if (p->fd < 0) return;
    if (!p->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            poll_failed(p, od_now_ns());
            return;
        }
        if (!(ev & EPOLLOUT)) return;
        p->connected = 1;
        if (p->o)
            poll_write(p, od_now_ns());
        else
            set_events(p, EPOLLIN | EPOLLRDHUP);
        return;
    }
    if ((ev & EPOLLOUT) && p->o && p->out_off < p->out.len) {
        poll_write(p, od_now_ns());
        if (p->fd < 0) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) poll_readable(p);
}

void od_follow_tick(od_scen_t *s, uint64_t now)
{
    struct follow *f = s->follow;
    for (int i = 0; f && i < FOLLOW_CONNS; i++)
        if (f->conns[i].o && now >= f->conns[i].deadline) poll_failed(&f->conns[i], now);
}

void od_follow_finish(od_scen_t *s)
{
    struct follow *f = s->follow;
    if (f == NULL) return;
    for (int i = 0; i < FOLLOW_CONNS; i++) {
        poll_close(&f->conns[i]);
        order_t *o = take(&f->conns[i]);
        if (o) s->st.c.flost++;
        free(o);
    }
    s->st.c.flost += f->n;
    for (size_t i = 0; i < f->n; i++)
        free(f->heap[i]);
    f->n = 0;
}
