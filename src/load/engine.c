/*
 * engine — see engine.h.  One worker = one thread = one epoll loop.  Per scenario a worker
 * holds a fixed array of connection slots, an idle list (most recently used first, so few
 * connections stay warm), a ring buffer backlog, and its statistics.
 */
#include "load/engine.h"

#include <errno.h>
#include <lauxlib.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "luautil.h"

#define TICK_NS 50000000ull /* timeouts checked and snapshots published this often */
#define ARRIVAL_BATCH 4096  /* arrivals handled before looking at sockets again */
#define READ_CHUNK 16384
#define STOP_GRACE_NS 1000000000ull

typedef struct scen scen_t;
typedef struct worker worker_t;

typedef struct conn {
    int fd;
    int connected, busy;
    uint32_t events;
    scen_t *s;
    struct conn *prev_idle, *next_idle;
    int in_idle;
    uint64_t intended, sent_at, deadline, seq;
    const char *out; /* the request: obuf's bytes or the worker's static request */
    size_t out_len, out_off;
    od_buf_t obuf;
    char *in;
    size_t in_len, in_cap;
    od_resp_t resp;
    od_buf_t head, body; /* kept only when the script has response() */
} conn_t;

typedef struct pending {
    uint64_t intended, seq;
} pending_t;

struct scen {
    const od_scenario_t *sc;
    worker_t *w;
    size_t index;
    int phase, closed_model;
    uint64_t start, end, drain_deadline, done_at;
    uint64_t k, narrivals, next_due, closed_seq;
    conn_t *conns;
    uint32_t maxconns, nopen, busy;
    conn_t *idle;
    pending_t *bl;
    uint32_t bl_cap, bl_head, bl_len;
    int serving;
    od_load_stats_t st;
    od_hist_t *ival;
    int ctx_ref;
    /* published under worker->pub_lock */
    od_load_counts_t pub_c;
    od_hist_t *pub_ival;
    uint64_t pub_inflight, pub_backlog;
    int pub_phase;
};

struct worker {
    od_load_run_t *run;
    int index;
    pthread_t tid;
    int started;
    int epfd, tfd;
    uint64_t armed, next_tick;
    lua_State *L;
    int req_ref, resp_ref;
    scen_t *scens;
    size_t nscens;
    od_buf_t err;       /* load errors */
    od_buf_t lerr;      /* scratch for runtime Lua errors */
    char *script_error; /* the first runtime script error */
    od_buf_t scratch;   /* a request being built */
    char *static_req;
    size_t static_len;
    pthread_mutex_t pub_lock;
};

struct od_load_run {
    const od_scenario_set_t *set;
    od_url_t target;
    int nthreads;
    char *run_id;
    worker_t *workers;
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    int nready, go, abort;
    uint64_t t0;
    atomic_int stop;
    atomic_int *done_count;
    atomic_int nfinished;
};

/* ---- connections -------------------------------------------------------------------------- */

static void idle_push(scen_t *s, conn_t *c)
{
    if (c->in_idle) return;
    c->in_idle = 1;
    c->prev_idle = NULL;
    c->next_idle = s->idle;
    if (s->idle) s->idle->prev_idle = c;
    s->idle = c;
}

static void idle_remove(scen_t *s, conn_t *c)
{
    if (!c->in_idle) return;
    if (c->prev_idle)
        c->prev_idle->next_idle = c->next_idle;
    else
        s->idle = c->next_idle;
    if (c->next_idle) c->next_idle->prev_idle = c->prev_idle;
    c->in_idle = 0;
    c->prev_idle = c->next_idle = NULL;
}

static conn_t *idle_pop(scen_t *s)
{
    conn_t *c = s->idle;
    if (c) idle_remove(s, c);
    return c;
}

static void set_events(conn_t *c, uint32_t ev)
{
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->s->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void conn_close(conn_t *c)
{
    if (c->fd < 0) return;
    scen_t *s = c->s;
    idle_remove(s, c);
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->connected = 0;
    c->in_len = 0;
    s->nopen--;
    if (c->busy) {
        c->busy = 0;
        s->busy--;
    }
}

/* Opens slot c's connection.  Returns 0 (connected or in progress) or -1 (failed now). */
static int conn_open(scen_t *s, conn_t *c)
{
    const od_url_t *u = &s->w->run->target;
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (const struct sockaddr *)&u->addr, u->addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->connected = rc == 0;
    c->events = EPOLLIN | EPOLLRDHUP | (rc == 0 ? 0 : EPOLLOUT);
    c->in_len = 0;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(s->w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    s->nopen++;
    return 0;
}

static conn_t *free_slot(scen_t *s)
{
    if (s->nopen >= s->maxconns) return NULL;
    for (uint32_t i = 0; i < s->maxconns; i++)
        if (s->conns[i].fd < 0) return &s->conns[i];
    return NULL;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* the timeline point for `now` (every scenario of a run has a timeline) */
static od_tl_point_t *tl_now(scen_t *s, uint64_t now)
{
    return od_load_timeline_at(s->st.timeline, now > s->start ? now - s->start : 0);
}

/* counts an error of `kind` in the totals and in the second it happened in */
static void count_error(scen_t *s, int kind, uint64_t now)
{
    s->st.c.errors[kind]++;
    tl_now(s, now)->errors++;
}

static void note_script_error(worker_t *w, scen_t *s)
{
    count_error(s, OD_ERR_SCRIPT, od_now_ns());
    if (w->script_error == NULL) w->script_error = od_strdup(w->lerr.base ? w->lerr.base : "script error");
    od_buf_reset(&w->lerr);
}

static void put_u64(od_buf_t *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    od_buf_reserve(b, (size_t)n);
    while (n > 0)
        b->base[b->len++] = tmp[--n];
    b->base[b->len] = '\0';
}

/* Calls request(ctx) and builds the request into w->scratch.  Returns 0, or -1 (counted). */
static int build_lua_request(worker_t *w, scen_t *s, uint64_t seq, uint64_t intended)
{
    lua_State *L = w->L;
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->req_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ctx_ref);
    lua_pushinteger(L, (lua_Integer)seq);
    lua_setfield(L, -2, "seq");
    lua_pushnumber(L, intended > s->start ? (double)(intended - s->start) / 1e9 : 0);
    lua_setfield(L, -2, "elapsed");
    if (od_lua_pcall(L, 1, 4, &w->lerr) != 0) {
        note_script_error(w, s);
        lua_settop(L, base);
        return -1;
    }
    int m = base + 1, p = base + 2, h = base + 3, b = base + 4;
    if (lua_istable(L, m)) { /* { method =, path =, headers =, body = } */
        lua_settop(L, base + 1);
        lua_getfield(L, m, "method");
        lua_getfield(L, m, "path");
        lua_getfield(L, m, "headers");
        lua_getfield(L, m, "body");
        m = base + 2, p = base + 3, h = base + 4, b = base + 5;
    }
    size_t blen = 0, plen = 0;
    const char *body = lua_type(L, b) == LUA_TSTRING ? lua_tolstring(L, b, &blen) : NULL;
    const char *method = lua_type(L, m) == LUA_TSTRING ? lua_tostring(L, m) : (body ? "POST" : "GET");
    const char *path = lua_type(L, p) == LUA_TSTRING ? lua_tolstring(L, p, &plen) : NULL;
    const char *bad = NULL;
    if (path == NULL || path[0] != '/' || strpbrk(path, " \r\n") != NULL)
        bad = "a path starting with /";
    else if (strpbrk(method, " \r\n") != NULL || method[0] == '\0')
        bad = "a method such as GET";
    else if (!lua_isnil(L, h) && !lua_istable(L, h))
        bad = "headers as a table";
    else if (!lua_isnil(L, b) && body == NULL)
        bad = "the body as a string";
    if (bad) {
        od_buf_printf(&w->lerr, "%s: request(ctx) must return %s", od_scenario_set_file(w->run->set), bad);
        note_script_error(w, s);
        lua_settop(L, base);
        return -1;
    }
    od_buf_t *out = &w->scratch;
    od_buf_reset(out);
    od_buf_puts(out, method);
    od_buf_putc(out, ' ');
    od_buf_append(out, path, plen);
    od_buf_puts(out, " HTTP/1.1\r\nHost: ");
    od_buf_puts(out, w->run->target.hostport);
    od_buf_puts(out, "\r\n");
    if (lua_istable(L, h)) {
        lua_pushnil(L);
        while (lua_next(L, h)) {
            if (lua_type(L, -2) == LUA_TSTRING &&
                (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
                size_t klen, vlen;
                const char *k = lua_tolstring(L, -2, &klen);
                lua_pushvalue(L, -1); /* tolstring on a number would confuse lua_next */
                const char *v = lua_tolstring(L, -1, &vlen);
                if (strcasecmp(k, "host") != 0 && strcasecmp(k, "content-length") != 0 &&
                    strpbrk(k, ":\r\n") == NULL && strpbrk(v, "\r\n") == NULL) {
                    od_buf_append(out, k, klen);
                    od_buf_puts(out, ": ");
                    od_buf_append(out, v, vlen);
                    od_buf_puts(out, "\r\n");
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        od_buf_puts(out, "Content-Length: ");
        put_u64(out, blen);
        od_buf_puts(out, "\r\n");
    }
    od_buf_puts(out, "\r\n");
    if (body) od_buf_append(out, body, blen);
    lua_settop(L, base);
    return 0;
}

static void write_out(conn_t *c);
static void conn_fail(conn_t *c, int kind, uint64_t now);

/* Hands the request in w->scratch (or the static one) to c. */
static void assign(scen_t *s, conn_t *c, uint64_t intended, uint64_t seq, uint64_t now)
{
    worker_t *w = s->w;
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
    c->out_off = 0;
    c->busy = 1;
    s->busy++;
    c->intended = intended;
    c->seq = seq;
    c->sent_at = now;
    c->deadline = now + s->sc->timeout_ns;
    od_resp_reset(&c->resp);
    if (strncmp(c->out, "HEAD ", 5) == 0) c->resp.no_body = 1;
    od_buf_reset(&c->body);
    od_buf_reset(&c->head);
    uint64_t delay = now > intended ? now - intended : 0;
    od_hist_record(s->st.send_delay, delay / 1000 ? delay / 1000 : 1);
    s->st.c.sent++;
    tl_now(s, now)->sent++;
    if (delay >= OD_LATE_NS) s->st.c.late++;
    if (c->connected) write_out(c);
}

/*
 * Sends one request: builds it, then uses `c` if given (free and open), else an idle
 * connection, else a new one.  The caller has checked that one of these exists.
 */
static void dispatch(scen_t *s, conn_t *c, uint64_t intended, uint64_t seq, uint64_t now)
{
    worker_t *w = s->w;
    if (!w->static_req && build_lua_request(w, s, seq, intended) != 0) {
        if (c && c->fd >= 0 && !c->busy && s->phase != OD_PHASE_DONE) idle_push(s, c);
        return;
    }
    if (c == NULL || c->fd < 0 || c->busy)
        c = idle_pop(s);
    else
        idle_remove(s, c);
    if (c == NULL) {
        c = free_slot(s);
        OD_ASSERT(c != NULL);
        if (conn_open(s, c) != 0) { /* refused at once: this request failed to connect */
            s->st.c.sent++;
            tl_now(s, now)->sent++;
            count_error(s, OD_ERR_CONNECT, now);
            return;
        }
    }
    assign(s, c, intended, seq, now);
}

static int can_send(scen_t *s)
{
    return s->idle != NULL || s->nopen < s->maxconns;
}

/* Sends what waits in the backlog while connections are free; then parks c as idle. */
static void serve_backlog(scen_t *s, conn_t *c, uint64_t now)
{
    if (!s->serving) {
        s->serving = 1;
        while (s->bl_len > 0 && ((c && c->fd >= 0 && !c->busy) || can_send(s))) {
            pending_t p = s->bl[s->bl_head];
            s->bl_head = (s->bl_head + 1) % s->bl_cap;
            s->bl_len--;
            conn_t *use = (c && c->fd >= 0 && !c->busy) ? c : NULL;
            dispatch(s, use, p.intended, p.seq, now);
            if (use) c = NULL;
        }
        s->serving = 0;
    }
    if (c && c->fd >= 0 && !c->busy) idle_push(s, c);
}

/* A connection is free again (c, possibly closed) or was lost (c == NULL). */
static void next_work(scen_t *s, conn_t *c, uint64_t now, int may_reopen)
{
    if (s->closed_model) {
        if (s->phase != OD_PHASE_RUN) {
            if (c && c->fd >= 0) conn_close(c);
            return;
        }
        if (c && c->fd < 0 && !may_reopen) return; /* reopened by the next tick */
        if (c && c->fd < 0) c = NULL;
        if (c == NULL && !can_send(s)) return;
        uint64_t seq = s->closed_seq;
        s->closed_seq += (uint64_t)s->w->run->nthreads;
        s->st.c.scheduled++;
        dispatch(s, c, now, seq, now);
        return;
    }
    serve_backlog(s, c, now);
}

static void conn_fail(conn_t *c, int kind, uint64_t now)
{
    scen_t *s = c->s;
    if (c->busy) count_error(s, kind, now);
    conn_close(c);
    next_work(s, c, now, kind != OD_ERR_CONNECT);
}

static void write_out(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            return;
        } else {
            conn_fail(c, OD_ERR_WRITE, od_now_ns());
            return;
        }
    }
    set_events(c, EPOLLIN | EPOLLRDHUP);
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct hdr_arg {
    lua_State *L;
    int t;
} hdr_arg_t;

static void push_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    hdr_arg_t *a = arg;
    char lower[128];
    if (nlen >= sizeof(lower)) return;
    for (size_t i = 0; i < nlen; i++)
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    lua_pushlstring(a->L, lower, nlen);
    lua_pushlstring(a->L, value, vlen);
    lua_rawset(a->L, a->t);
}

/* Calls response(ctx, status, headers, body); returns 0 when it accepted the answer. */
static int call_response(worker_t *w, scen_t *s, conn_t *c)
{
    lua_State *L = w->L;
    int base = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->resp_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ctx_ref);
    lua_pushinteger(L, (lua_Integer)c->seq);
    lua_setfield(L, -2, "seq");
    lua_pushinteger(L, c->resp.status);
    lua_newtable(L);
    hdr_arg_t a = {L, lua_gettop(L)};
    od_resp_each_header(c->head.base ? c->head.base : "", c->head.len, push_header, &a);
    lua_pushlstring(L, c->body.base ? c->body.base : "", c->body.len);
    if (od_lua_pcall(L, 4, 1, &w->lerr) != 0) {
        note_script_error(w, s);
        lua_settop(L, base);
        return 0; /* counted as a script error, not as a rejected answer */
    }
    int rejected = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_settop(L, base);
    return rejected ? -1 : 0;
}

static void complete(conn_t *c, uint64_t now)
{
    scen_t *s = c->s;
    worker_t *w = s->w;
    uint64_t lat = now > c->intended ? (now - c->intended) / 1000 : 0;
    uint64_t svc = now > c->sent_at ? (now - c->sent_at) / 1000 : 0;
    od_hist_record(s->st.latency, lat ? lat : 1);
    od_hist_record(s->ival, lat ? lat : 1);
    od_hist_record(s->st.service, svc ? svc : 1);
    s->st.c.completed++;
    od_tl_point_t *p = tl_now(s, now);
    p->completed++;
    od_tl_record(p, lat ? lat : 1);
    int status = c->resp.status;
    s->st.c.status[status >= 100 && status < 600 ? status : 0]++;
    if (status >= 400)
        count_error(s, OD_ERR_STATUS, now);
    else if (w->resp_ref != LUA_NOREF && call_response(w, s, c) != 0)
        count_error(s, OD_ERR_STATUS, now);
    c->busy = 0;
    s->busy--;
    if (!c->resp.keep_alive) conn_close(c);
    next_work(s, c, now, 1);
}

static void on_readable(conn_t *c)
{
    scen_t *s = c->s;
    od_buf_t *body = s->w->resp_ref != LUA_NOREF ? &c->body : NULL;
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
            c->in = od_realloc(c->in, c->in_cap);
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        uint64_t now = od_now_ns();
        if (n <= 0) {
            if (!c->busy) {
                conn_close(c); /* the server closed an idle keep-alive connection */
                next_work(s, c, now, 1);
            } else if (n == 0 && od_resp_eof(&c->resp) == 0) {
                complete(c, now); /* closes c: the answer had no keep-alive */
            } else {
                conn_fail(c, OD_ERR_READ, now);
            }
            return;
        }
        if (!c->busy) { /* unasked-for bytes (e.g. a 408 before closing): drop the connection */
            conn_close(c);
            next_work(s, c, now, 1);
            return;
        }
        c->in_len += (size_t)n;
        int was_head = c->resp.state == OD_RESP_HEAD;
        ssize_t used = od_resp_feed(&c->resp, c->in, c->in_len, body);
        if (used < 0) {
            conn_fail(c, OD_ERR_READ, now);
            return;
        }
        if (was_head && c->resp.state != OD_RESP_HEAD && body)
            od_buf_append(&c->head, c->resp.head, c->resp.head_len);
        if ((size_t)used < c->in_len) memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        if (c->resp.state == OD_RESP_DONE) {
            c->in_len = 0; /* nothing may follow an answer we did not pipeline */
            complete(c, now);
            return;
        }
        if ((size_t)n < c->in_cap - c->in_len) return; /* read everything there was */
    }
}

static void on_event(conn_t *c, uint32_t ev)
{
    if (c->fd < 0) return;
    if (!c->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            conn_fail(c, OD_ERR_CONNECT, od_now_ns());
            return;
        }
        if (!(ev & EPOLLOUT)) return;
        c->connected = 1;
        if (c->busy)
            write_out(c);
        else
            set_events(c, EPOLLIN | EPOLLRDHUP);
        return;
    }
    if ((ev & EPOLLOUT) && c->busy && c->out_off < c->out_len) {
        write_out(c);
        if (c->fd < 0) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static void arrival(scen_t *s, uint64_t intended, uint64_t seq, uint64_t now)
{
    s->st.c.scheduled++;
    if (s->bl_len == 0 && can_send(s)) {
        dispatch(s, NULL, intended, seq, now);
    } else if (s->bl_len < s->bl_cap) {
        s->bl[(s->bl_head + s->bl_len) % s->bl_cap] = (pending_t){intended, seq};
        s->bl_len++;
    } else {
        s->st.c.dropped++;
    }
}

static void publish(worker_t *w)
{
    pthread_mutex_lock(&w->pub_lock);
    for (size_t i = 0; i < w->nscens; i++) {
        scen_t *s = &w->scens[i];
        s->pub_c = s->st.c;
        if (s->ival->total) {
            od_hist_merge(s->pub_ival, s->ival);
            od_hist_reset(s->ival);
        }
        s->pub_inflight = s->busy;
        s->pub_backlog = s->bl_len;
        s->pub_phase = s->phase;
    }
    pthread_mutex_unlock(&w->pub_lock);
}

static void finish(scen_t *s, uint64_t now)
{
    for (uint32_t i = 0; i < s->maxconns; i++) {
        conn_t *c = &s->conns[i];
        if (c->fd < 0) continue;
        if (c->busy) count_error(s, OD_ERR_TIMEOUT, now);
        conn_close(c);
    }
    s->st.c.dropped += s->bl_len;
    s->bl_len = 0;
    s->phase = OD_PHASE_DONE;
    s->done_at = now;
    publish(s->w);
    atomic_fetch_add(&s->w->run->done_count[s->index], 1);
}

/* Advances scenario s to `now`; returns when it next needs attention. */
static uint64_t scen_step(scen_t *s, uint64_t now)
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
                next_work(s, NULL, now, 1);
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
                conn_close(s->idle);
        }
        /* fall through */
    case OD_PHASE_DRAIN:
        if (stop && s->drain_deadline > now + STOP_GRACE_NS) s->drain_deadline = now + STOP_GRACE_NS;
        if ((s->busy == 0 && s->bl_len == 0) || now >= s->drain_deadline) {
            finish(s, now);
            return UINT64_MAX;
        }
        return s->drain_deadline;
    default:
        return UINT64_MAX;
    }
}

static void tick(worker_t *w, uint64_t now)
{
    for (size_t i = 0; i < w->nscens; i++) {
        scen_t *s = &w->scens[i];
        if (s->phase == OD_PHASE_WAIT || s->phase == OD_PHASE_DONE) continue;
        for (uint32_t j = 0; j < s->maxconns; j++) {
            conn_t *c = &s->conns[j];
            if (c->fd >= 0 && c->busy && now >= c->deadline) conn_fail(c, OD_ERR_TIMEOUT, now);
        }
        /* closed model: retry connections whose request failed to build, reopen what failed to
         * connect (bounded: each attempt may fail again at once) */
        if (s->closed_model && s->phase == OD_PHASE_RUN) {
            for (uint32_t n = s->nopen - s->busy; n > 0 && s->idle; n--)
                next_work(s, idle_pop(s), now, 1);
            for (uint32_t n = s->maxconns - s->nopen; n > 0; n--)
                next_work(s, NULL, now, 1);
        }
    }
    publish(w);
}

/* ---- worker thread ------------------------------------------------------------------------ */

/* Builds the worker's Lua state, as every worker does: run the file, keep its functions. */
static int worker_lua(worker_t *w)
{
    const od_scenario_set_t *set = w->run->set;
    w->req_ref = w->resp_ref = LUA_NOREF;
    od_request_kind_t kind = od_scenario_set_request_kind(set);
    if (kind != OD_REQ_FUNCTION && !od_scenario_set_has_response(set)) return 0;
    lua_State *L = w->L = od_lua_new();
    od_scenario_prepare_state(L, od_scenario_set_file(set));
    if (od_lua_dofile(L, od_scenario_set_file(set), 1, 0, &w->err) != 0) return -1;
    if (!lua_istable(L, -1)) {
        od_buf_printf(&w->err, "%s: the file no longer returns a table", od_scenario_set_file(set));
        return -1;
    }
    lua_getfield(L, -1, "request");
    if (kind == OD_REQ_FUNCTION && lua_isfunction(L, -1))
        w->req_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    lua_getfield(L, -1, "response");
    if (lua_isfunction(L, -1))
        w->resp_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    lua_pop(L, 1);
    for (size_t i = 0; i < w->nscens; i++) {
        lua_createtable(L, 0, 8);
        lua_pushstring(L, w->scens[i].sc->name);
        lua_setfield(L, -2, "scenario");
        lua_pushinteger(L, w->index);
        lua_setfield(L, -2, "thread");
        lua_pushinteger(L, w->run->nthreads);
        lua_setfield(L, -2, "threads");
        lua_pushstring(L, w->run->run_id);
        lua_setfield(L, -2, "run");
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "seq");
        w->scens[i].ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
}

static void build_static_request(worker_t *w)
{
    const od_scenario_set_t *set = w->run->set;
    od_request_kind_t kind = od_scenario_set_request_kind(set);
    if (kind == OD_REQ_FUNCTION) return;
    od_buf_t b = OD_BUF_INIT;
    if (kind == OD_REQ_NONE) {
        od_buf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", w->run->target.path,
                      w->run->target.hostport);
    } else {
        const char *method, *path, *headers, *body;
        size_t blen;
        od_scenario_set_static_request(set, &method, &path, &headers, &body, &blen);
        od_buf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n%s", method, path, w->run->target.hostport, headers);
        if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
            od_buf_printf(&b, "Content-Length: %zu\r\n", blen);
        od_buf_puts(&b, "\r\n");
        if (body) od_buf_append(&b, body, blen);
    }
    w->static_req = od_buf_detach(&b, &w->static_len);
}

static void arm(worker_t *w, uint64_t at)
{
    if (w->armed == at) return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)}};
    timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    w->armed = at;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    od_load_run_t *run = w->run;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* wake at arrival instants, not up to 50 µs later */
    int ok = worker_lua(w) == 0;
    if (ok) build_static_request(w);

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
        scen_t *s = &w->scens[i];
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
    w->next_tick = t0;
    for (;;) {
        uint64_t now = od_now_ns();
        uint64_t next = UINT64_MAX;
        int active = 0;
        for (size_t i = 0; i < w->nscens; i++) {
            uint64_t t = scen_step(&w->scens[i], now);
            if (t < next) next = t;
            active += w->scens[i].phase != OD_PHASE_DONE;
        }
        if (now >= w->next_tick) {
            tick(w, now);
            w->next_tick = now + TICK_NS;
        }
        if (!active) break;
        if (w->next_tick < next) next = w->next_tick;
        int n;
        if (next <= now) {
            n = epoll_wait(w->epfd, ev, (int)OD_ARRAY_SIZE(ev), 0);
        } else if (have_pwait2) {
            /* a nanosecond timeout: no timer to arm and read back per arrival */
            uint64_t d = next - now;
            struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u), .tv_nsec = (long)(d % 1000000000u)};
            n = epoll_pwait2(w->epfd, ev, (int)OD_ARRAY_SIZE(ev), &ts, NULL);
            if (n < 0 && errno == ENOSYS) {
                have_pwait2 = 0;
                continue;
            }
        } else {
            arm(w, next);
            n = epoll_wait(w->epfd, ev, (int)OD_ARRAY_SIZE(ev), -1);
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL) {
                uint64_t expirations;
                if (read(w->tfd, &expirations, sizeof(expirations)) < 0) { /* spurious: nothing to do */
                }
                w->armed = 0;
            } else {
                on_event(ev[i].data.ptr, ev[i].events);
            }
        }
    }
    publish(w);
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

static void scen_init(worker_t *w, scen_t *s, const od_scenario_t *sc, size_t index)
{
    od_load_run_t *run = w->run;
    s->sc = sc;
    s->w = w;
    s->index = index;
    s->phase = OD_PHASE_WAIT;
    s->closed_model = sc->executor == OD_EXEC_CONSTANT_CONCURRENCY;
    s->ctx_ref = LUA_NOREF;
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
    s->conns = od_calloc(s->maxconns ? s->maxconns : 1, sizeof(*s->conns));
    for (uint32_t i = 0; i < s->maxconns; i++) {
        s->conns[i].fd = -1;
        s->conns[i].s = s;
    }
    od_load_stats_init(&s->st);
    /* the run, its drain (timeout) and the stop grace: answers later than that are not kept */
    s->st.timeline = od_load_timeline_create(sc->duration_ns + sc->timeout_ns + STOP_GRACE_NS);
    s->ival = od_hist_create();
    s->pub_ival = od_hist_create();
}

static void scen_dispose(scen_t *s)
{
    for (uint32_t i = 0; i < s->maxconns; i++) {
        conn_t *c = &s->conns[i];
        if (c->fd >= 0) close(c->fd);
        od_buf_dispose(&c->obuf);
        od_buf_dispose(&c->head);
        od_buf_dispose(&c->body);
        free(c->in);
    }
    free(s->conns);
    free(s->bl);
    od_load_stats_dispose(&s->st);
    od_hist_destroy(s->ival);
    od_hist_destroy(s->pub_ival);
}

od_load_run_t *od_load_run_create(const od_scenario_set_t *set, const od_url_t *target, int threads,
                                  const char *run_id, od_buf_t *err)
{
    od_load_run_t *r = od_calloc(1, sizeof(*r));
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
        worker_t *w = &r->workers[i];
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

void od_load_run_snapshot(od_load_run_t *r, size_t i, od_load_snapshot_t *snap, od_hist_t *interval)
{
    memset(snap, 0, sizeof(*snap));
    snap->phase = OD_PHASE_DONE;
    for (int t = 0; t < r->nthreads; t++) {
        worker_t *w = &r->workers[t];
        scen_t *s = &w->scens[i];
        pthread_mutex_lock(&w->pub_lock);
        od_load_counts_add(&snap->c, &s->pub_c);
        snap->inflight += s->pub_inflight;
        snap->backlog += s->pub_backlog;
        if (s->pub_phase < snap->phase) snap->phase = s->pub_phase;
        if (interval && s->pub_ival->total) {
            od_hist_merge(interval, s->pub_ival);
            od_hist_reset(s->pub_ival);
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
        scen_t *s = &r->workers[t].scens[i];
        if (out->timeline == NULL && s->st.timeline != NULL)
            out->timeline = od_load_timeline_create(s->sc->duration_ns + s->sc->timeout_ns + STOP_GRACE_NS);
        od_load_stats_merge(out, &s->st);
        if (s->done_at > s->start && s->done_at - s->start > longest) longest = s->done_at - s->start;
    }
    *elapsed_s = (double)longest / 1e9;
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
        worker_t *w = &r->workers[i];
        for (size_t j = 0; j < w->nscens; j++)
            scen_dispose(&w->scens[j]);
        free(w->scens);
        if (w->L) lua_close(w->L);
        close(w->epfd);
        close(w->tfd);
        od_buf_dispose(&w->err);
        od_buf_dispose(&w->lerr);
        od_buf_dispose(&w->scratch);
        free(w->script_error);
        free(w->static_req);
        pthread_mutex_destroy(&w->pub_lock);
    }
    free(r->workers);
    free(r->done_count);
    free(r->run_id);
    pthread_mutex_destroy(&r->gate_lock);
    pthread_cond_destroy(&r->gate_cond);
    free(r);
}
