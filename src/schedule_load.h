/*
 * schedule_load — loading and checking lua/schedule.lua: the list of entries it returns, each
 * checked (keys, kinds, durations, `when` a function, required fields) with every problem
 * reported as "FILE:LINE: message".  The scheduler (schedule.c) runs what this loads.
 *
 * Threads: a lua_State and the entries loaded into it belong to the thread that loaded them.
 */
#ifndef OD_SCHEDULE_LOAD_H
#define OD_SCHEDULE_LOAD_H

#include <lua.h>
#include <stdint.h>

#include "prof/capture.h"
#include "util.h"

#define WHEN_BUDGET 1000000L     /* instructions per when(s) call */
#define STATE_MEMORY (32u << 20) /* the scheduler's Lua state */
#define LABEL_MAX 48

/* --- entries ---------------------------------------------------------------------------------- */

typedef enum trigger { T_AT, T_EVERY, T_WHEN } trigger_t;

typedef struct entry {
    int index; /* 1-based, in the list */
    int line;  /* in the script */
    trigger_t trigger;
    uint64_t period_ns; /* at: delay after start; every: period; when: cooldown */
    int when_ref;       /* when: the function, in the scheduler's state */
    od_capture_kind_t kinds[OD_CAP_COUNT];
    int nkinds;
    double seconds;  /* cpu and trace window; for the others a delta window when explicit */
    int seconds_set; /* `seconds` was given */
    od_prof_format_t fmt;
    char fmt_name[16];
    char label[LABEL_MAX + 1];

    /* run time, scheduler thread only (but `running`, which capture threads decrement) */
    uint64_t next_ns; /* at, every: when due */
    int fired;        /* at: done; when: fired at least once */
    uint64_t last_fired_ns;
    int running; /* atomic: captures of this entry in flight */
    uint64_t err_logged_ns;
    unsigned err_suppressed;
    size_t kept; /* bytes the state grew by across this entry's calls since it was (re)built */
} entry_t;

/*
 * runs the script in L and checks the list it returns into *out (n entries; when_refs kept in
 * L when keep_refs); problems go to errors
 * @return 0 if valid, -1 if not
 */
int load_schedule(lua_State *L, const char *path, int max_seconds, int keep_refs, entry_t **out, size_t *n,
                  od_buf_t *errors);
/* a bounded state for the schedule, with orderd.log */
lua_State *new_state(void);

#endif
