/*
 * captures — the `profile` list: what to fetch from the target while the scenarios run.
 */
#include "scenario/loader.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The keys of one capture; a timeout of 0 (absent) lets orderload derive it from ?seconds=. */
static const od_lua_field_t capture_fields[] = {
    {"at", OD_LUA_T_DURATION, offsetof(od_capture_t, at_ns), 0, OD_SCENARIO_MAX_S,
     .help = "when to fetch, e.g. \"5s\"", .required = 1},
    {"path", OD_LUA_T_STRING, offsetof(od_capture_t, path), 0, 0, .help = "e.g. \"/profile/cpu?seconds=3\""},
    {"save", OD_LUA_T_STRING, offsetof(od_capture_t, save), 0, 0, .help = "a file name"},
    {"scenario", OD_LUA_T_STRING, offsetof(od_capture_t, scenario), 0, 0,
     .help = "`at` counts from its start"},
    {"timeout", OD_LUA_T_DURATION, offsetof(od_capture_t, timeout_ns), 0, OD_SCENARIO_MAX_S},
    {NULL}};

int od_scenario_parse_profile(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                              const od_lua_where_t *at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        od_scenario_report(
            ld, at, "profile must be a list of { at = \"5s\", path = \"/profile/...\", save = \"...\" }");
        return -1;
    }
    size_t n = lua_rawlen(L, t);
    if (n > 100) {
        od_scenario_report(ld, at, "profile lists %zu captures (at most 100)", n);
        return -1;
    }
    s->captures = od_calloc(n ? n : 1, sizeof(*s->captures));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i + 1);
        int e = lua_gettop(L);
        od_capture_t *c = &s->captures[s->ncaptures++];
        const od_lua_where_t *w = od_lua_where_item(at, i + 1);
        if (w == NULL) w = at; /* a list built elsewhere: its field */
        if (!lua_istable(L, e)) {
            od_scenario_report(ld, w, "profile[%zu] must be a table { at = ..., path = ..., save = ... }",
                               i + 1);
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "profile[%zu].", i + 1);
        if (od_lua_schema_apply(L, e, capture_fields, c, prefix, NULL, ld->src, w, ld->errors) != 0) {
            ld->nerrors++;
            rc = -1;
        }
        lua_pop(L, 1);
        if (c->path == NULL || c->path[0] != '/' || strpbrk(c->path, " \r\n") != NULL) {
            od_scenario_report(
                ld, od_scenario_key_pos("path", w),
                "profile[%zu].path must be a URL path starting with / (e.g. \"/profile/cpu?seconds=3\")",
                i + 1);
            rc = -1;
        }
        if (c->save != NULL && (c->save[0] == '\0' || c->save[0] == '.' || strchr(c->save, '/') != NULL)) {
            od_scenario_report(ld, od_scenario_key_pos("save", w),
                               "profile[%zu].save must be a plain file name (no directory)", i + 1);
            rc = -1;
        }
        if (c->scenario != NULL && od_scenario_set_find(s, c->scenario) == NULL) {
            od_scenario_report(ld, od_scenario_key_pos("scenario", w),
                               "profile[%zu].scenario: no scenario named \"%s\" in this file", i + 1,
                               c->scenario);
            rc = -1;
        }
        if (rc == 0 && c->save == NULL) {
            /* derive a name from the path: /profile/cpu?seconds=3 -> profile-cpu-<i>.out */
            od_buf_t b = OD_BUF_INIT;
            for (const char *p = c->path + 1; *p && *p != '?'; p++)
                od_buf_putc(&b, isalnum((unsigned char)*p) ? *p : '-');
            od_buf_printf(&b, "-%zu.out", i + 1);
            c->save = od_buf_detach(&b, NULL);
        }
    }
    return rc;
}
