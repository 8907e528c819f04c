/*
 * worker — the engine's insides, shared by engine.c (threads and the run), conn.c (sockets)
 * and arrivals.c (the scenarios over time); not for use outside them (engine.h is the
 * interface).  A worker's Lua is its od_script_t (script.h), the one place that touches its
 * lua_State.
 *
 * A scenario with follow = true also polls each accepted order (follow.c) on connections of
 * its own, which reach the loop tagged (OD_FOLLOW_TAG).
 *
 * The flow within a worker runs one way per event: engine.c's loop -> od_scen_step
 * (arrivals due) or od_conn_event (a socket) -> od_scen_complete / od_scen_conn_failed ->
 * od_scen_next_work, which hands the next request to a connection (od_conn_write).
 *
 * A worker is one thread with its own epoll loop; every object here belongs to that thread,
 * except the pub_* fields of a scenario (written under the worker's pub_lock, read by the
 * main thread) and the run's gate, stop flag and counters (see od_load_run).
 * Ownership: a worker owns its scenarios, their connection slots and buffers, its script
 * and its strings (static_req is the script's); the run owns its workers.
 */
#ifndef OD_LOAD_WORKER_H
#define OD_LOAD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "load/engine.h"
#include "load/script.h"

#define TICK_NS 50000000ull /* timeouts checked and snapshots published this often */
#define STOP_GRACE_NS 1000000000ull
#define OD_LATE_RING 256 /* wake-ups remembered to size the spin window: about 1-2 s at 100/s */

typedef struct scen od_scen_t;
typedef struct worker od_worker_t;

/* A request sent on a connection and not answered yet.  HTTP/1.1 answers in order, so a
 * connection's are a FIFO (od_conn_t.q): more than one only when the scenario pipelines. */
typedef struct sent {
    uint64_t intended, seq, sent_at, deadline;
    int no_body; /* a HEAD: its answer has no body */
} od_sent_t;

typedef struct conn {
    int fd;
    int connected;
    uint32_t busy; /* requests sent and not answered yet: q[q_head], the oldest, on (ring of s->depth) */
    uint32_t events;
    od_scen_t *s;
    struct conn *prev_idle, *next_idle;
    int in_idle;
    od_sent_t *q;
    uint32_t q_head;
    const char *out; /* what is to be written: obuf's bytes or the worker's static request */
    size_t out_len, out_off;
    od_buf_t obuf;
    char *in;
    size_t in_len, in_cap;
    od_resp_t resp;      /* the oldest request's answer, as it is read */
    od_buf_t head, body; /* kept only when the script has response() */
    char loc[256];       /* follow: the 202's Location path (loc_len 0: none usable) */
    size_t loc_len;
} od_conn_t;

typedef struct pending {
    uint64_t intended, seq;
} od_pending_t;

struct scen {
    const od_scenario_t *sc;
    od_worker_t *w;
    size_t index;
    int phase, closed_model;
    uint64_t start, end, drain_deadline, done_at;
    uint64_t k, narrivals, next_due, closed_seq;
    od_conn_t *conns;
    uint32_t maxconns, nopen;
    uint32_t busy;  /* requests in flight, over all its connections */
    uint32_t depth; /* the most in flight on one connection: its `pipeline` (1: none) */
    od_conn_t *idle;
    od_pending_t *bl;
    uint32_t bl_cap, bl_head, bl_len;
    int serving;
    od_load_stats_t st;
    od_hist_t *ival;
    struct follow *follow; /* follow.c's, when the scenario follows its orders; else NULL */
    od_hist_t *cival;      /* completion latencies since the last publish (follow only) */
    /* published under worker->pub_lock */
    od_load_counts_t pub_c;
    od_hist_t *pub_ival, *pub_cival;
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
    od_script_t *script; /* built on the worker's thread; NULL until then */
    od_scen_t *scens;
    size_t nscens;
    od_buf_t err;           /* load errors */
    od_buf_t lerr;          /* scratch for runtime Lua errors */
    char *script_error;     /* the first runtime script error */
    od_buf_t scratch;       /* a request being built */
    const char *static_req; /* the script's, when it has one */
    size_t static_len;
    int wants_response;               /* the script has response(): keep heads and bodies */
    uint64_t last_sent;               /* when the latest request was handed to a connection */
    int schedstat_fd;                 /* this thread's /proc/thread-self/schedstat, or -1 */
    uint64_t runq_last, spin_back_at; /* see engine.c's spin_window */
    uint32_t late_us[OD_LATE_RING];   /* how late the latest timed sleeps woke (engine.c's adapt) */
    uint32_t late_n, late_i;
    uint64_t window_ns;           /* the spin window in use: adapted to late_us, at most run->spin_ns */
    uint64_t cur_instant, gap_ns; /* the latest instant to keep, and how far after the one before */
    od_load_cpu_t cpu;            /* where the loop's time went (busiest unused): read after join */
    pthread_mutex_t pub_lock;
};

struct od_load_run {
    const od_scenario_set_t *set;
    od_url_t target;
    int nthreads;
    uint64_t spin_ns;
    char *run_id;
    od_worker_t *workers;
    pthread_mutex_t gate_lock;
    pthread_cond_t gate_cond;
    int nready, go, abort;
    uint64_t t0;
    atomic_int stop;
    atomic_int *done_count;
    atomic_int nfinished;
};

/* ---- connections (conn.c) ------------------------------------------------------------------ */

/** the oldest request c awaits an answer to (c->busy > 0) */
static inline od_sent_t *od_conn_oldest(od_conn_t *c)
{
    return &c->q[c->q_head];
}

void od_conn_idle_push(od_scen_t *s, od_conn_t *c);
void od_conn_idle_remove(od_scen_t *s, od_conn_t *c);
/** returns the most recently used idle connection, taken off the list, or NULL */
od_conn_t *od_conn_idle_pop(od_scen_t *s);
/** closes c's socket (it leaves the epoll set); requests in flight are forgotten, not counted here */
void od_conn_close(od_conn_t *c);
/** opens slot c's connection @return 0 (connected or in progress), or -1 (failed now) */
int od_conn_open(od_scen_t *s, od_conn_t *c);
/** a non-blocking TCP_NODELAY socket connecting to u; *connected says whether it already is
 *  (else the connect is in progress: wait for EPOLLOUT); @return the fd, or -1 (errno) */
int od_conn_dial(const od_url_t *u, int *connected);
/** reads what fd has into *in after its first len bytes, growing the buffer (*cap bytes) to
 *  keep 4 KiB free; EINTR is retried @return read(2)'s result (-1 with EAGAIN: nothing yet) */
ssize_t od_conn_read(int fd, char **in, size_t len, size_t *cap);
/** returns a closed slot when the scenario may open one more connection, or NULL */
od_conn_t *od_conn_free_slot(od_scen_t *s);
/** writes what is left of c's request; waits for EPOLLOUT when the socket is full */
void od_conn_write(od_conn_t *c);
/** handles epoll events ev on c: connect completion, writing, reading the answer */
void od_conn_event(od_conn_t *c, uint32_t ev);

/* ---- the scenarios over time (arrivals.c) ----------------------------------------------- */

/** counts an error of `kind` in the totals and in the second it happened in */
void od_scen_count_error(od_scen_t *s, int kind, uint64_t now);
/** counts the script error in w->lerr and keeps the first one */
void od_scen_script_error(od_worker_t *w, od_scen_t *s);
/** c failed (kind: OD_ERR_*): counts each request in flight on it, closes c and gives its slot
 *  new work */
void od_scen_conn_failed(od_conn_t *c, int kind, uint64_t now);
/** the answer to c's oldest request is complete: records it, calls response(), gives c its
 *  next request (or, when the answer closes c, the requests pipelined behind it go back to the
 *  backlog: a server that says close does not process them) */
void od_scen_complete(od_conn_t *c, uint64_t now);
/** a connection is free again (c, possibly closed) or was lost (c == NULL) */
void od_scen_next_work(od_scen_t *s, od_conn_t *c, uint64_t now, int may_reopen);
/** advances scenario s to `now`; returns when it next needs attention */
uint64_t od_scen_step(od_scen_t *s, uint64_t now);
/** times out overdue requests, retries closed-model connections, publishes */
void od_worker_tick(od_worker_t *w, uint64_t now);
/** copies every scenario's counts for the main thread, under w->pub_lock */
void od_worker_publish(od_worker_t *w);

/* ---- following accepted orders (follow.c: its policy is described there) ---------------- */

/* epoll data of a poll connection: its address with this bit set (od_conn_t's have it clear) */
#define OD_FOLLOW_TAG 1u

struct follow *od_follow_create(od_scen_t *s);
void od_follow_destroy(struct follow *f);
/** after c's head is parsed: keeps a 202's Location path in c->loc (loc_len 0: none usable) */
void od_follow_location(od_conn_t *c);
/** starts following the order at loc (len 0: lost), its 202 received at `now` */
void od_follow_add(od_scen_t *s, const char *loc, size_t len, uint64_t now);
/** sends the polls due; returns when the next one is due (UINT64_MAX: none, or it waits for a
 *  connection to answer) */
uint64_t od_follow_step(od_scen_t *s, uint64_t now);
/** the orders still followed (0 when the scenario does not follow) */
size_t od_follow_pending(const od_scen_t *s);
/** handles epoll events on a poll connection (the epoll data without OD_FOLLOW_TAG) */
void od_follow_event(void *poll, uint32_t ev);
/** fails the polls past their timeout (each order is polled again later) */
void od_follow_tick(od_scen_t *s, uint64_t now);
/** the scenario ends: orders not seen finished count as lost; the connections close */
void od_follow_finish(od_scen_t *s);

#endif
