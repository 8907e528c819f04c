/*
 * captures — the `profile` list: what to fetch from the target while the scenarios run.
 */
#include "scenario/loader.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

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
        c->timeout_ns = 0;
        if (!lua_istable(L, e)) {
            od_scenario_report(ld, at, "profile[%zu] must be a table { at = ..., path = ..., save = ... }",
                               i + 1);
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        int has_at = 0;
        lua_pushnil(L);
        while (lua_next(L, e)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            char what[64];
            snprintf(what, sizeof(what), "profile[%zu].%s", i + 1, k);
            if (strcmp(k, "at") == 0) {
                has_at = 1;
                if (od_scenario_get_duration(ld, L, -1, what, at, &c->at_ns) != 0) rc = -1;
            } else if (strcmp(k, "timeout") == 0) {
                if (od_scenario_get_duration(ld, L, -1, what, at, &c->timeout_ns) != 0) rc = -1;
            } else if (strcmp(k, "path") == 0 || strcmp(k, "save") == 0 || strcmp(k, "scenario") == 0) {
                if (lua_type(L, -1) != LUA_TSTRING) {
                    od_scenario_report(ld, at, "%s must be a string", what);
                    rc = -1;
                } else {
                    const char *v = lua_tostring(L, -1);
                    char **dst = k[0] == 'p' ? &c->path : k[1] == 'a' ? &c->save : &c->scenario;
                    free(*dst);
                    *dst = od_strdup(v);
                }
            } else {
                od_scenario_report(ld, at, "%s: unknown key (expected at, path, save, scenario, timeout)",
                                   what);
                rc = -1;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (!has_at) {
            od_scenario_report(ld, at, "profile[%zu] needs at (when to fetch, e.g. \"5s\")", i + 1);
            rc = -1;
        }
        if (c->path == NULL || c->path[0] != '/' || strpbrk(c->path, " \r\n") != NULL) {
            od_scenario_report(
                ld, at,
                "profile[%zu].path must be a URL path starting with / (e.g. \"/profile/cpu?seconds=3\")",
                i + 1);
            rc = -1;
        }
        if (c->save != NULL && (c->save[0] == '\0' || c->save[0] == '.' || strchr(c->save, '/') != NULL)) {
            od_scenario_report(ld, at, "profile[%zu].save must be a plain file name (no directory)", i + 1);
            rc = -1;
        }
        if (c->scenario != NULL && od_scenario_set_find(s, c->scenario) == NULL) {
            od_scenario_report(ld, at, "profile[%zu].scenario: no scenario named \"%s\" in this file", i + 1,
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
        if (c->timeout_ns == 0) c->timeout_ns = 0; /* 0: orderload derives it from ?seconds= */
    }
    return rc;
}
