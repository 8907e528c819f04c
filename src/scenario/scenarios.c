/*
 * scenarios — the `scenarios` table of a scenario file: each scenario's executor, rates,
 * stages and times (see scenario.h for the keys).  A scenario's keys are read through an
 * od_lua_field_t schema (lua_layer.h), as config.c reads the YAML; what the schema cannot say
 * (which keys each executor needs, the stages list) is checked here after it.
 */
#include "scenario/loader.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_NS 10000000000ull

const char *od_executor_name(od_executor_t e)
{
    switch (e) {
    case OD_EXEC_CONSTANT_RATE:
        return "constant-arrival-rate";
    case OD_EXEC_RAMPING_RATE:
        return "ramping-arrival-rate";
    case OD_EXEC_CONSTANT_CONCURRENCY:
        return "constant-concurrency";
    }
    return "?";
}

/* The keys of one of a ramping scenario's stages. */
static const od_lua_field_t stage_fields[] = {
    {"duration", OD_LUA_T_DURATION, offsetof(od_stage_t, duration_ns), 0, OD_SCENARIO_MAX_S, .required = 1},
    {"target", OD_LUA_T_DOUBLE, offsetof(od_stage_t, target), 0, 1e6,
     .help = "arrivals per second at its end", .required = 1},
    {NULL}};

static int parse_stages(od_scenario_loader_t *ld, lua_State *L, int idx, od_scenario_t *sc,
                        const od_lua_where_t *at)
{
    if (!lua_istable(L, idx)) {
        od_scenario_report(ld, at, "stages must be a list of { duration = ..., target = ... } (got a %s)",
                           luaL_typename(L, idx));
        return -1;
    }
    size_t n = lua_rawlen(L, idx);
    if (n == 0 || n > 1000) {
        od_scenario_report(ld, at, "stages must list 1 to 1000 stages");
        return -1;
    }
    sc->stages = od_calloc(n, sizeof(*sc->stages));
    sc->nstages = n;
    int rc = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const od_lua_where_t *w = od_lua_where_item(at, i + 1);
        if (w == NULL) w = at; /* a list built elsewhere: its field */
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "scenarios.%s.stages[%zu].", sc->name, i + 1);
        if (!lua_istable(L, -1)) {
            od_scenario_report(ld, w,
                               "scenarios.%s.stages[%zu] must be a table { duration = ..., target = ... }",
                               sc->name, i + 1);
            rc = -1;
        } else if (od_lua_schema_apply(L, lua_gettop(L), stage_fields, &sc->stages[i], prefix, NULL, ld->src,
                                       w, ld->errors) != 0) {
            ld->nerrors++;
            rc = -1;
        }
        total += sc->stages[i].duration_ns;
        lua_pop(L, 1);
    }
    sc->duration_ns = total;
    return rc;
}

static int apply_executor(lua_State *L, int idx, void *member, od_buf_t *why)
{
    static const struct {
        const char *name;
        od_executor_t e;
    } known[] = {{"constant-arrival-rate", OD_EXEC_CONSTANT_RATE},
                 {"ramping-arrival-rate", OD_EXEC_RAMPING_RATE},
                 {"constant-concurrency", OD_EXEC_CONSTANT_CONCURRENCY}};
    const char *e = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
    for (size_t i = 0; e && i < OD_ARRAY_SIZE(known); i++)
        if (strcmp(e, known[i].name) == 0) {
            *(od_executor_t *)member = known[i].e;
            return 0;
        }
    od_buf_printf(why,
                  "must be constant-arrival-rate, ramping-arrival-rate or constant-concurrency, got %s%s%s",
                  e ? "\"" : "a ", e ? e : luaL_typename(L, idx), e ? "\"" : "");
    return -1;
}

static int apply_follow(lua_State *L, int idx, void *member, od_buf_t *why)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        *(int *)member = lua_toboolean(L, idx);
        return 0;
    }
    const char *v = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
    od_buf_printf(why,
                  "must be true or false (follow each 202's Location until the order is done), got %s%s%s",
                  v ? "\"" : "a ", v ? v : luaL_typename(L, idx), v ? "\"" : "");
    return -1;
}

/* The keys of scenarios.NAME, the way config.c's table drives the YAML. */
static const od_lua_field_t scenario_fields[] = {
    {"executor", OD_LUA_T_CUSTOM, offsetof(od_scenario_t, executor), .apply = apply_executor},
    {"rate", OD_LUA_T_DOUBLE, offsetof(od_scenario_t, rate), 1e-3, 1e6, .help = "arrivals per second"},
    {"start_rate", OD_LUA_T_DOUBLE, offsetof(od_scenario_t, start_rate), 0, 1e6,
     .help = "arrivals per second at the start"},
    {"stages", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"duration", OD_LUA_T_DURATION, offsetof(od_scenario_t, duration_ns), 0, OD_SCENARIO_MAX_S},
    {"start_time", OD_LUA_T_DURATION, offsetof(od_scenario_t, start_time_ns), 0, OD_SCENARIO_MAX_S},
    {"connections", OD_LUA_T_U32, offsetof(od_scenario_t, connections), 1, 100000},
    {"max_backlog", OD_LUA_T_U32, offsetof(od_scenario_t, max_backlog), 1, 10000000},
    {"pipeline", OD_LUA_T_U32, offsetof(od_scenario_t, pipeline), 1, OD_SCENARIO_MAX_PIPELINE,
     .help = "requests in flight on one connection"},
    {"timeout", OD_LUA_T_DURATION, offsetof(od_scenario_t, timeout_ns), 0.001, 600, .help = "per request"},
    {"follow", OD_LUA_T_CUSTOM, offsetof(od_scenario_t, follow), .apply = apply_follow},
    {NULL}};

/* Returns 1 when table t has key k. */
static int has(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    int r = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return r;
}

/* Parses scenarios.NAME (the table at the top of the stack). */
static int parse_scenario(od_scenario_loader_t *ld, lua_State *L, const char *name, od_scenario_t *sc,
                          const od_lua_where_t *at)
{
    int t = lua_gettop(L);
    int rc = 0;
    sc->name = od_strdup(name);
    sc->timeout_ns = DEFAULT_TIMEOUT_NS;
    if (!od_name_valid(name, strlen(name), 64)) { /* the message below says 64 */
        od_scenario_report(ld, at, "scenario name \"%s\" must be 1 to 64 of [A-Za-z0-9_-]", name);
        rc = -1;
    }
    if (!lua_istable(L, t)) {
        od_scenario_report(ld, at, "scenarios.%s must be a table (got a %s)", name, luaL_typename(L, t));
        return -1;
    }
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "scenarios.%s.", name);
    if (od_lua_schema_apply(L, t, scenario_fields, sc, prefix, NULL, ld->src, at, ld->errors) != 0) {
        ld->nerrors++;
        rc = -1;
    }
    int has_exec = has(L, t, "executor"), has_rate = has(L, t, "rate"), has_dur = has(L, t, "duration"),
        has_stages = has(L, t, "stages"), has_start_rate = has(L, t, "start_rate");
    if (rc == 0 && has_dur && sc->duration_ns == 0) {
        od_scenario_report(ld, od_scenario_key_pos("duration", at), "%sduration must be more than 0", prefix);
        rc = -1;
    }
    if (has_stages) {
        lua_getfield(L, t, "stages");
        if (parse_stages(ld, L, lua_gettop(L), sc, od_scenario_key_pos("stages", at)) != 0) rc = -1;
        lua_pop(L, 1);
    }
    if (rc != 0) return rc;
    if (!has_exec) sc->executor = has_stages ? OD_EXEC_RAMPING_RATE : OD_EXEC_CONSTANT_RATE;
    switch (sc->executor) {
    case OD_EXEC_CONSTANT_RATE:
        if (!has_rate)
            od_scenario_report(ld, at, "scenarios.%s: constant-arrival-rate needs rate (per second)", name);
        if (!has_dur) od_scenario_report(ld, at, "scenarios.%s: constant-arrival-rate needs duration", name);
        if (has_stages || has_start_rate)
            od_scenario_report(ld, at, "scenarios.%s: stages and start_rate belong to ramping-arrival-rate",
                               name);
        if (!has_rate || !has_dur || has_stages || has_start_rate) rc = -1;
        break;
    case OD_EXEC_RAMPING_RATE:
        if (!has_stages) od_scenario_report(ld, at, "scenarios.%s: ramping-arrival-rate needs stages", name);
        if (has_rate || has_dur)
            od_scenario_report(
                ld, at,
                "scenarios.%s: ramping-arrival-rate takes start_rate and stages, not rate or duration", name);
        if (!has_stages || has_rate || has_dur)
            rc = -1;
        else if (sc->duration_ns == 0) {
            od_scenario_report(ld, at, "scenarios.%s: the stages last 0 s", name);
            rc = -1;
        }
        break;
    case OD_EXEC_CONSTANT_CONCURRENCY:
        if (!has_dur) od_scenario_report(ld, at, "scenarios.%s: constant-concurrency needs duration", name);
        if (sc->connections == 0)
            od_scenario_report(ld, at, "scenarios.%s: constant-concurrency needs connections", name);
        if (has_rate || has_stages || has_start_rate)
            od_scenario_report(
                ld, at, "scenarios.%s: constant-concurrency takes no rate, start_rate or stages", name);
        if (sc->pipeline > 1)
            od_scenario_report(ld, od_scenario_key_pos("pipeline", at),
                               "scenarios.%s: pipeline belongs to the arrival-rate executors (a "
                               "constant-concurrency connection sends when its answer is in)",
                               name);
        if (!has_dur || sc->connections == 0 || has_rate || has_stages || has_start_rate || sc->pipeline > 1)
            rc = -1;
        break;
    }
    return rc;
}

void od_scenario_dispose(od_scenario_t *sc)
{
    free(sc->name);
    free(sc->stages);
}

static int cmp_scenario(const void *a, const void *b)
{
    const od_scenario_t *x = a, *y = b;
    if (x->start_time_ns != y->start_time_ns) return x->start_time_ns < y->start_time_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

int od_scenario_parse_scenarios(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                const od_lua_where_t *at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        od_scenario_report(ld, at, "scenarios must be a table { name = { executor = ..., ... } } (got a %s)",
                           luaL_typename(L, t));
        return -1;
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        n++;
        lua_pop(L, 1);
    }
    if (n == 0) {
        od_scenario_report(ld, at, "scenarios is empty: name at least one");
        return -1;
    }
    s->scenarios = od_calloc(n, sizeof(*s->scenarios));
    int rc = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            od_scenario_report(ld, at, "scenarios: each key must be a scenario name (got a %s)",
                               luaL_typename(L, -2));
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        const char *name = lua_tostring(L, -2);
        const od_lua_where_t *np = od_scenario_key_pos(name, at);
        if (parse_scenario(ld, L, name, &s->scenarios[s->nscenarios++], np) != 0) rc = -1;
        lua_settop(L, t + 1); /* keep the key for lua_next */
    }
    qsort(s->scenarios, s->nscenarios, sizeof(*s->scenarios), cmp_scenario);
    return rc;
}
