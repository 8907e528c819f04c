/*
 * cpu_perf — the perf_event CPU engine.  See cpu.h for the contract.
 *
 * Each thread of the process has its own perf_event_open(PERF_COUNT_SW_CPU_CLOCK) event:
 * the kernel's hrtimer runs on that thread's CPU time, at a period of exactly 1e9/hz ns, and
 * each overflow interrupts that very thread, which walks its own stack from the signal
 * context and publishes it in the ring.  Two ways to get those events:
 *
 *   inherited  od_cpu_perf_arm, called by main while it is the only thread, opens one
 *              disabled event (inherit, inherit_thread, sigtrap) that every thread created
 *              later gets a copy of; a window enables and disables it (the ioctls reach
 *              every copy).  The point is the context switch: all the threads' perf
 *              contexts are copies of one, so the kernel swaps them between threads
 *              instead of stopping one thread's timer and starting the next one's.
 *              Measured in this 2-core VM, two threads ping-ponging on one CPU: +0.35 us
 *              a switch (enabled or not), against +3 us with an event per thread, which
 *              cost the ingest benchmark 13 % of its throughput at 100 Hz (now under 2 %,
 *              and about 1 % idle: scripts/bench/profiling.sh).  A thread whose context another
 *              tool changes (perf record -p opens events on every thread) is no longer a
 *              copy, for its life: it pays the full price at each switch from then on.
 *              SIGTRAP delivery only (fasync needs an owner per fd); no random first
 *              period (a copy starts with the whole period, and a window's remainder
 *              carries into the next, so a thread loses at most one period in all).
 *   per thread the fallback, and any rate other than the armed one: at the start of each
 *              window an event per thread (pid = tid, cpu = -1), rescanning
 *              /proc/self/task for threads created meanwhile, all closed at the end.
 *
 * Two deliveries (MODE_*):
 *
 *   SIGTRAP  attr.sigtrap (Linux >= 5.13): the kernel queues the signal as task work for the
 *            thread's return to user space; the event keeps running.  Chosen where the
 *            kernel has it: about half the cost per sample of the other (measured here in a
 *            VM: ~40 against ~80-100 us, mostly the hypervisor's interrupt cost).  Traps
 *            that are not perf samples (si_code != TRAP_PERF) go to SIGTRAP's previous action.
 *   fasync   OD_CPU_SIGNAL through O_ASYNC, F_SETSIG and F_SETOWN_EX F_OWNER_TID; the event
 *            is armed for one overflow at a time (PERF_EVENT_IOC_REFRESH 1, as async-profiler
 *            does: without a mapped ring buffer an overflow raises no signal otherwise), the
 *            overflow disables it, and the handler re-arms it first — the hrtimer kept the
 *            remainder of the period, so the time until the re-arm is still counted.
 *
 * Each thread's first period is drawn uniformly from (0, period] (its first sample then sets
 * the whole period with PERF_EVENT_IOC_PERIOD), so that samples x period is an unbiased
 * measure of its CPU time: a whole first period would lose half a period per thread on
 * average (its unfinished last period).
 *
 * The stack walk: glibc backtrace() (libgcc's unwinder, which finds frames through the
 * lock-free _dl_find_object on glibc >= 2.35 and steps over the signal frame by its CFI),
 * pre-warmed once so that its first-call dlopen never happens in a handler; the frames up to
 * the one equal to the ucontext's PC (the handler, the signal trampoline) are dropped, so
 * pc[0] is the exact interrupted instruction and the rest are return addresses.  Where the
 * unwinder cannot reach the interrupted frame (code without unwind information) the sample
 * is the PC alone, counted as "cut".
 *
 * The ring: a bounded lock-free multi-producer single-consumer queue in an anonymous mmap
 * (never malloc: the handler cannot, and the buffer must not show in the heap profile).
 * Producers claim a slot with a compare-and-swap on `head` where the slot's sequence number
 * says it is free (Vyukov's bounded queue; a plain fetch-add could claim a slot that is still
 * full and then never publish it, stalling the consumer) and publish by storing the next
 * sequence number; a full ring drops the sample and counts it.  The profiling thread drains
 * every POLL_NS, rescans /proc/self/task for threads created meanwhile, and at the end
 * closes the events, unpublishes the ring, waits for handlers in flight and unmaps it.
 *
 * Threading: od_cpu_perf_run runs on one thread at a time (the front's busy flag).  The
 * handler runs on any thread, touches only the ring, the thread table in the same mapping,
 * atomics and the fd flags, and calls only async-signal-safe functions (ioctl, backtrace
 * after the pre-warm).  Both signal handlers stay installed for the process's life, so a
 * sample that arrives after its window (queued, or from a closing event) finds g_ring NULL
 * or a stale window number and is ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/log.h"
#include "prof/cpu_engine.h"

#define POLL_NS 20000000ull         /* drain and rescan */
#define CANCEL_POLL_NS 100000000ull /* how often `cancelled` is asked */
#define RING_SLOTS 2048u            /* 500 ms at 2000 Hz on 2 busy cores: room for a late drain */
#define MAX_THREADS 1024
#define FD_FLAGS 65536 /* perf fds above this are not used (closed again) */
#define UNWIND_EXTRA 8 /* frames above the interrupted one: handler, trampoline */

typedef struct ring_slot {
    _Atomic uint64_t seq; /* == position: free for it; == position + 1: published */
    uint32_t npcs;
    uint32_t cut;
    uintptr_t pcs[OD_PROF_MAX_DEPTH];
} ring_slot_t;

typedef struct thread_ev {
    int tid;
    _Atomic int fd;    /* atomic: stored before the event is enabled, read by its handler (the
                        * kernel orders the two, but no C11 edge does) */
    _Atomic int first; /* 1 while the event is in its random first period */
} thread_ev_t;

/* How overflows reach the thread: a synchronous SIGTRAP (attr.sigtrap, Linux >= 5.13: the
 * kernel queues it as task work for the return to user space, no interrupt, and the event
 * keeps running), or else OD_CPU_SIGNAL through fasync with the event re-armed for one
 * overflow at a time (PERF_EVENT_IOC_REFRESH: an inter-processor interrupt to disable it and
 * two timer reprograms per sample, which cost tens of microseconds in a VM). */
enum { MODE_SIGTRAP, MODE_FASYNC };

/* The shared state: written by the profiling thread around a window, read by handlers. */
static ring_slot_t *_Atomic g_ring; /* NULL outside a window */
static _Atomic uint64_t g_head;
static _Atomic uint64_t g_drops, g_cut;
static _Atomic int g_in_handler;
/* per fd: 0 not ours; FD_FIRST a live event still in its random first period; FD_LIVE a live event */
enum { FD_NOT_OURS, FD_FIRST, FD_LIVE };
static _Atomic unsigned char g_fd_ours[FD_FLAGS];
static _Atomic uint64_t g_period_ns; /* the window's period, set before any event is armed */
static _Atomic uint32_t g_gen;       /* the window's number, in each SIGTRAP event's sig_data */
static int g_mode;                   /* MODE_*, from the probe */
static int g_no_sigtrap;             /* SIGTRAP's handler could not be installed: fasync only */
static struct sigaction g_old_trap;  /* SIGTRAP's action before ours, for traps not ours */
static uint64_t g_tail;              /* the consumer's position */

/* The process-wide event (od_cpu_perf_arm): opened once, disabled between windows. */
#define PROC_SIG_DATA UINT64_MAX /* its sig_data; a per-thread event's is gen << 32 | index */
static int g_proc_fd = -1;
static int g_proc_hz;
static int g_proc_excl;

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static int g_init_errno;

static long perf_event_open(struct perf_event_attr *a, pid_t pid, int cpu, int group, unsigned long flags)
{
    return syscall(SYS_perf_event_open, a, pid, cpu, group, flags);
}

#ifndef TRAP_PERF
#define TRAP_PERF 6
#endif

/* siginfo's si_perf_data (not in glibc's siginfo_t): the word after si_addr */
static uint64_t perf_data(const siginfo_t *si)
{
    unsigned long d;
    memcpy(&d, (const char *)&si->si_addr + sizeof(void *), sizeof(d));
    return d;
}

/* A SIGTRAP that is not a perf sample (a breakpoint without a debugger): what it did before. */
static void other_trap(int sig, siginfo_t *si, void *uc)
{
    if (g_old_trap.sa_flags & SA_SIGINFO) {
        g_old_trap.sa_sigaction(sig, si, uc);
    } else if (g_old_trap.sa_handler != SIG_IGN && g_old_trap.sa_handler != SIG_DFL) {
        g_old_trap.sa_handler(sig);
    } else if (g_old_trap.sa_handler == SIG_DFL) {
        signal(SIGTRAP, SIG_DFL);
        raise(SIGTRAP);
    }
}

static void on_sample(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    if (sig == SIGTRAP && si->si_code != TRAP_PERF) {
        other_trap(sig, si, ucv);
        errno = saved_errno;
        return;
    }
    atomic_fetch_add(&g_in_handler, 1);
    ring_slot_t *ring = atomic_load(&g_ring);
    if (ring == NULL) goto out;
    if (sig == SIGTRAP && perf_data(si) == PROC_SIG_DATA) {
        /* the process-wide event: no first period, no thread table */
    } else if (sig == SIGTRAP) {
        uint64_t d = perf_data(si);
        uint32_t idx = (uint32_t)d;
        if ((uint32_t)(d >> 32) != atomic_load_explicit(&g_gen, memory_order_relaxed) || idx >= MAX_THREADS)
            goto out; /* a late sample of an earlier window */
        thread_ev_t *t = &((thread_ev_t *)(ring + RING_SLOTS))[idx];
        if (atomic_load_explicit(&t->first, memory_order_relaxed)) { /* from now on the whole period */
            uint64_t period = atomic_load_explicit(&g_period_ns, memory_order_relaxed);
            ioctl(atomic_load_explicit(&t->fd, memory_order_relaxed), PERF_EVENT_IOC_PERIOD, &period);
            atomic_store_explicit(&t->first, 0, memory_order_relaxed);
        }
    } else {
        int fd = si->si_fd;
        if (fd < 0 || fd >= FD_FLAGS) goto out;
        unsigned char st = atomic_load_explicit(&g_fd_ours[fd], memory_order_relaxed);
        if (st == FD_NOT_OURS) goto out;
        if (st == FD_FIRST) {
            uint64_t period = atomic_load_explicit(&g_period_ns, memory_order_relaxed);
            ioctl(fd, PERF_EVENT_IOC_PERIOD, &period);
            atomic_store_explicit(&g_fd_ours[fd], FD_LIVE, memory_order_relaxed);
        }
        ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
    }

    const ucontext_t *uc = ucv;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    void *frames[OD_PROF_MAX_DEPTH + UNWIND_EXTRA];
    int n = backtrace(frames, (int)OD_ARRAY_SIZE(frames)), start = -1;
    for (int i = 0; i < n && i < UNWIND_EXTRA; i++)
        if ((uintptr_t)frames[i] == pc) {
            start = i;
            break;
        }

    uint64_t pos = atomic_load_explicit(&g_head, memory_order_relaxed);
    ring_slot_t *s;
    for (;;) {
        s = &ring[pos & (RING_SLOTS - 1)];
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&g_head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (dif < 0) { /* full: the consumer is a lap behind */
            atomic_fetch_add_explicit(&g_drops, 1, memory_order_relaxed);
            goto out;
        } else {
            pos = atomic_load_explicit(&g_head, memory_order_relaxed);
        }
    }
    if (start < 0) {
        s->pcs[0] = pc;
        s->npcs = 1;
        s->cut = 1;
    } else {
        int m = n - start > OD_PROF_MAX_DEPTH ? OD_PROF_MAX_DEPTH : n - start;
        for (int i = 0; i < m; i++)
            s->pcs[i] = (uintptr_t)frames[start + i];
        s->npcs = (uint32_t)m;
        s->cut = 0;
    }
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
out:
    atomic_fetch_sub(&g_in_handler, 1);
    errno = saved_errno;
}

static void init_once(void)
{
    void *warm[4];
    backtrace(warm, 4); /* loads libgcc_s now, not in a handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sample;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(OD_CPU_SIGNAL, &sa, NULL) != 0) g_init_errno = errno;
    /* SIGTRAP too (TRAP_PERF samples; other traps go to what was there before) */
    if (g_mode == MODE_SIGTRAP && sigaction(SIGTRAP, &sa, &g_old_trap) != 0) {
        g_no_sigtrap = 1;
        g_mode = MODE_FASYNC;
    }
}

static void fill_attr(struct perf_event_attr *a, uint64_t period_ns, int exclude_kernel, int mode,
                      uint64_t sig_data)
{
    memset(a, 0, sizeof(*a));
    a->type = PERF_TYPE_SOFTWARE;
    a->size = sizeof(*a);
    a->config = PERF_COUNT_SW_CPU_CLOCK;
    a->sample_period = period_ns;
    a->disabled = 1;
    a->wakeup_events = 1;
    a->exclude_kernel = (unsigned)exclude_kernel;
    a->exclude_hv = 1;
    if (mode == MODE_SIGTRAP) {
        a->sigtrap = 1;
        a->remove_on_exec = 1; /* the kernel requires it with sigtrap */
        a->sig_data = sig_data;
    }
}

int od_cpu_perf_probe(int *exclude_kernel)
{
    struct perf_event_attr a;
    int e = 0;
    for (int excl = 0; excl <= 1; excl++) {
        for (int mode = g_no_sigtrap ? MODE_FASYNC : MODE_SIGTRAP; mode <= MODE_FASYNC; mode++) {
            fill_attr(&a, 10000000, excl, mode, 0);
            long fd = perf_event_open(&a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
            if (fd >= 0) {
                close((int)fd);
                *exclude_kernel = excl;
                g_mode = mode;
                return 0;
            }
            e = errno;
            if (e != EINVAL && e != E2BIG) break; /* older kernels know no sigtrap: EINVAL or E2BIG */
        }
        if (e != EACCES && e != EPERM) break; /* only the paranoid level is helped by excluding the kernel */
    }
    return e ? e : EINVAL;
}

void od_cpu_perf_set_fasync(int on)
{
    g_no_sigtrap = on;
}

/* --- the process-wide event ---------------------------------------------------------------- */

/* Calls fn(arg, tid) for each thread of the process, listed afresh (a rewound /proc/self/task
 * fd does not list threads created since) with getdents64 (no malloc, unlike readdir), until
 * fn returns nonzero.  @return what fn returned last, or -1 with *dir_errno set if the
 * listing failed */
static int each_task(int (*fn)(void *arg, int tid), void *arg, int *dir_errno)
{
    char buf[4096];
    int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;
    if (dfd < 0) {
        *dir_errno = errno;
        return -1;
    }
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0) {
                *dir_errno = errno;
                ret = -1;
            }
            break;
        }
        for (long off = 0; off < n && ret == 0;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            int tid = atoi(d->d_name);
            if (tid > 0) ret = fn(arg, tid);
        }
        if (ret != 0) break;
    }
    close(dfd);
    return ret;
}

static int count_one(void *arg, int tid)
{
    (void)tid;
    ++*(int *)arg;
    return 0;
}

/* The process's threads, or -1. */
static int count_threads(void)
{
    int n = 0, e = 0;
    return each_task(count_one, &n, &e) == 0 ? n : -1;
}

int od_cpu_perf_arm(int hz, const char **why)
{
    static const char *const no_why = "";
    *why = no_why;
    if (g_proc_fd >= 0) {
        if (hz == g_proc_hz) return 0;
        *why = "armed already at another rate";
        return -1;
    }
    if (hz < 1) {
        *why = "rate out of range";
        return -1;
    }
    if (count_threads() != 1) {
        *why = "other threads were started first, and would not inherit the event";
        return -1;
    }
    int excl = 0;
    if (od_cpu_perf_probe(&excl) != 0) {
        *why = "perf_event_open refused";
        return -1;
    }
    if (g_mode == MODE_SIGTRAP) pthread_once(&g_init_once, init_once);
    if (g_mode != MODE_SIGTRAP || g_init_errno != 0) {
        *why = "no SIGTRAP delivery (Linux < 5.13, or its handler refused)";
        return -1;
    }
    struct perf_event_attr a;
    fill_attr(&a, 1000000000ull / (uint64_t)hz, excl, MODE_SIGTRAP, PROC_SIG_DATA);
    a.inherit = 1;        /* every thread created from now on gets its own copy... */
    a.inherit_thread = 1; /* ...threads only: a forked child (the symbolizer helper) does not */
    long fd = perf_event_open(&a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
        *why = "perf_event_open refused the inherited event";
        return -1;
    }
    g_proc_fd = (int)fd;
    g_proc_hz = hz;
    g_proc_excl = excl;
    return 0;
}

int od_cpu_perf_armed(void)
{
    return g_proc_fd >= 0 ? g_proc_hz : 0;
}

/* --- one window ---------------------------------------------------------------------------- */

typedef struct window {
    uint64_t period_ns;
    int exclude_kernel;
    ring_slot_t *ring;    /* the mmap: this window's ring (g_ring while published) */
    thread_ev_t *threads; /* in the mmap, after the ring */
    int nthreads;
    int unattached; /* threads beyond MAX_THREADS or refused after the start */
    int refused_errno;
    int dir_errno; /* listing /proc/self/task failed */
    int process;   /* 1 while the process-wide event is enabled for this window */
    uint64_t rng;  /* xorshift state for the first periods */
    od_profile_t *out;
    od_cpu_stack_index_t ix;
} window_t;

static int known(const window_t *w, int tid)
{
    for (int i = 0; i < w->nthreads; i++)
        if (w->threads[i].tid == tid) return 1;
    return 0;
}

/* Opens and arms the event of one thread; 0, or the errno (ESRCH: it has just exited).
 * The first period is drawn uniformly from (0, period]: a thread's CPU time then yields
 * samples x period equal to it on average, where starting every thread at a whole period
 * would lose half a period per thread (its unfinished last period) on average. */
static int attach(window_t *w, int tid)
{
    struct perf_event_attr a;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    uint64_t first = 1 + w->rng % w->period_ns;
    uint64_t sig_data = (uint64_t)atomic_load(&g_gen) << 32 | (uint32_t)w->nthreads;
    fill_attr(&a, first, w->exclude_kernel, g_mode, sig_data);
    long lfd = perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (lfd < 0) {
        int e = errno;
        if ((e == EACCES || e == EPERM) && !w->exclude_kernel) { /* refused for this thread alone? */
            a.exclude_kernel = 1;
            lfd = perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
        }
        if (lfd < 0) return e;
    }
    int fd = (int)lfd, e = 0;
    struct f_owner_ex owner = {F_OWNER_TID, tid};
    if (g_mode == MODE_FASYNC) {
        if (fd >= FD_FLAGS) {
            e = EMFILE;
        } else if (fcntl(fd, F_SETFL, O_ASYNC) != 0 || fcntl(fd, F_SETSIG, OD_CPU_SIGNAL) != 0 ||
                   fcntl(fd, F_SETOWN_EX, &owner) != 0) {
            e = errno;
        }
    }
    if (e != 0) {
        close(fd);
        return e;
    }
    thread_ev_t *t = &w->threads[w->nthreads++];
    t->tid = tid;
    atomic_store(&t->fd, fd);
    atomic_store(&t->first, 1);
    if (g_mode == MODE_FASYNC) {
        atomic_store(&g_fd_ours[fd], FD_FIRST);
        if (ioctl(fd, PERF_EVENT_IOC_REFRESH, 1) != 0) return errno;
    } else if (ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
        return errno;
    }
    return 0;
}

typedef struct scan_arg {
    window_t *w;
    int first;
} scan_arg_t;

static int scan_one(void *arg, int tid)
{
    scan_arg_t *a = arg;
    window_t *w = a->w;
    if (known(w, tid)) return 0;
    if (w->nthreads >= MAX_THREADS) {
        w->unattached++;
        return 0;
    }
    int e = attach(w, tid);
    if (e == 0 || e == ESRCH) return 0;
    if (a->first) return e;
    if (w->refused_errno == 0) {
        od_warn("profiling: perf_event_open for thread %d refused (%s): that thread is not sampled in "
                "this CPU profile",
                tid, strerror(e));
        w->refused_errno = e;
    }
    w->unattached++;
    return 0;
}

/* Attaches every thread not yet known.  `first`: a refusal means the engine is refused. */
static int scan(window_t *w, int first)
{
    scan_arg_t a = {w, first};
    int ret = each_task(scan_one, &a, &w->dir_errno);
    return ret > 0 ? ret : 0; /* -1: the listing failed, said in dir_errno */
}

static void drain(window_t *w)
{
    for (;;) {
        ring_slot_t *s = &w->ring[g_tail & (RING_SLOTS - 1)];
        if (atomic_load_explicit(&s->seq, memory_order_acquire) != g_tail + 1) break;
        if (s->cut) atomic_fetch_add_explicit(&g_cut, 1, memory_order_relaxed);
        od_cpu_add_stack(w->out, &w->ix, s->pcs, s->npcs, 1);
        atomic_store_explicit(&s->seq, g_tail + RING_SLOTS, memory_order_release);
        g_tail++;
    }
}

static void close_events(window_t *w)
{
    if (w->process) {
        ioctl(g_proc_fd, PERF_EVENT_IOC_DISABLE, 0); /* the parent and every inherited copy */
        w->process = 0;
        return;
    }
    for (int i = 0; i < w->nthreads; i++) {
        int fd = w->threads[i].fd;
        ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
        if (fd < FD_FLAGS) atomic_store(&g_fd_ours[fd], FD_NOT_OURS);
        close(fd);
    }
    w->nthreads = 0;
}

int od_cpu_perf_run(uint64_t duration_ns, int hz, int (*cancelled)(void *), void *arg, od_profile_t *out,
                    int *was_cancelled, od_buf_t *note, od_buf_t *err)
{
    int ret = -1, excl = 0;
    window_t w = {.out = out};
    size_t ring_bytes = RING_SLOTS * sizeof(ring_slot_t);
    size_t map_bytes = ring_bytes + MAX_THREADS * sizeof(thread_ev_t);
    ring_slot_t *ring = MAP_FAILED;

    int process = g_proc_fd >= 0 && hz == g_proc_hz && !g_no_sigtrap;
    int pe = process ? 0 : od_cpu_perf_probe(&excl); /* also chooses g_mode */
    if (process) excl = g_proc_excl;
    if (pe != 0) {
        od_buf_printf(err, "perf_event_open refused: %s", strerror(pe));
        return OD_CPU_REFUSED;
    }
    pthread_once(&g_init_once, init_once);
    if (g_init_errno != 0) {
        od_buf_printf(err, "cpu profile: cannot install the perf_event signal handler: %s",
                      strerror(g_init_errno));
        return OD_CPU_REFUSED;
    }
    w.period_ns = 1000000000ull / (uint64_t)hz;
    w.rng = od_now_ns() | 1;
    atomic_store(&g_period_ns, w.period_ns);
    w.exclude_kernel = excl;
    od_cpu_set_types(out, (int64_t)w.period_ns);

    ring = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED) {
        od_buf_printf(err, "cpu profile: cannot map the %zu-byte sample ring: %s", map_bytes,
                      strerror(errno));
        goto cleanup;
    }
    w.ring = ring;
    w.threads = (thread_ev_t *)((char *)ring + ring_bytes);
    for (uint64_t i = 0; i < RING_SLOTS; i++)
        atomic_store_explicit(&ring[i].seq, i, memory_order_relaxed);
    atomic_store(&g_head, 0);
    atomic_store(&g_drops, 0);
    atomic_store(&g_cut, 0);
    g_tail = 0;
    atomic_fetch_add(&g_gen, 1);
    atomic_store(&g_ring, ring);

    uint64_t t0 = od_now_ns(), next_cancel = t0 + CANCEL_POLL_NS;
    int e = 0;
    if (process) {
        if (ioctl(g_proc_fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
            e = errno;
        } else {
            w.process = 1;
        }
    } else {
        e = scan(&w, 1);
    }
    if (e != 0 && process) {
        od_buf_printf(err, "cpu profile: cannot enable the process-wide perf_event: %s", strerror(e));
        goto cleanup;
    }
    if (e != 0) {
        od_buf_printf(err, "perf_event_open for a thread refused: %s", strerror(e));
        ret = OD_CPU_REFUSED;
        goto cleanup;
    }
    if (w.dir_errno != 0) {
        od_buf_printf(err, "cpu profile: cannot list /proc/self/task: %s", strerror(w.dir_errno));
        goto cleanup;
    }
    for (;;) {
        uint64_t now = od_now_ns(), el = now - t0;
        if (el >= duration_ns) break;
        uint64_t left = duration_ns - el;
        od_sleep_ns(left < POLL_NS ? left : POLL_NS);
        drain(&w);
        if (!process) scan(&w, 0);
        if (cancelled != NULL && od_now_ns() >= next_cancel) {
            next_cancel += CANCEL_POLL_NS;
            if (cancelled(arg)) {
                *was_cancelled = 1;
                break;
            }
        }
    }
    int nthreads = process ? count_threads() : w.nthreads;
    close_events(&w);
    ret = 0;
    drain(&w);
    atomic_store(&g_ring, NULL);
    while (atomic_load(&g_in_handler) != 0) /* handlers in flight finish in microseconds */
        sched_yield();
    drain(&w);

    uint64_t drops = atomic_load(&g_drops), cut = atomic_load(&g_cut);
    od_buf_printf(note, "cpu engine: perf_event (cpu-clock, %s, %s%s), %d Hz, period %.6g ms, %d threads",
                  process ? "one event inherited by every thread" : "per-thread",
                  process || g_mode == MODE_SIGTRAP ? "SIGTRAP" : "fasync signal",
                  excl ? ", user space only: the kernel refused kernel-mode counting" : "", hz,
                  w.period_ns / 1e6, nthreads);
    if (w.unattached) od_buf_printf(note, " (%d more not sampled)", w.unattached);
    od_buf_printf(note, ", %llu samples dropped", (unsigned long long)drops);
    if (cut)
        od_buf_printf(note, ", %llu stacks cut to the leaf (no unwind information)", (unsigned long long)cut);
    od_buf_putc(note, '\n');

cleanup:
    close_events(&w);
    if (ring != MAP_FAILED) {
        atomic_store(&g_ring, NULL);
        while (atomic_load(&g_in_handler) != 0)
            sched_yield();
        munmap(ring, map_bytes);
    }
    od_cpu_stack_index_dispose(&w.ix);
    return ret;
}
