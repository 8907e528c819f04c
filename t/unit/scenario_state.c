/*
 * scenario_state: which scenarios are running — start, end, a name started twice, a name
 * ended that was never started, overlapping scenarios, more than the slots hold, truncation,
 * and readers on other threads while announcements arrive.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "schedule/scenario_state.h"
#include "tap.h"

/* the running names joined by ',' (static buffer) */
static const char *running(od_scenario_state_t *st)
{
    static char out[OD_SCENARIO_RUNNING_MAX * (OD_SCENARIO_NAME_MAX + 2)];
    char names[OD_SCENARIO_RUNNING_MAX + 2][OD_SCENARIO_NAME_MAX + 1];
    size_t n = od_scenario_state_running(st, names, OD_SCENARIO_RUNNING_MAX + 2);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, ",");
        strcat(out, names[i]);
    }
    return out;
}

static const char *current(od_scenario_state_t *st)
{
    static char out[OD_SCENARIO_NAME_MAX + 1];
    od_scenario_state_current(st, out, sizeof(out));
    return out;
}

/* --- readers while announcements arrive ------------------------------------------------- */

static const char *const churn_names[] = {"alpha", "bravo-long-name-of-forty-characters-xxxxx", "c"};
static int churn_stop, churn_torn;

static void *reader(void *arg)
{
    od_scenario_state_t *st = arg;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
        char cur[OD_SCENARIO_NAME_MAX + 1];
        od_scenario_state_current(st, cur, sizeof(cur));
        int known = cur[0] == '\0';
        for (size_t i = 0; i < 3; i++)
            known |= strcmp(cur, churn_names[i]) == 0;
        if (!known) __atomic_add_fetch(&churn_torn, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

int main(void)
{
    od_scenario_state_t *st = od_scenario_state_create();
    is_str(current(st), "", "nothing running at first");
    is_str(running(st), "", "an empty list at first");

    od_scenario_state_start(st, "warmup");
    is_str(current(st), "warmup", "a started scenario is current");
    od_scenario_state_end(st, "warmup");
    is_str(current(st), "", "and gone once ended");
    is_str(running(st), "", "the list is empty again");

    od_scenario_state_end(st, "never-started");
    is_str(running(st), "", "ending a name never started changes nothing");
    od_scenario_state_start(st, "a");
    od_scenario_state_end(st, "b");
    is_str(running(st), "a", "not even beside a running one");

    od_scenario_state_start(st, "a");
    is_str(running(st), "a", "starting a running name again keeps one copy");

    /* overlap: b starts while a runs, then a ends first */
    od_scenario_state_start(st, "b");
    is_str(running(st), "a,b", "two overlapping scenarios are both listed, in start order");
    is_str(current(st), "b", "the later one is current");
    od_scenario_state_end(st, "a");
    is_str(current(st), "b", "ending the earlier one leaves the later current");
    od_scenario_state_start(st, "c");
    is_str(running(st), "b,c", "a new name is listed after those still running (start order)");
    is_str(current(st), "c", "so the current one is the latest started");
    od_scenario_state_end(st, "c");
    is_str(current(st), "b", "ending the latest makes the one started before it current again");
    od_scenario_state_end(st, "b");
    is_str(running(st), "", "all ended");

    /* more than the slots hold: the oldest is forgotten */
    char name[16];
    for (int i = 1; i <= OD_SCENARIO_RUNNING_MAX + 1; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        od_scenario_state_start(st, name);
    }
    is_str(running(st), "s2,s3,s4,s5,s6,s7,s8,s9", "one past the slots forgets the oldest");
    is_str(current(st), "s9", "the newest is current");
    od_scenario_state_end(st, "s1");
    is_str(running(st), "s2,s3,s4,s5,s6,s7,s8,s9", "ending the forgotten one changes nothing");
    for (int i = 2; i <= OD_SCENARIO_RUNNING_MAX + 1; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        od_scenario_state_end(st, name);
    }
    is_str(running(st), "", "all ended");

    /* lengths */
    char longname[OD_SCENARIO_NAME_MAX + 10];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    od_scenario_state_start(st, longname);
    is_int((int)strlen(current(st)), OD_SCENARIO_NAME_MAX, "a long name is kept to %d bytes",
           OD_SCENARIO_NAME_MAX);
    od_scenario_state_end(st, longname);
    is_str(current(st), "", "and ends by the same long name");
    od_scenario_state_start(st, "");
    is_str(running(st), "", "an empty name is not a scenario");
    od_scenario_state_start(st, "abcdef");
    char small[4] = "zzz";
    od_scenario_state_current(st, small, sizeof(small));
    is_str(small, "abc", "current truncates to its buffer");
    char one;
    od_scenario_state_current(st, &one, 1);
    is_int(one, '\0', "a one-byte buffer gets \"\"");
    char names[2][OD_SCENARIO_NAME_MAX + 1];
    od_scenario_state_start(st, "g");
    od_scenario_state_start(st, "h");
    is_int((int)od_scenario_state_running(st, names, 2), 2, "the list stops at max");
    od_scenario_state_end(st, "abcdef");
    od_scenario_state_end(st, "g");
    od_scenario_state_end(st, "h");

    /* readers on other threads never see a half-copied name */
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, st);
    for (int k = 0; k < 20000; k++) {
        const char *n = churn_names[k % 3];
        od_scenario_state_start(st, n);
        if (k % 2) od_scenario_state_end(st, churn_names[(k + 1) % 3]);
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    is_int(churn_torn, 0, "readers saw only whole names while 20000 announcements arrived");

    od_scenario_state_destroy(st);
    od_scenario_state_destroy(NULL);
    return done_testing();
}
