/*
 * threads — the thread registry and the live stack capture.  See threads.h for the
 * contract.
 *
 * Capture protocol, per slot (`req`, atomic):
 *   IDLE -> ASKED     the capturer, after setting req_tid (release)
 *   ASKED -> WRITING  the handler, if it runs on thread req_tid (CAS: one winner)
 *   WRITING -> DONE   the handler, after storing pcs/npcs (release)
 *   ASKED -> IDLE     the capturer giving up (CAS: if it loses, the handler is writing and
 *                     the capturer waits for DONE, which comes in microseconds)
 *   DONE -> IDLE      the capturer, after copying pcs (acquire on DONE)
 * so a late handler never writes into a buffer the capturer reads, and a slot's buffer
 * belongs to one capture at a time (captures are serialized by capture_lock).
 */
#include "prof/threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include "base/log.h"

enum { REQ_IDLE, REQ_ASKED, REQ_WRITING, REQ_DONE };

static struct slot {
    int used;     /* atomic; changed under reg_lock */
    int tid;      /* atomic; set under reg_lock */
    int profiler; /* atomic: a thread of the profiler's own (OD_THREAD_PROF_PREFIX, or marked) */
    char name[32];
    const char *state; /* atomic (relaxed) */
    /* capture */
    int req;     /* atomic: REQ_* */
    int req_tid; /* atomic: the thread asked */
    uint32_t npcs;
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
} slots[OD_THREADS_MAX];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER; /* one capture at a time */
/* initial-exec: reading it in the signal handler must not go through __tls_get_addr */
static __thread int my_slot __attribute__((tls_model("initial-exec"))) = -1;
static __thread int my_tid __attribute__((tls_model("initial-exec")));

static int gettid_cached(void)
{
    if (my_tid == 0) my_tid = (int)syscall(SYS_gettid);
    return my_tid;
}

/* --- registry ---------------------------------------------------------------------------- */

void od_thread_register(const char *name)
{
    if (my_slot >= 0) od_thread_unregister();
    int tid = gettid_cached();
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++) {
        if (!__atomic_load_n(&slots[i].used, __ATOMIC_RELAXED)) {
            snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
            __atomic_store_n(&slots[i].profiler,
                             strncmp(name, OD_THREAD_PROF_PREFIX, strlen(OD_THREAD_PROF_PREFIX)) == 0,
                             __ATOMIC_RELAXED);
            __atomic_store_n(&slots[i].tid, tid, __ATOMIC_RELAXED);
            __atomic_store_n(&slots[i].state, "running", __ATOMIC_RELAXED);
            __atomic_store_n(&slots[i].used, 1, __ATOMIC_RELEASE);
            my_slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    if (my_slot < 0)
        od_warn("threads: registry full (%d threads): %s runs unregistered", OD_THREADS_MAX, name);
    char kname[16];
    snprintf(kname, sizeof(kname), "%s", name);
    pthread_setname_np(pthread_self(), kname);
}

void od_thread_unregister(void)
{
    if (my_slot < 0) return;
    pthread_mutex_lock(&reg_lock);
    __atomic_store_n(&slots[my_slot].used, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&reg_lock);
    my_slot = -1;
}

const char *od_thread_name(void)
{
    return my_slot < 0 ? "unnamed" : slots[my_slot].name;
}

void od_thread_mark_profiler(void)
{
    if (my_slot >= 0) __atomic_store_n(&slots[my_slot].profiler, 1, __ATOMIC_RELAXED);
}

int od_thread_slot(void)
{
    return my_slot;
}

void od_thread_set_state(const char *state)
{
    if (my_slot >= 0) __atomic_store_n(&slots[my_slot].state, state, __ATOMIC_RELAXED);
}

int od_threads_count(void)
{
    int n = 0;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++)
        n += __atomic_load_n(&slots[i].used, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&reg_lock);
    return n;
}

void od_threads_foreach(void (*fn)(int slot, const char *name, int tid, void *arg), void *arg)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++)
        if (__atomic_load_n(&slots[i].used, __ATOMIC_RELAXED))
            fn(i, slots[i].name, __atomic_load_n(&slots[i].tid, __ATOMIC_RELAXED), arg);
    pthread_mutex_unlock(&reg_lock);
}

/* --- unwinding --------------------------------------------------------------------------- */

typedef struct unwind {
    uintptr_t *pcs;
    int n, max;
    int signal_at; /* index of the first frame interrupted by a signal, -1 if none */
} unwind_t;

static _Unwind_Reason_Code unwind_frame(struct _Unwind_Context *ctx, void *arg)
{
    unwind_t *u = arg;
    int before = 0;
    uintptr_t ip = _Unwind_GetIPInfo(ctx, &before);
    if (ip == 0 || u->n >= u->max) return _URC_END_OF_STACK;
    if (before && u->signal_at < 0) u->signal_at = u->n; /* exact pc, not a return address */
    u->pcs[u->n++] = ip;
    return _URC_NO_REASON;
}

/* unwinds the calling thread into pcs (leaf first, starting with this function's caller) */
__attribute__((noinline)) static int unwind_here(uintptr_t *pcs, int max, int *signal_at)
{
    unwind_t u = {pcs, 0, max, -1};
    _Unwind_Backtrace(unwind_frame, &u);
    if (signal_at) *signal_at = u.signal_at;
    /* the first frame is unwind_here itself: drop it */
    if (u.n > 0) memmove(pcs, pcs + 1, (size_t)(u.n - 1) * sizeof(*pcs));
    if (signal_at && *signal_at > 0) (*signal_at)--;
    return u.n > 0 ? u.n - 1 : 0;
}

static void on_capture_signal(int sig, siginfo_t *si, void *ucontext)
{
    (void)sig, (void)si, (void)ucontext;
    int saved_errno = errno;
    int slot = my_slot;
    if (slot >= 0) {
        struct slot *s = &slots[slot];
        int asked = REQ_ASKED;
        if (__atomic_load_n(&s->req, __ATOMIC_ACQUIRE) == REQ_ASKED &&
            __atomic_load_n(&s->req_tid, __ATOMIC_RELAXED) == gettid_cached() &&
            __atomic_compare_exchange_n(&s->req, &asked, REQ_WRITING, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            uintptr_t buf[OD_PROF_MAX_DEPTH + 8];
            int at = -1;
            int n = unwind_here(buf, (int)OD_ARRAY_SIZE(buf), &at);
            /* keep the interrupted frame and its callers; without a signal frame (should
             * not happen), skip the handler and the trampoline */
            int from = at >= 0 ? at : (n > 2 ? 2 : 0);
            int keep = n - from;
            if (keep > OD_PROF_MAX_DEPTH) keep = OD_PROF_MAX_DEPTH;
            for (int i = 0; i < keep; i++)
                s->pcs[i] = buf[from + i];
            s->npcs = (uint32_t)keep;
            __atomic_store_n(&s->req, REQ_DONE, __ATOMIC_RELEASE);
        }
    }
    errno = saved_errno;
}

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_rc = -1;

static void install(void)
{
    /* the first unwind may allocate and initialize libgcc's state: do it here, not in the
     * handler */
    uintptr_t pcs[8];
    unwind_here(pcs, (int)OD_ARRAY_SIZE(pcs), NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_capture_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(OD_THREADS_SIGNAL, &sa, NULL) != 0) {
        od_error("threads: cannot install the capture signal handler (SIGRTMIN+3): %s", strerror(errno));
        return;
    }
    install_rc = 0;
}

/* --- capture ----------------------------------------------------------------------------- */

typedef struct thr {
    int slot; /* -1 for an unregistered capturer */
    int tid;
    char name[32];
    const char *state;
    int profiler;
    int answered;
    uint32_t npcs;
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
    int group; /* index of the first thread with the same stack */
} thr_t;

static int same_stack(const thr_t *a, const thr_t *b)
{
    return a->npcs == b->npcs && memcmp(a->pcs, b->pcs, a->npcs * sizeof(a->pcs[0])) == 0;
}

typedef struct group {
    int first, count;
} group_t;

static int cmp_group(const void *a, const void *b)
{
    const group_t *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->first - y->first;
}

/* waits for one thread's answer; copies the stack into t if it came */
static void collect(thr_t *t, uint64_t deadline)
{
    struct slot *s = &slots[t->slot];
    uint64_t nap = 10000;
    for (;;) {
        if (__atomic_load_n(&s->req, __ATOMIC_ACQUIRE) == REQ_DONE) break;
        int gone = !__atomic_load_n(&s->used, __ATOMIC_ACQUIRE) ||
                   __atomic_load_n(&s->tid, __ATOMIC_RELAXED) != t->tid;
        if (gone || od_now_ns() >= deadline) {
            int asked = REQ_ASKED;
            if (__atomic_compare_exchange_n(&s->req, &asked, REQ_IDLE, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                t->answered = gone ? -1 : 0; /* -1: exited meanwhile, left out */
                return;
            }
            /* lost the race: the handler is writing; DONE follows shortly */
        }
        struct timespec ts = {0, (long)nap};
        nanosleep(&ts, NULL);
        if (nap < 1000000) nap *= 2;
    }
    t->npcs = s->npcs;
    memcpy(t->pcs, s->pcs, t->npcs * sizeof(t->pcs[0]));
    t->answered = 1;
    __atomic_store_n(&s->req, REQ_IDLE, __ATOMIC_RELEASE);
}

static char *join_labels(const thr_t *thr, int n, int group, int want_state)
{
    od_buf_t b = OD_BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (thr[i].answered < 0 || thr[i].group != group) continue;
        if (b.len) od_buf_putc(&b, ',');
        if (!want_state)
            od_buf_puts(&b, thr[i].name);
        else
            od_buf_printf(&b, "%s%s", thr[i].state, thr[i].answered ? "" : " (no stack)");
    }
    return od_buf_detach(&b, NULL);
}

int od_threads_capture(od_profile_t *p)
{
    od_profile_init(p, OD_PROF_THREADS);
    od_profile_add_type(p, "goroutine", "count");
    p->period_type = (od_prof_valtype_t){"goroutine", "count"};
    p->period = 1;
    p->time_ns = od_wall_ns();
    pthread_once(&install_once, install);
    if (install_rc != 0) return -1;

    pthread_mutex_lock(&capture_lock);
    uint64_t t0 = od_now_ns();
    thr_t *thr = od_calloc(OD_THREADS_MAX + 1, sizeof(*thr));
    int n = 0, self = -1, me = my_slot;
    pid_t pid = getpid();

    /* Snapshot the registry and post the requests under the lock: no slot changes owner
     * meanwhile.  Signals go out after, to everyone at once: they answer in parallel. */
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++) {
        struct slot *s = &slots[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_RELAXED)) continue;
        thr_t *t = &thr[n];
        t->slot = i;
        t->tid = __atomic_load_n(&s->tid, __ATOMIC_RELAXED);
        snprintf(t->name, sizeof(t->name), "%s", s->name);
        t->state = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        t->profiler = __atomic_load_n(&s->profiler, __ATOMIC_RELAXED);
        if (i == me) {
            self = n;
        } else {
            __atomic_store_n(&s->req_tid, t->tid, __ATOMIC_RELAXED);
            __atomic_store_n(&s->req, REQ_ASKED, __ATOMIC_RELEASE);
        }
        n++;
    }
    pthread_mutex_unlock(&reg_lock);

    if (self < 0) { /* an unregistered capturer still appears */
        thr_t *t = &thr[self = n++];
        t->slot = -1;
        t->tid = gettid_cached();
        if (pthread_getname_np(pthread_self(), t->name, sizeof(t->name)) != 0 || !t->name[0])
            snprintf(t->name, sizeof(t->name), "unnamed");
        t->state = "running";
    }
    thr[self].npcs = (uint32_t)unwind_here(thr[self].pcs, OD_PROF_MAX_DEPTH, NULL);
    thr[self].answered = 1;

    for (int i = 0; i < n; i++) {
        if (i == self) continue;
        if (syscall(SYS_tgkill, pid, thr[i].tid, OD_THREADS_SIGNAL) != 0 && errno != ESRCH)
            od_warn("threads: signalling %s (tid %d): %s", thr[i].name, thr[i].tid, strerror(errno));
        /* ESRCH: it exited; collect() notices it unregistered (or times out) */
    }
    uint64_t deadline = od_now_ns() + (OD_THREADS_CAPTURE_WAIT_MS + (uint64_t)n) * 1000000u;
    for (int i = 0; i < n; i++)
        if (i != self) collect(&thr[i], deadline);

    /* group identical stacks, most threads first */
    group_t *groups = od_calloc((size_t)n, sizeof(*groups));
    int ngroups = 0;
    for (int i = 0; i < n; i++) {
        thr[i].group = -1;
        if (thr[i].answered < 0) continue;
        for (int g = 0; g < ngroups && thr[i].group < 0; g++) {
            const thr_t *f = &thr[groups[g].first];
            if (same_stack(f, &thr[i]) && (f->answered != 0) == (thr[i].answered != 0) &&
                f->profiler == thr[i].profiler) {
                thr[i].group = groups[g].first;
                groups[g].count++;
            }
        }
        if (thr[i].group < 0) {
            thr[i].group = i;
            groups[ngroups++] = (group_t){i, 1};
        }
    }
    qsort(groups, (size_t)ngroups, sizeof(*groups), cmp_group);
    for (int g = 0; g < ngroups; g++) {
        const thr_t *f = &thr[groups[g].first];
        int64_t v = groups[g].count;
        od_prof_sample_t *s = od_profile_add(p, f->pcs, f->npcs, &v);
        char *names = join_labels(thr, n, groups[g].first, 0);
        char *states = join_labels(thr, n, groups[g].first, 1);
        od_profile_label_str(s, "threads", names);
        od_profile_label_str(s, "state", states);
        if (f->profiler) od_profile_label_str(s, "profiler", "yes");
        free(names);
        free(states);
    }
    p->duration_ns = od_now_ns() - t0;
    free(groups);
    free(thr);
    pthread_mutex_unlock(&capture_lock);
    return 0;
}
