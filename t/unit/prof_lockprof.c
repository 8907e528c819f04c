/*
 * prof_lockprof — mutex and block profiling: contended od_mutex waits are recorded with the
 * waiter's stack, count and delay; blocking waits at or above the rate are recorded, the
 * others not; off means off; the table stays bounded.  TAP.
 *
 * The functions whose names the test looks for in the stacks are global (the binary links
 * with -rdynamic, so dladdr finds them) and noinline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "prof/lockprof.h"
#include "tap.h"
#include "testutil.h"

/* Every pc in a lockprof stack is a return address, the leaf too: fn_name(pc, 0). */

/* --- mutex ------------------------------------------------------------------------------- */

static od_mutex_t hot;
static od_mutex_t *target = &hot; /* the lock hammer_the_lock contends for */
static long shared_counter;

void hammer_the_lock(int iterations);
__attribute__((noinline)) void hammer_the_lock(int iterations)
{
    for (int i = 0; i < iterations; i++) {
        od_mutex_lock(target);
        uint64_t until = od_now_ns() + 20000; /* hold 20 us: the other thread must wait */
        while (od_now_ns() < until)
            shared_counter++;
        od_mutex_unlock(target);
        until = od_now_ns() + 5000; /* and let go a while, so that both keep contending */
        while (od_now_ns() < until)
            __asm__ volatile("" ::: "memory");
    }
    __asm__ volatile("" ::: "memory"); /* keep the frame: no tail call into the loop */
}

static int arrived;

static void *hammer_main(void *arg)
{
    __atomic_add_fetch(&arrived, 1, __ATOMIC_RELEASE);
    hammer_the_lock(*(int *)arg);
    return NULL;
}

/* two threads hammer the lock; it is held when they arrive, so that both wait at least
 * once even on a single CPU */
static void hammer(int iterations)
{
    pthread_t t[2];
    __atomic_store_n(&arrived, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&target->m);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, hammer_main, &iterations);
    while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < 2)
        od_sleep_ns(100000);
    od_sleep_ns(5000000);
    pthread_mutex_unlock(&target->m);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}

static void test_mutex(void)
{
    od_mutex_init(&hot, "hot");
    od_lockprof_reset();

    od_lockprof_configure(0, 0);
    hammer(300);
    ok(od_lockprof_count(OD_PROF_MUTEX) == 0, "fraction 0: no mutex event recorded");

    od_lockprof_configure(1, 0);
    hammer(300);
    uint64_t n = od_lockprof_count(OD_PROF_MUTEX);
    ok(n > 0, "fraction 1: contended acquisitions recorded (%llu)", (unsigned long long)n);

    od_profile_t p;
    ok(od_lockprof_snapshot(&p, OD_PROF_MUTEX) == 0, "mutex snapshot");
    ok(p.kind == OD_PROF_MUTEX && p.ntypes == 2 && strcmp(p.types[0].type, "contentions") == 0 &&
           strcmp(p.types[1].type, "delay") == 0 && strcmp(p.types[1].unit, "nanoseconds") == 0,
       "sample types contentions/count, delay/nanoseconds");
    int64_t count = 0, delay = 0;
    int leaf_is_caller = 0, has_caller = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        count += p.samples[i].values[0];
        delay += p.samples[i].values[1];
        if (stack_has(&p.samples[i], "hammer_the_lock", 0)) has_caller = 1;
        if (p.samples[i].npcs && strcmp(fn_name(p.samples[i].pcs[0], 0), "hammer_the_lock") == 0)
            leaf_is_caller = 1;
    }
    ok(p.nsamples > 0 && count == (int64_t)n, "samples hold every event (count %lld)", (long long)count);
    ok(delay > 0, "delay recorded (%lld ns)", (long long)delay);
    ok(has_caller, "a stack contains the caller hammer_the_lock");
    ok(leaf_is_caller, "the lockprof frames are skipped: the leaf is hammer_the_lock");
    int has_thread_main = 0;
    for (size_t i = 0; i < p.nsamples; i++)
        if (p.samples[i].npcs >= 2 && p.samples[i].npcs <= OD_PROF_MAX_DEPTH) has_thread_main = 1;
    ok(has_thread_main, "stacks go beyond the leaf");
    od_profile_dispose(&p);

    /* 1 of 2: whatever is recorded is scaled by the fraction */
    od_lockprof_reset();
    od_lockprof_configure(2, 0);
    hammer(300);
    ok(od_lockprof_snapshot(&p, OD_PROF_MUTEX) == 0, "snapshot at fraction 2");
    int scaled = 1;
    count = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        count += p.samples[i].values[0];
        if (p.samples[i].values[0] % 2 != 0) scaled = 0;
    }
    ok(scaled && count == 2 * (int64_t)od_lockprof_count(OD_PROF_MUTEX),
       "fraction 2: each recorded event counts 2 (estimated total %lld)", (long long)count);
    od_profile_dispose(&p);
    od_lockprof_configure(0, 0);
    od_mutex_destroy(&hot);
}

/* the same stack waiting on two locks: two samples, told apart by their `lock` label */
static void test_lock_labels(void)
{
    od_mutex_t inv, res;
    od_mutex_init(&inv, "inventory");
    od_mutex_init(&res, "results");
    od_lockprof_reset();
    od_lockprof_configure(1, 0);
    target = &inv;
    hammer(100);
    target = &res;
    hammer(100);
    target = &hot;
    od_lockprof_configure(0, 0);
    od_profile_t p;
    ok(od_lockprof_snapshot(&p, OD_PROF_MUTEX) == 0, "mutex snapshot with two locks");
    const od_prof_sample_t *on[2] = {NULL, NULL};
    size_t unlabelled = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        const od_prof_sample_t *s = &p.samples[i];
        const char *lock = NULL;
        for (size_t l = 0; l < s->nlabels; l++)
            if (s->labels[l].str && strcmp(s->labels[l].key, "lock") == 0) lock = s->labels[l].str;
        if (lock == NULL) unlabelled++;
        int k = lock && strcmp(lock, "inventory") == 0 ? 0 : lock && strcmp(lock, "results") == 0 ? 1 : -1;
        if (k >= 0 && s->npcs > 0 && strcmp(fn_name(s->pcs[0], 0), "hammer_the_lock") == 0) on[k] = s;
    }
    ok(unlabelled == 0, "every mutex sample has a lock label (%zu without)", unlabelled);
    ok(on[0] && on[1], "hammer_the_lock's waits appear on both \"inventory\" and \"results\"");
    int same = 0;
    for (size_t i = 0; i < p.nsamples && on[0]; i++)
        for (size_t j = 0; j < p.nsamples; j++)
            if (i != j && p.samples[i].npcs == p.samples[j].npcs && p.samples[i].npcs > 0 &&
                memcmp(p.samples[i].pcs, p.samples[j].pcs, p.samples[i].npcs * sizeof(uintptr_t)) == 0)
                same = 1;
    ok(same, "identical stacks on the two locks stay separate samples");
    od_profile_dispose(&p);
    od_lockprof_reset();
    od_mutex_destroy(&inv);
    od_mutex_destroy(&res);
}

/* --- block ------------------------------------------------------------------------------- */

void sleepy_payment_wait(void);
__attribute__((noinline)) void sleepy_payment_wait(void)
{
    od_block_sleep_ns(2000000);
    __asm__ volatile("" ::: "memory");
}

void short_nap(void);
__attribute__((noinline)) void short_nap(void)
{
    od_block_sleep_ns(1000000);
    __asm__ volatile("" ::: "memory");
}

void wait_on_condvar(void);
__attribute__((noinline)) void wait_on_condvar(void)
{
    od_mutex_t m;
    pthread_cond_t c;
    od_mutex_init(&m, "cv");
    od_cond_init(&c);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 3000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    od_mutex_lock(&m);
    int rc = od_cond_timedwait(&c, &m, &ts);
    od_mutex_unlock(&m);
    ok(rc == ETIMEDOUT, "od_cond_timedwait times out with ETIMEDOUT");
    pthread_cond_destroy(&c);
    od_mutex_destroy(&m);
}

static const od_prof_sample_t *find_sample(const od_profile_t *p, const char *fn)
{
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].npcs && strcmp(fn_name(p->samples[i].pcs[0], 0), fn) == 0) return &p->samples[i];
    return NULL;
}

static void test_block(void)
{
    od_lockprof_reset();
    od_lockprof_configure(0, 0);
    sleepy_payment_wait();
    ok(od_lockprof_count(OD_PROF_BLOCK) == 0, "rate 0: nothing recorded");

    od_lockprof_configure(0, 1000000); /* 1 ms */
    sleepy_payment_wait();
    ok(od_lockprof_count(OD_PROF_BLOCK) == 1, "a 2 ms sleep at rate 1 ms is recorded");

    od_lockprof_configure(0, 10000000); /* 10 ms */
    short_nap();
    ok(od_lockprof_count(OD_PROF_BLOCK) == 1, "a 1 ms sleep at rate 10 ms is not");

    od_lockprof_configure(0, 1);
    wait_on_condvar();
    uint64_t tok = od_block_begin();
    od_sleep_ns(100000);
    od_block_end(tok);
    ok(od_lockprof_count(OD_PROF_BLOCK) == 3, "rate 1: cond wait and begin/end recorded");

    od_profile_t p;
    ok(od_lockprof_snapshot(&p, OD_PROF_BLOCK) == 0 && p.kind == OD_PROF_BLOCK, "block snapshot");
    const od_prof_sample_t *s = find_sample(&p, "sleepy_payment_wait");
    ok(s != NULL, "the sleep's stack starts in sleepy_payment_wait");
    ok(s && s->values[0] == 1 && s->values[1] >= 2000000, "count 1, delay >= 2 ms (%lld ns)",
       s ? (long long)s->values[1] : -1LL);
    ok(find_sample(&p, "short_nap") == NULL, "the short nap is absent");
    s = find_sample(&p, "wait_on_condvar");
    ok(s && s->values[1] >= 3000000, "the cond wait is recorded with its delay");
    od_profile_dispose(&p);

    od_profile_t q;
    ok(od_lockprof_snapshot(&q, OD_PROF_CPU) == -1, "snapshot of another kind fails");
    od_profile_dispose(&q);
    od_lockprof_configure(0, 0);
}

/* --- bounded table ----------------------------------------------------------------------- */

/* 13 binary choices: 8192 distinct stacks, twice the table's capacity */
void branch_a(unsigned bits, int depth);
void branch_b(unsigned bits, int depth);
static void leaf_event(void)
{
    uint64_t t = od_block_begin();
    od_block_end(t - 1000); /* the token is a start time: pretend 1 us went by */
}
__attribute__((noinline)) void branch_a(unsigned bits, int depth)
{
    if (depth == 0)
        leaf_event();
    else if (bits & 1)
        branch_a(bits >> 1, depth - 1);
    else
        branch_b(bits >> 1, depth - 1);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void branch_b(unsigned bits, int depth)
{
    if (depth == 0)
        leaf_event();
    else if (bits & 1)
        branch_a(bits >> 1, depth - 1);
    else
        branch_b(bits >> 1, depth - 1);
    __asm__ volatile("" ::: "memory");
}

static void test_overflow(void)
{
    od_lockprof_reset();
    od_lockprof_configure(0, 1);
    for (unsigned i = 0; i < 8192; i++)
        branch_a(i, 13);
    od_lockprof_configure(0, 0);
    uint64_t stacks = od_lockprof_stacks(OD_PROF_BLOCK);
    ok(od_lockprof_count(OD_PROF_BLOCK) == 8192, "8192 events recorded");
    ok(stacks <= OD_LOCKPROF_MAX_STACKS + 1, "at most %d stacks kept (+ overflow): %llu",
       OD_LOCKPROF_MAX_STACKS, (unsigned long long)stacks);
    od_profile_t p;
    od_lockprof_snapshot(&p, OD_PROF_BLOCK);
    int64_t total = 0, overflow = -1;
    for (size_t i = 0; i < p.nsamples; i++) {
        total += p.samples[i].values[0];
        if (p.samples[i].nlabels && strcmp(p.samples[i].labels[0].key, "overflow") == 0)
            overflow = p.samples[i].values[0];
    }
    ok(total == 8192, "every event counted, kept or not (%lld)", (long long)total);
    ok(overflow > 0 && p.nsamples <= OD_LOCKPROF_MAX_STACKS + 1, "the rest is in the overflow sample (%lld)",
       (long long)overflow);
    od_profile_dispose(&p);
    od_lockprof_reset();
    ok(od_lockprof_count(OD_PROF_BLOCK) == 0 && od_lockprof_stacks(OD_PROF_BLOCK) == 0, "reset forgets");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_mutex();
    test_lock_labels();
    test_block();
    test_overflow();
    return done_testing();
}
