/*
 * schedule_load — loading and checking lua/schedule.lua: runs the script in a bounded state
 * (lua_layer.h's sandbox policy) and checks the list of entries it returns through a schema
 * (od_lua_field_t: keys, kinds, durations, `when` a function) and the checks across keys
 * (one trigger, a capture, cooldown with when only), each problem reported by od_lua_report
 * as "FILE:LINE: entry N: message" at the line of the offending key or entry (line 1 when
 * the list is built in code, which the source map cannot place).  od_schedule_check (declared in schedule.h,
 * the module's public face) is this with a state of its own; the scheduler (schedule.c) keeps the state and
 * runs the entries' `when` functions in it.
 *
 * Threads: a lua_State and the entries loaded into it belong to the thread that loaded them.
 */
#ifndef OD_SCHEDULE_LOAD_H
#define OD_SCHEDULE_LOAD_H

#include <lua.h>
#include <stdint.h>

#include "prof/capture.h"
#include "base/util.h"

#define OD_SCHEDULE_WHEN_BUDGET 1000000L     /* instructions per when(s) call */
#define OD_SCHEDULE_STATE_MEMORY (32u << 20) /* the scheduler's Lua state */
#define OD_SCHEDULE_LABEL_MAX 48

/* --- entries ---------------------------------------------------------------------------------- */

typedef enum od_schedule_trigger { OD_TRIGGER_AT, OD_TRIGGER_EVERY, OD_TRIGGER_WHEN } od_schedule_trigger_t;

typedef struct od_schedule_entry {
    int index; /* 1-based, in the list */
    int line;  /* in the script */
    od_schedule_trigger_t trigger;
    uint64_t period_ns; /* at: delay after start; every: period; when: cooldown */
    int when_ref;       /* when: the function, in the scheduler's state */
    od_capture_kind_t kinds[OD_CAP_COUNT];
    int nkinds;
    double seconds;  /* cpu and trace window; for the others a delta window when explicit */
    int seconds_set; /* `seconds` was given */
    od_prof_format_t fmt;
    char fmt_name[16];
    char label[OD_SCHEDULE_LABEL_MAX + 1];

    /* run time, scheduler thread only (but `running`, which capture threads decrement) */
    uint64_t next_ns; /* at, every: when due */
    int fired;        /* at: done; when: fired at least once */
    uint64_t last_fired_ns;
    int running; /* atomic: captures of this entry in flight */
    uint64_t err_logged_ns;
    unsigned err_suppressed;
    size_t kept; /* bytes the state grew by across this entry's calls since it was (re)built */
} od_schedule_entry_t;

/**
 * runs the script at path in L and checks the list it returns into *out (n entries, an array
 * you then own: release it with free(3); when_refs kept in L's registry when keep_refs);
 * one "FILE:LINE: message\n" per problem is appended to errors (NULL: not reported)
 * @return 0 if valid, -1 if not (*out is then NULL)
 */
int od_schedule_load(lua_State *L, const char *path, int max_seconds, int keep_refs,
                     od_schedule_entry_t **out, size_t *n, od_buf_t *errors);
/** @return a new bounded state for the schedule (OD_SCHEDULE_STATE_MEMORY, OD_SCHEDULE_WHEN_BUDGET
 *  instructions per call) with orderd.log; close it with od_lua_close */
lua_State *od_schedule_lua_new(void);

#endif
