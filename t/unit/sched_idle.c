/*
 * sched_idle — unit tests (TAP): a thread lowered to SCHED_IDLE raises itself back; a thread
 * started by an idle one is idle too (what a hand-over's child inherits); od_sched_idle_raise
 * finds every idle thread of a process and leaves the others alone.  Skipped where this user
 * may not raise a thread back (od_sched_idle_possible says no).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/sched_idle.h"
#include "tap.h"

static atomic_int stop, child_tid;

static void *idle_child(void *arg)
{
    (void)arg;
    atomic_store(&child_tid, (int)gettid());
    while (!atomic_load(&stop))
        usleep(1000);
    return NULL;
}

int main(void)
{
    if (!od_sched_idle_possible()) {
        printf("1..0 # SKIP this user cannot raise a thread from SCHED_IDLE (no CAP_SYS_NICE, RLIMIT_NICE < "
               "20)\n");
        return 0;
    }
    ok(sched_getscheduler(0) == SCHED_OTHER, "the test starts at SCHED_OTHER");
    ok(od_sched_idle_self(1) == 0 && sched_getscheduler(0) == SCHED_IDLE,
       "od_sched_idle_self(1): this thread idle");
    pthread_t t;
    ok(pthread_create(&t, NULL, idle_child, NULL) == 0, "a thread started meanwhile");
    ok(od_sched_idle_self(0) == 0 && sched_getscheduler(0) == SCHED_OTHER,
       "od_sched_idle_self(0): back to SCHED_OTHER");

    /* the thread inherited SCHED_IDLE; od_sched_idle_raise finds it in /proc/self/task (and any
     * other thread started meanwhile, such as a sanitizer's own) */
    while (atomic_load(&child_tid) == 0)
        usleep(1000);
    pid_t tid = (pid_t)atomic_load(&child_tid);
    ok(sched_getscheduler(tid) == SCHED_IDLE, "the thread started meanwhile is idle (inherited)");
    int raised = od_sched_idle_raise(getpid());
    ok(raised >= 1, "od_sched_idle_raise raised the idle threads (%d)", raised);
    ok(sched_getscheduler(tid) == SCHED_OTHER, "that thread among them: SCHED_OTHER");
    ok(od_sched_idle_raise(getpid()) == 0, "a second pass finds none");
    ok(sched_getscheduler(0) == SCHED_OTHER, "this thread was left alone");
    ok(od_sched_idle_raise(999999999) == -1, "a process that does not exist: -1");

    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    return done_testing();
}
