/* STUB: plain pthread wrappers; recording comes with the profiling work. */
#include "prof/lockprof.h"

#include <errno.h>

void od_lockprof_configure(int mutex_fraction, int64_t block_rate_ns)
{
    (void)mutex_fraction, (void)block_rate_ns;
}

void od_mutex_init(od_mutex_t *m, const char *name)
{
    pthread_mutex_init(&m->m, NULL);
    m->name = name;
}

void od_mutex_destroy(od_mutex_t *m)
{
    pthread_mutex_destroy(&m->m);
}

void od_mutex_lock(od_mutex_t *m)
{
    pthread_mutex_lock(&m->m);
}

void od_mutex_unlock(od_mutex_t *m)
{
    pthread_mutex_unlock(&m->m);
}

void od_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

void od_cond_wait(pthread_cond_t *c, od_mutex_t *m)
{
    pthread_cond_wait(c, &m->m);
}

int od_cond_timedwait(pthread_cond_t *c, od_mutex_t *m, const struct timespec *abs_monotonic)
{
    return pthread_cond_timedwait(c, &m->m, abs_monotonic);
}

void od_block_sleep_ns(uint64_t ns)
{
    od_sleep_ns(ns);
}

uint64_t od_block_begin(void)
{
    return od_now_ns();
}

void od_block_end(uint64_t token)
{
    (void)token;
}

int od_lockprof_snapshot(od_profile_t *p, od_prof_kind_t kind)
{
    (void)p, (void)kind;
    return -1;
}

uint64_t od_lockprof_count(od_prof_kind_t kind)
{
    (void)kind;
    return 0;
}
