/*
 * prof_threads — the live goroutine (thread) profile: every registered thread's real stack,
 * named, grouped by identical stack, with states; threads that do not answer, exit during
 * a capture, or come and go meanwhile neither hang nor crash it; captures run concurrently.
 * TAP.
 *
 * The functions looked for in the stacks are global (the binary links with -rdynamic, so
 * dladdr names them) and noinline.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/render.h"
#include "prof/threads.h"
#include "tap.h"
#include "testutil.h"

/* A captured stack starts with the pc where the thread was stopped: stack_has(s, fn, 1). */

static const char *label(const od_prof_sample_t *s, const char *key)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].key, key) == 0) return s->labels[i].str;
    return "";
}

/* the sample whose "threads" label mentions name (NULL if none) */
static const od_prof_sample_t *find_thread(const od_profile_t *p, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < p->nsamples; i++) {
        const char *t = label(&p->samples[i], "threads");
        for (const char *q = t; (q = strstr(q, name)) != NULL; q += len)
            if ((q == t || q[-1] == ',') && (q[len] == ',' || q[len] == '\0')) return &p->samples[i];
    }
    return NULL;
}

static int nthreads(const od_profile_t *p)
{
    int64_t n = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        n += p->samples[i].values[0];
    return (int)n;
}

/* --- parked threads ---------------------------------------------------------------------- */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int release_all, parked;

void worker_parked_in_here(void);
__attribute__((noinline)) void worker_parked_in_here(void)
{
    pthread_mutex_lock(&park_lock);
    parked++;
    while (!release_all)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    __asm__ volatile("" ::: "memory");
}

void scheduler_dozing_in_here(void);
__attribute__((noinline)) void scheduler_dozing_in_here(void)
{
    pthread_mutex_lock(&park_lock);
    parked++;
    pthread_mutex_unlock(&park_lock);
    for (;;) {
        pthread_mutex_lock(&park_lock);
        int done = release_all;
        pthread_mutex_unlock(&park_lock);
        if (done) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* EINTR from the capture signal: just go round */
    }
    __asm__ volatile("" ::: "memory");
}

static void *parked_main(void *arg)
{
    od_thread_register(arg);
    od_thread_set_state("waiting for order");
    worker_parked_in_here();
    od_thread_unregister();
    return NULL;
}

static void *scheduler_main(void *arg)
{
    od_thread_register(arg);
    od_thread_set_state("sleeping");
    scheduler_dozing_in_here();
    od_thread_unregister();
    return NULL;
}

static void wait_parked(int n)
{
    for (;;) {
        pthread_mutex_lock(&park_lock);
        int k = parked;
        pthread_mutex_unlock(&park_lock);
        if (k >= n) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 20000000}; /* let them reach the futex / nanosleep */
    nanosleep(&ts, NULL);
}

static void release_parked(void)
{
    pthread_mutex_lock(&park_lock);
    release_all = 1;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
}

int od_test_capture_here(od_profile_t *p);
__attribute__((noinline)) int od_test_capture_here(od_profile_t *p)
{
    int rc = od_threads_capture(p);
    __asm__ volatile("" ::: "memory");
    return rc;
}

static void *capture_main(void *arg)
{
    return od_test_capture_here(arg) == 0 ? NULL : arg;
}

static void test_capture(void)
{
    od_thread_register("tester");
    od_thread_set_state("capturing");
    pthread_t t[3];
    pthread_create(&t[0], NULL, parked_main, "worker-1");
    pthread_create(&t[1], NULL, parked_main, "worker-2");
    pthread_create(&t[2], NULL, scheduler_main, "scheduler");
    wait_parked(3);
    ok(od_threads_count() == 4, "4 threads registered");

    od_profile_t p;
    uint64_t t0 = od_now_ns();
    ok(od_test_capture_here(&p) == 0, "capture");
    uint64_t took = od_now_ns() - t0;
    ok(took < 50000000ull, "every thread answered quickly (%.1f ms)", took / 1e6);
    ok(p.kind == OD_PROF_THREADS && p.ntypes == 1 && strcmp(p.types[0].type, "goroutine") == 0 &&
           strcmp(p.types[0].unit, "count") == 0,
       "kind threads, sample type goroutine/count");
    ok(nthreads(&p) == 4, "4 threads in the profile (%d)", nthreads(&p));

    const od_prof_sample_t *w = find_thread(&p, "worker-1");
    ok(w != NULL && w == find_thread(&p, "worker-2") && w->values[0] == 2,
       "the two parked workers share one sample with value 2");
    ok(w && (strcmp(label(w, "threads"), "worker-1,worker-2") == 0 ||
             strcmp(label(w, "threads"), "worker-2,worker-1") == 0),
       "threads label: %s", w ? label(w, "threads") : "-");
    ok(w && strcmp(label(w, "state"), "waiting for order,waiting for order") == 0, "state label: %s",
       w ? label(w, "state") : "-");
    ok(w && stack_has(w, "worker_parked_in_here", 1), "their stack holds worker_parked_in_here");
    ok(w && w->npcs >= 3, "from the futex wait up (%zu frames, leaf %s)", w ? w->npcs : 0,
       w && w->npcs ? fn_name(w->pcs[0], 1) : "-");

    if (w) { /* a diagnostic line for people reading the TAP output */
        printf("# worker stack:");
        for (size_t i = 0; i < w->npcs; i++)
            printf(" %s", fn_name(w->pcs[i], i == 0)[0] ? fn_name(w->pcs[i], i == 0) : "?");
        putchar('\n');
    }
    const od_prof_sample_t *s = find_thread(&p, "scheduler");
    ok(s && s->values[0] == 1 && strcmp(label(s, "state"), "sleeping") == 0,
       "the scheduler alone, state sleeping");
    ok(s && stack_has(s, "scheduler_dozing_in_here", 1) && !stack_has(s, "worker_parked_in_here", 1),
       "its stack holds scheduler_dozing_in_here");

    const od_prof_sample_t *me = find_thread(&p, "tester");
    ok(me && strcmp(label(me, "state"), "capturing") == 0, "the capturing thread appears");
    ok(me && stack_has(me, "od_test_capture_here", 1) && me->npcs &&
           strcmp(fn_name(me->pcs[0], 0), "od_threads_capture") == 0,
       "its stack starts in od_threads_capture, called from od_test_capture_here");
    ok(p.nsamples > 1 && p.samples[0].values[0] >= p.samples[p.nsamples - 1].values[0],
       "samples sorted by count");
    od_profile_dispose(&p);

    /* two captures at once */
    pthread_t c[2];
    od_profile_t cp[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&c[i], NULL, capture_main, &cp[i]);
    void *rc[2];
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], &rc[i]);
    ok(rc[0] == NULL && rc[1] == NULL && nthreads(&cp[0]) == 5 && nthreads(&cp[1]) == 5 &&
           find_thread(&cp[0], "worker-2") && find_thread(&cp[1], "worker-2"),
       "two concurrent captures both see everyone (%d, %d)", nthreads(&cp[0]), nthreads(&cp[1]));
    od_profile_dispose(&cp[0]);
    od_profile_dispose(&cp[1]);

    release_parked();
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

/* --- profiler threads -------------------------------------------------------------------- */

static void *marked_main(void *arg)
{
    od_thread_register(arg);
    od_thread_mark_profiler();
    od_thread_set_state("idle");
    worker_parked_in_here();
    od_thread_unregister();
    return NULL;
}

/* prof-* and marked threads are labelled profiler=yes, never grouped with the server's own
 * threads (even on the same stack), and folded into one line of the text form when idle */
static void test_profiler_threads(void)
{
    release_all = 0;
    parked = 0;
    pthread_t t[4];
    pthread_create(&t[0], NULL, parked_main, "prof-job-0");
    pthread_create(&t[1], NULL, parked_main, "prof-job-1");
    pthread_create(&t[2], NULL, marked_main, "scheduler");
    pthread_create(&t[3], NULL, parked_main, "worker-1");
    wait_parked(4);
    od_profile_t p;
    ok(od_test_capture_here(&p) == 0, "capture with profiler threads");
    const od_prof_sample_t *j = find_thread(&p, "prof-job-0"), *w = find_thread(&p, "worker-1"),
                           *sc = find_thread(&p, "scheduler");
    ok(j && j == find_thread(&p, "prof-job-1") && strcmp(label(j, "profiler"), "yes") == 0,
       "prof-job-0 and -1 share a sample labelled profiler=yes");
    ok(w && w != j && w != sc && strcmp(label(w, "profiler"), "") == 0,
       "worker-1, on the same stack, is a sample of its own without the label");
    ok(sc && strcmp(label(sc, "profiler"), "yes") == 0, "the marked scheduler is a profiler thread");

    od_buf_t text = OD_BUF_INIT, err = OD_BUF_INIT;
    ok(od_render_text(&p, &text, &err) == 0, "text form");
    const char *fold = text.base ? strstr(text.base, "3 @ prof-* \xc3\x97"
                                                     "3 waiting\n# threads: ")
                                 : NULL;
    ok(fold != NULL, "the three idle profiler threads are folded into one line");
    const char *wk = text.base ? strstr(text.base, "worker-1") : NULL;
    ok(wk && (fold == NULL || wk < fold) && strstr(text.base, "\n# threads: worker-1\n") != NULL,
       "worker-1 keeps its own group");
    int stacks_of_prof = 0;
    for (const char *q = text.base; q && (q = strstr(q, "# threads: ")) != NULL; q++)
        if (strncmp(q + 11, "prof-job", 8) == 0 && q < fold) stacks_of_prof = 1;
    ok(!stacks_of_prof, "no other group names a profiler thread");
    if (fold == NULL) diag("%s", text.base ? text.base : "");
    od_buf_dispose(&text);
    od_buf_dispose(&err);
    od_profile_dispose(&p);
    release_parked();
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

/* --- deaf and leaving threads ------------------------------------------------------------ */

static int deaf_go, deaf_stop;

static void *deaf_main(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, OD_THREADS_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    od_thread_register(arg);
    od_thread_set_state("deaf");
    if (strcmp(arg, "leaver") == 0) {
        while (!__atomic_load_n(&deaf_go, __ATOMIC_ACQUIRE))
            od_sleep_ns(100000);
        od_sleep_ns(20000000); /* exit 20 ms into the capture */
    } else {
        while (!__atomic_load_n(&deaf_stop, __ATOMIC_ACQUIRE))
            od_sleep_ns(1000000);
    }
    od_thread_unregister();
    return NULL;
}

static void test_deaf(void)
{
    pthread_t d;
    int base = od_threads_count(); /* the tester, and the symbolizer's thread once it ran */
    pthread_create(&d, NULL, deaf_main, "deaf");
    while (od_threads_count() < base + 1)
        od_sleep_ns(1000000);
    od_profile_t p;
    uint64_t t0 = od_now_ns();
    ok(od_threads_capture(&p) == 0, "capture with a thread that blocks the signal");
    uint64_t took = od_now_ns() - t0;
    const od_prof_sample_t *s = find_thread(&p, "deaf");
    ok(took >= 90000000ull && took < 1000000000ull, "bounded wait (%.0f ms)", took / 1e6);
    ok(s && s->npcs == 0 && strcmp(label(s, "state"), "deaf (no stack)") == 0,
       "listed with no stack and '(no stack)' (%s)", s ? label(s, "state") : "-");
    od_profile_dispose(&p);
    __atomic_store_n(&deaf_stop, 1, __ATOMIC_RELEASE);
    pthread_join(d, NULL);

    pthread_t l;
    pthread_create(&l, NULL, deaf_main, "leaver");
    while (od_threads_count() < base + 1)
        od_sleep_ns(1000000);
    __atomic_store_n(&deaf_go, 1, __ATOMIC_RELEASE);
    t0 = od_now_ns();
    ok(od_threads_capture(&p) == 0, "capture while a thread exits");
    took = od_now_ns() - t0;
    ok(took < 90000000ull, "it stops waiting when the thread leaves (%.0f ms)", took / 1e6);
    ok(find_thread(&p, "leaver") == NULL && find_thread(&p, "tester") != NULL,
       "the departed thread is left out");
    od_profile_dispose(&p);
    pthread_join(l, NULL);
}

/* --- churn ------------------------------------------------------------------------------- */

static int churn_stop;

static void *short_lived(void *arg)
{
    od_thread_register("short-lived");
    od_sleep_ns((uint64_t)(uintptr_t)arg);
    od_thread_unregister();
    return NULL;
}

static void *churn_main(void *arg)
{
    (void)arg;
    unsigned i = 0;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
        pthread_t t;
        pthread_create(&t, NULL, short_lived, (void *)(uintptr_t)(i++ % 4 * 50000));
        pthread_join(t, NULL);
    }
    return NULL;
}

static void test_churn(void)
{
    pthread_t c[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&c[i], NULL, churn_main, NULL);
    int good = 0;
    for (int i = 0; i < 30; i++) {
        od_profile_t p;
        if (od_threads_capture(&p) == 0 && find_thread(&p, "tester")) good++;
        od_profile_dispose(&p);
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    ok(good == 30, "30 captures while threads come and go (%d good)", good);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_capture();
    test_profiler_threads();
    test_deaf();
    test_churn();
    return done_testing();
}
