/* STUB: registry only; live stack capture comes with the profiling work. */
#include "prof/threads.h"

#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
    int used;
    char name[32];
    int tid;
    const char *state;
} slots[OD_THREADS_MAX];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int my_slot = -1;

void od_thread_register(const char *name)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++) {
        if (!slots[i].used) {
            slots[i].used = 1;
            snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
            slots[i].tid = (int)syscall(SYS_gettid);
            slots[i].state = "running";
            my_slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    char kname[16];
    snprintf(kname, sizeof(kname), "%s", name);
    pthread_setname_np(pthread_self(), kname);
}

void od_thread_unregister(void)
{
    if (my_slot < 0) return;
    pthread_mutex_lock(&reg_lock);
    slots[my_slot].used = 0;
    pthread_mutex_unlock(&reg_lock);
    my_slot = -1;
}

const char *od_thread_name(void)
{
    return my_slot < 0 ? "unnamed" : slots[my_slot].name;
}

int od_thread_slot(void)
{
    return my_slot;
}

void od_thread_set_state(const char *state)
{
    if (my_slot >= 0) __atomic_store_n(&slots[my_slot].state, state, __ATOMIC_RELAXED);
}

int od_threads_capture(od_profile_t *p)
{
    (void)p;
    return -1;
}

void od_threads_foreach(void (*fn)(int slot, const char *name, int tid, void *arg), void *arg)
{
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < OD_THREADS_MAX; i++)
        if (slots[i].used) fn(i, slots[i].name, slots[i].tid, arg);
    pthread_mutex_unlock(&reg_lock);
}
