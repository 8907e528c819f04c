/*
 * trace — per-thread event buffers and the Chrome Trace Event JSON writer.  See trace.h for
 * the contract.
 *
 * Storage: tbufs[slot] belongs to the registered thread in that registry slot (a slot has
 * one owner at a time, handed over through the registry's lock); shared_buf serves threads
 * without a slot, under shared_lock.  A buffer is a list of chunks of CHUNK_EVENTS fixed-size
 * events; chunks are malloc'd on demand while the whole trace stays under total_chunks
 * (MAX_CHUNKS unless od_trace_set_limits lowered it).
 *
 * Life cycle, guarded by `running` (0 idle, 1 recording, 2 stopping):
 *   start: CAS 0->1, reset every buffer (no writer touches one while od_trace_on is 0),
 *          then publish od_trace_on = 1.
 *   write: busy = 1; if od_trace_on is still 1, append; busy = 0 (release).
 *   stop:  CAS 1->2, od_trace_on = 0, wait until no busy flag is set (and pass through
 *          shared_lock), then read, write JSON, free, running = 0.
 * The busy store / flag load in the writer and the flag store / busy load in stop are all
 * sequentially consistent, so at least one side sees the other: a writer either finishes
 * before stop reads or sees the flag off and leaves.
 */
#include "prof/trace.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof/threads.h"

volatile int od_trace_on;

enum { EV_SPAN = 1, EV_LOCK, EV_INSTANT, EV_FLOW_S, EV_FLOW_F, EV_THREAD };

#define EV_SIZE 128
#define EV_TEXT (EV_SIZE - 38)

typedef struct ev {
    uint64_t ts, dur; /* od_now_ns clock */
    uint64_t id;      /* flow id */
    const char *name; /* static (spans, lock waits: the mutex name) */
    int32_t tid;
    uint8_t type;
    uint8_t detail;     /* instants: offset of the detail in text, 0 = none */
    char text[EV_TEXT]; /* order id, instant name (+ detail), or thread name */
} ev_t;
_Static_assert(sizeof(ev_t) == EV_SIZE, "trace events are 128 bytes");
_Static_assert(EV_TEXT > OD_TRACE_TEXT_MAX, "order ids fit");

#define CHUNK_EVENTS 4096
#define THREAD_CHUNKS (OD_TRACE_MAX_THREAD_EVENTS / CHUNK_EVENTS)
#define SHARED_CHUNKS (OD_TRACE_MAX_SHARED_EVENTS / CHUNK_EVENTS)
#define MAX_CHUNKS (OD_TRACE_MAX_BYTES / (CHUNK_EVENTS * EV_SIZE))

typedef struct tbuf {
    int busy;     /* atomic: a writer is inside a recording call */
    int last_tid; /* the thread whose name was last recorded here */
    uint32_t n;   /* events stored */
    uint32_t max_chunks;
    uint64_t dropped;
    ev_t *chunks[THREAD_CHUNKS];
} __attribute__((aligned(64))) tbuf_t;

static tbuf_t tbufs[OD_THREADS_MAX];
static tbuf_t shared_buf;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER; /* guards shared_buf */
static int running;                                             /* atomic: 0 idle, 1 recording, 2 stopping */
static uint32_t chunks_used;                                    /* atomic: chunks allocated by this trace */
static uint64_t t0_ns, t0_wall_ns;
/* limits in chunks: set_* by od_trace_set_limits (atomic), copied at start */
static uint32_t set_thread_chunks = THREAD_CHUNKS, set_total_chunks = MAX_CHUNKS;
static uint32_t thread_chunks, total_chunks;

static __thread int my_tid;

static int thread_tid(void)
{
    if (my_tid == 0) my_tid = (int)syscall(SYS_gettid);
    return my_tid;
}

/* copies s into dst (cap bytes with the NUL), cut on a UTF-8 boundary; returns the length */
static size_t copy_text(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap);
    if (n == cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return n;
}

/* --- recording --------------------------------------------------------------------------- */

static tbuf_t *enter(void)
{
    int slot = od_thread_slot();
    if (slot < 0) {
        pthread_mutex_lock(&shared_lock);
        if (__atomic_load_n(&od_trace_on, __ATOMIC_SEQ_CST)) return &shared_buf;
        pthread_mutex_unlock(&shared_lock);
        return NULL;
    }
    tbuf_t *tb = &tbufs[slot];
    __atomic_store_n(&tb->busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&od_trace_on, __ATOMIC_SEQ_CST)) return tb;
    __atomic_store_n(&tb->busy, 0, __ATOMIC_RELEASE);
    return NULL;
}

static void leave(tbuf_t *tb)
{
    if (tb == &shared_buf)
        pthread_mutex_unlock(&shared_lock);
    else
        __atomic_store_n(&tb->busy, 0, __ATOMIC_RELEASE);
}

static ev_t *ev_new(tbuf_t *tb)
{
    uint32_t c = tb->n / CHUNK_EVENTS;
    if (c >= tb->max_chunks) goto Drop;
    if (tb->chunks[c] == NULL) {
        if (__atomic_add_fetch(&chunks_used, 1, __ATOMIC_RELAXED) > total_chunks) {
            __atomic_sub_fetch(&chunks_used, 1, __ATOMIC_RELAXED);
            goto Drop;
        }
        if ((tb->chunks[c] = malloc(CHUNK_EVENTS * sizeof(ev_t))) == NULL) {
            __atomic_sub_fetch(&chunks_used, 1, __ATOMIC_RELAXED);
            goto Drop;
        }
    }
    return &tb->chunks[c][tb->n++ % CHUNK_EVENTS];
Drop:
    tb->dropped++;
    return NULL;
}

/* a new event of `type` from the calling thread; NULL if dropped */
static ev_t *ev_record(tbuf_t *tb, int type)
{
    int tid = thread_tid();
    if (tb != &shared_buf && tb->last_tid != tid) { /* first event of this thread here */
        ev_t *t = ev_new(tb);
        if (t == NULL) return NULL;
        memset(t, 0, offsetof(ev_t, text));
        t->type = EV_THREAD;
        t->tid = tid;
        copy_text(t->text, sizeof(t->text), od_thread_name());
        tb->last_tid = tid;
    }
    ev_t *e = ev_new(tb);
    if (e == NULL) return NULL;
    memset(e, 0, offsetof(ev_t, text));
    e->type = (uint8_t)type;
    e->tid = tid;
    e->text[0] = '\0';
    return e;
}

static void record_span(int type, const char *name, const char *order_id, uint64_t start_ns, uint64_t end_ns)
{
    tbuf_t *tb = enter();
    if (tb == NULL) return;
    ev_t *e = ev_record(tb, type);
    if (e != NULL) {
        e->name = name;
        e->ts = start_ns;
        e->dur = end_ns > start_ns ? end_ns - start_ns : 0;
        if (order_id != NULL) copy_text(e->text, OD_TRACE_TEXT_MAX + 1, order_id);
    }
    leave(tb);
}

void od_trace_span(const char *name, const char *order_id, uint64_t start_ns, uint64_t end_ns)
{
    if (!od_trace_active()) return;
    record_span(EV_SPAN, name, order_id, start_ns, end_ns);
}

void od_trace_lock_wait(const char *mutex_name, uint64_t start_ns, uint64_t end_ns)
{
    if (!od_trace_active()) return;
    record_span(EV_LOCK, mutex_name, NULL, start_ns, end_ns);
}

void od_trace_instant(const char *name, const char *detail)
{
    if (!od_trace_active()) return;
    uint64_t now = od_now_ns();
    tbuf_t *tb = enter();
    if (tb == NULL) return;
    ev_t *e = ev_record(tb, EV_INSTANT);
    if (e != NULL) {
        e->ts = now;
        size_t n = copy_text(e->text, EV_TEXT / 2, name);
        if (detail != NULL) {
            e->detail = (uint8_t)(n + 1);
            copy_text(e->text + n + 1, sizeof(e->text) - n - 1, detail);
        }
    }
    leave(tb);
}

static void record_flow(int type, uint64_t flow_id, const char *order_id)
{
    uint64_t now = od_now_ns();
    tbuf_t *tb = enter();
    if (tb == NULL) return;
    ev_t *e = ev_record(tb, type);
    if (e != NULL) {
        e->ts = now;
        e->id = flow_id & ((UINT64_C(1) << 53) - 1);
        if (order_id != NULL) copy_text(e->text, OD_TRACE_TEXT_MAX + 1, order_id);
    }
    leave(tb);
}

void od_trace_flow_begin(uint64_t flow_id, const char *order_id)
{
    if (!od_trace_active()) return;
    record_flow(EV_FLOW_S, flow_id, order_id);
}

void od_trace_flow_end(uint64_t flow_id, const char *order_id)
{
    if (!od_trace_active()) return;
    record_flow(EV_FLOW_F, flow_id, order_id);
}

/* --- start / stop ------------------------------------------------------------------------ */

static void buffers_reset(void)
{
    for (int i = 0; i <= OD_THREADS_MAX; i++) {
        tbuf_t *tb = i < OD_THREADS_MAX ? &tbufs[i] : &shared_buf;
        for (int c = 0; c < THREAD_CHUNKS; c++) {
            free(tb->chunks[c]);
            tb->chunks[c] = NULL;
        }
        tb->n = 0;
        tb->dropped = 0;
        tb->last_tid = 0;
        tb->max_chunks = i < OD_THREADS_MAX              ? thread_chunks
                         : thread_chunks < SHARED_CHUNKS ? thread_chunks
                                                         : SHARED_CHUNKS;
    }
    __atomic_store_n(&chunks_used, 0, __ATOMIC_RELAXED);
}

void od_trace_set_limits(uint32_t max_thread_events, uint64_t max_bytes)
{
    uint64_t tc = max_thread_events ? (max_thread_events + CHUNK_EVENTS - 1) / CHUNK_EVENTS : THREAD_CHUNKS;
    uint64_t mc = max_bytes ? max_bytes / (CHUNK_EVENTS * EV_SIZE) : MAX_CHUNKS;
    tc = tc < 1 ? 1 : tc > THREAD_CHUNKS ? THREAD_CHUNKS : tc;
    mc = mc < 1 ? 1 : mc > MAX_CHUNKS ? MAX_CHUNKS : mc;
    __atomic_store_n(&set_thread_chunks, (uint32_t)tc, __ATOMIC_RELAXED);
    __atomic_store_n(&set_total_chunks, (uint32_t)mc, __ATOMIC_RELAXED);
}

int od_trace_start(void)
{
    int idle = 0;
    if (!__atomic_compare_exchange_n(&running, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return -1;
    thread_chunks = __atomic_load_n(&set_thread_chunks, __ATOMIC_RELAXED);
    total_chunks = __atomic_load_n(&set_total_chunks, __ATOMIC_RELAXED);
    buffers_reset();
    t0_ns = od_now_ns();
    t0_wall_ns = od_wall_ns();
    __atomic_store_n(&od_trace_on, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int od_trace_running(void)
{
    return __atomic_load_n(&running, __ATOMIC_ACQUIRE) != 0;
}

/* --- writing ----------------------------------------------------------------------------- */

typedef struct tname {
    int tid;
    char name[40];
} tname_t;

typedef struct writer {
    od_buf_t *out;
    int pid;
    int first;         /* no event written yet (no comma needed) */
    uint64_t recorded; /* events written, metadata aside */
    tname_t *names;    /* known thread names */
    size_t nnames, cnames;
} writer_t;

static void add_name(writer_t *w, int tid, const char *name)
{
    for (size_t i = 0; i < w->nnames; i++)
        if (w->names[i].tid == tid) return;
    if (w->nnames == w->cnames) {
        w->cnames = w->cnames ? 2 * w->cnames : 64;
        w->names = od_realloc(w->names, w->cnames * sizeof(*w->names));
    }
    w->names[w->nnames].tid = tid;
    copy_text(w->names[w->nnames].name, sizeof(w->names[0].name), name);
    w->nnames++;
}

static void add_registered(int slot, const char *name, int tid, void *arg)
{
    (void)slot;
    add_name(arg, tid, name);
}

/* opens an event object: {"ph":"P","pid":..,"tid":..  (the caller adds fields and '}') */
static void ev_open(writer_t *w, char ph, int tid)
{
    od_buf_printf(w->out, "%s\n{\"ph\":\"%c\",\"pid\":%d,\"tid\":%d", w->first ? "" : ",", ph, w->pid, tid);
    w->first = 0;
}

/* ,"key":12.345 with ns since the trace start written as microseconds */
static void put_us(od_buf_t *b, const char *key, uint64_t ns)
{
    od_buf_printf(b, ",\"%s\":%" PRIu64 ".%03u", key, ns / 1000, (unsigned)(ns % 1000));
}

static void put_str(od_buf_t *b, const char *key, const char *s)
{
    od_buf_printf(b, ",\"%s\":", key);
    od_buf_json_str(b, s);
}

static void put_order_args(od_buf_t *b, const char *order_id)
{
    if (order_id[0] == '\0') return;
    od_buf_puts(b, ",\"args\":{\"order_id\":");
    od_buf_json_str(b, order_id);
    od_buf_putc(b, '}');
}

static int cmp_tid_ts(const void *a, const void *b)
{
    const ev_t *x = *(const ev_t *const *)a, *y = *(const ev_t *const *)b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

typedef struct span {
    uint64_t s, e;
} span_t;

static int cmp_span(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->e > y->e ? -1 : x->e < y->e; /* the outer (longer) first */
}

/* a span clipped to the trace start; 0 if it ended before */
static int clip(const ev_t *e, uint64_t *s, uint64_t *d)
{
    uint64_t end = e->ts + e->dur;
    if (end < t0_ns) return 0;
    *s = e->ts < t0_ns ? t0_ns : e->ts;
    *d = end - *s;
    return 1;
}

#define FLOW_SLICE_NS 1000 /* the "enqueue"/"dequeue" slice around a flow event */
#define MARGIN_NS 3        /* kept from other slices' edges (viewers may round ns) */

/*
 * writes the flow events of one thread (evs[0..n), sorted by time): each inside its own
 * small slice, fitted between the thread's spans so that nesting stays proper (Perfetto
 * binds a flow event to the innermost slice open at its time).
 */
static void write_flows(writer_t *w, ev_t **evs, size_t n)
{
    size_t nspans = 0, nflows = 0;
    for (size_t i = 0; i < n; i++) {
        nspans += evs[i]->type == EV_SPAN || evs[i]->type == EV_LOCK;
        nflows += evs[i]->type == EV_FLOW_S || evs[i]->type == EV_FLOW_F;
    }
    if (nflows == 0) return;
    span_t *spans = od_malloc((nspans + 1) * sizeof(*spans));
    uint64_t *open = od_malloc((nspans + 1) * sizeof(*open)); /* ends of enclosing spans */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s, d;
        if ((evs[i]->type == EV_SPAN || evs[i]->type == EV_LOCK) && clip(evs[i], &s, &d))
            spans[k++] = (span_t){s, s + d};
    }
    nspans = k;
    qsort(spans, nspans, sizeof(*spans), cmp_span);

    size_t next = 0, depth = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        const ev_t *e = evs[i];
        if (e->type != EV_FLOW_S && e->type != EV_FLOW_F) continue;
        uint64_t t = e->ts < t0_ns ? t0_ns : e->ts;
        if (prev_end != 0 && t < prev_end + MARGIN_NS) t = prev_end + MARGIN_NS;
        while (next < nspans && spans[next].s <= t) {
            while (depth > 0 && open[depth - 1] <= spans[next].s)
                depth--;
            open[depth++] = spans[next++].e;
        }
        while (depth > 0 && open[depth - 1] <= t)
            depth--;
        uint64_t hi = t + FLOW_SLICE_NS;
        if (depth > 0 && open[depth - 1] < hi) hi = open[depth - 1];
        if (next < nspans && spans[next].s < hi) hi = spans[next].s;
        uint64_t at = t;
        if (hi >= t + 3 * MARGIN_NS + 4) {
            uint64_t s = t + MARGIN_NS, end = hi - MARGIN_NS;
            ev_open(w, 'X', e->tid);
            od_buf_printf(w->out, ",\"cat\":\"order\",\"name\":\"%s\"",
                          e->type == EV_FLOW_S ? "enqueue" : "dequeue");
            put_us(w->out, "ts", s - t0_ns);
            put_us(w->out, "dur", end - s);
            put_order_args(w->out, e->text);
            od_buf_putc(w->out, '}');
            at = s + (end - s) / 2;
            prev_end = end;
        } else {
            prev_end = t; /* no room: bind to whatever encloses t */
        }
        ev_open(w, e->type == EV_FLOW_S ? 's' : 'f', e->tid);
        od_buf_printf(w->out, ",\"cat\":\"order\",\"name\":\"order\",\"id\":%" PRIu64 ",\"bp\":\"e\"", e->id);
        put_us(w->out, "ts", at - t0_ns);
        od_buf_putc(w->out, '}');
        w->recorded++;
    }
    free(open);
    free(spans);
}

static void write_event(writer_t *w, const ev_t *e)
{
    od_buf_t *b = w->out;
    uint64_t s, d;
    switch (e->type) {
    case EV_SPAN:
    case EV_LOCK:
        if (!clip(e, &s, &d)) return;
        ev_open(w, 'X', e->tid);
        if (e->type == EV_SPAN) {
            od_buf_puts(b, ",\"cat\":\"stage\"");
            put_str(b, "name", e->name ? e->name : "span");
        } else {
            char name[96];
            snprintf(name, sizeof(name), "lock wait: %s", e->name ? e->name : "mutex");
            od_buf_puts(b, ",\"cat\":\"lock\"");
            put_str(b, "name", name);
        }
        put_us(b, "ts", s - t0_ns);
        put_us(b, "dur", d);
        put_order_args(b, e->text);
        od_buf_putc(b, '}');
        break;
    case EV_INSTANT:
        ev_open(w, 'i', e->tid);
        od_buf_puts(b, ",\"s\":\"g\",\"cat\":\"mark\"");
        put_str(b, "name", e->text);
        put_us(b, "ts", e->ts < t0_ns ? 0 : e->ts - t0_ns);
        if (e->detail) {
            od_buf_puts(b, ",\"args\":{\"detail\":");
            od_buf_json_str(b, e->text + e->detail);
            od_buf_putc(b, '}');
        }
        od_buf_putc(b, '}');
        break;
    default:
        return; /* flows: write_flows; thread names: metadata */
    }
    w->recorded++;
}

static void write_buffer(writer_t *w, tbuf_t *tb)
{
    if (tb->n == 0) return;
    ev_t **evs = od_malloc(tb->n * sizeof(*evs));
    for (uint32_t i = 0; i < tb->n; i++)
        evs[i] = &tb->chunks[i / CHUNK_EVENTS][i % CHUNK_EVENTS];
    qsort(evs, tb->n, sizeof(*evs), cmp_tid_ts);
    for (uint32_t a = 0, b; a < tb->n; a = b) {
        for (b = a; b < tb->n && evs[b]->tid == evs[a]->tid; b++)
            write_event(w, evs[b]);
        write_flows(w, evs + a, b - a);
    }
    free(evs);
}

/* names for threads without a registry slot: the kernel's, if the thread still runs */
static void name_unregistered(writer_t *w, int tid)
{
    for (size_t i = 0; i < w->nnames; i++)
        if (w->names[i].tid == tid) return;
    char path[64], name[40] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(name, sizeof(name), f) != NULL) name[strcspn(name, "\n")] = '\0';
        fclose(f);
    }
    if (name[0] == '\0') snprintf(name, sizeof(name), "thread %d", tid);
    add_name(w, tid, name);
}

static void write_empty(od_buf_t *out, const char *error)
{
    od_buf_puts(out, "{\"traceEvents\":[],\"displayTimeUnit\":\"ms\",\"otherData\":{\"error\":");
    od_buf_json_str(out, error);
    od_buf_puts(out, "}}\n");
}

void od_trace_stop(od_buf_t *out)
{
    int rec = 1;
    if (!__atomic_compare_exchange_n(&running, &rec, 2, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        write_empty(out, rec == 0 ? "no trace running" : "the trace is being stopped already");
        return;
    }
    __atomic_store_n(&od_trace_on, 0, __ATOMIC_SEQ_CST);
    uint64_t t1_ns = od_now_ns();
    for (int i = 0; i < OD_THREADS_MAX; i++)
        while (__atomic_load_n(&tbufs[i].busy, __ATOMIC_SEQ_CST))
            sched_yield();
    pthread_mutex_lock(&shared_lock); /* writers of the shared buffer are done */
    pthread_mutex_unlock(&shared_lock);

    writer_t w = {.out = out, .pid = (int)getpid(), .first = 1};
    uint64_t dropped = 0, stored = 0;
    for (int i = 0; i <= OD_THREADS_MAX; i++) {
        tbuf_t *tb = i < OD_THREADS_MAX ? &tbufs[i] : &shared_buf;
        dropped += tb->dropped;
        stored += tb->n;
        for (uint32_t j = 0; j < tb->n; j++) {
            const ev_t *e = &tb->chunks[j / CHUNK_EVENTS][j % CHUNK_EVENTS];
            if (e->type == EV_THREAD) add_name(&w, e->tid, e->text);
        }
    }
    od_threads_foreach(add_registered, &w);
    for (uint32_t j = 0; j < shared_buf.n; j++)
        name_unregistered(&w, shared_buf.chunks[j / CHUNK_EVENTS][j % CHUNK_EVENTS].tid);

    od_buf_puts(out, "{\"traceEvents\":[");
    ev_open(&w, 'M', w.pid);
    od_buf_puts(out, ",\"name\":\"process_name\",\"args\":{\"name\":\"orderd\"}}");
    for (size_t i = 0; i < w.nnames; i++) {
        ev_open(&w, 'M', w.names[i].tid);
        od_buf_puts(out, ",\"name\":\"thread_name\",\"args\":{\"name\":");
        od_buf_json_str(out, w.names[i].name);
        od_buf_puts(out, "}}");
    }
    for (int i = 0; i <= OD_THREADS_MAX; i++)
        write_buffer(&w, i < OD_THREADS_MAX ? &tbufs[i] : &shared_buf);

    char start[32];
    od_format_time(t0_wall_ns, start);
    od_buf_puts(out, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"orderd\"");
    put_str(out, "start_time", start);
    put_us(out, "duration_us", t1_ns - t0_ns);
    od_buf_printf(out,
                  ",\"recorded_events\":%" PRIu64 ",\"dropped_events\":%" PRIu64
                  ",\"buffered_bytes\":%" PRIu64 ",\"max_events_per_thread\":%u"
                  ",\"max_bytes\":%u}}\n",
                  w.recorded, dropped, stored * (uint64_t)sizeof(ev_t), thread_chunks * CHUNK_EVENTS,
                  (unsigned)(total_chunks * CHUNK_EVENTS * EV_SIZE));
    free(w.names);

    buffers_reset();
    __atomic_store_n(&running, 0, __ATOMIC_RELEASE);
}
