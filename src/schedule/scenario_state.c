/* Which scenarios are running: see scenario_state.h. */
#include "schedule/scenario_state.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct od_scenario_state {
    pthread_mutex_t lock;                                            /* "scenarios": guards running[] */
    char running[OD_SCENARIO_RUNNING_MAX][OD_SCENARIO_NAME_MAX + 1]; /* [0, n): in the order started */
    int n;
};

od_scenario_state_t *od_scenario_state_create(void)
{
    od_scenario_state_t *st = od_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

void od_scenario_state_destroy(od_scenario_state_t *st)
{
    if (st == NULL) return;
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* the slot holding name, or -1; under the lock */
static int find(od_scenario_state_t *st, const char *name)
{
    int slot = -1;
    for (int i = 0; i < OD_SCENARIO_RUNNING_MAX; i++)
        if (strcmp(st->running[i], name) == 0) slot = i;
    return slot;
}

void od_scenario_state_start(od_scenario_state_t *st, const char *name)
{
    char n[OD_SCENARIO_NAME_MAX + 1];
    snprintf(n, sizeof(n), "%s", name);
    if (n[0] == '\0') return; /* "" marks a free slot */
    pthread_mutex_lock(&st->lock);
    if (find(st, n) < 0) {
        if (st->n == OD_SCENARIO_RUNNING_MAX) { /* forget the oldest */
            memmove(st->running[0], st->running[1], sizeof(st->running[0]) * (OD_SCENARIO_RUNNING_MAX - 1));
            st->n--;
        }
        memcpy(st->running[st->n++], n, sizeof(n));
    }
    pthread_mutex_unlock(&st->lock);
}

void od_scenario_state_end(od_scenario_state_t *st, const char *name)
{
    char n[OD_SCENARIO_NAME_MAX + 1];
    snprintf(n, sizeof(n), "%s", name);
    if (n[0] == '\0') return;
    pthread_mutex_lock(&st->lock);
    int slot = find(st, n);
    if (slot >= 0) { /* close the gap: running[] stays in the order of the starts */
        memmove(st->running[slot], st->running[slot + 1],
                sizeof(st->running[0]) * (size_t)(st->n - slot - 1));
        st->n--;
        st->running[st->n][0] = '\0';
    }
    pthread_mutex_unlock(&st->lock);
}

void od_scenario_state_current(od_scenario_state_t *st, char *out, size_t outsz)
{
    if (outsz == 0) return;
    pthread_mutex_lock(&st->lock);
    out[0] = '\0';
    for (int i = OD_SCENARIO_RUNNING_MAX - 1; i >= 0; i--) /* the latest started */
        if (st->running[i][0]) {
            snprintf(out, outsz, "%s", st->running[i]);
            break;
        }
    pthread_mutex_unlock(&st->lock);
}

size_t od_scenario_state_running(od_scenario_state_t *st, char (*names)[OD_SCENARIO_NAME_MAX + 1], size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < OD_SCENARIO_RUNNING_MAX && n < max; i++)
        if (st->running[i][0]) memcpy(names[n++], st->running[i], sizeof(names[0]));
    pthread_mutex_unlock(&st->lock);
    return n;
}
