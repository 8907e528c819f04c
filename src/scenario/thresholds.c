/*
 * thresholds — the `thresholds` table: "[SCENARIO:]METRIC" keys with "OP VALUE" strings.
 */
#include "scenario/loader.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static int time_metric(const char *m)
{
    return strncmp(m, "latency.", 8) == 0 || strncmp(m, "service_time.", 13) == 0 ||
           strncmp(m, "send_delay.", 11) == 0 || strncmp(m, "completion.", 11) == 0;
}

/* Returns 1 when `m` names a metric thresholds understand. */
static int valid_metric(const char *m)
{
    static const char *const plain[] = {"scheduled", "sent",       "completed", "late", "dropped",
                                        "errors",    "error_rate", "drop_rate", "rate"};
    for (size_t i = 0; i < OD_ARRAY_SIZE(plain); i++)
        if (strcmp(m, plain[i]) == 0) return 1;
    if (!time_metric(m)) return 0;
    const char *stat = strchr(m, '.') + 1;
    if (strcmp(stat, "min") == 0 || strcmp(stat, "max") == 0 || strcmp(stat, "mean") == 0 ||
        strcmp(stat, "stdev") == 0)
        return 1;
    if (stat[0] != 'p') return 0;
    char *end;
    double p = strtod(stat + 1, &end);
    return end != stat + 1 && *end == '\0' && p > 0 && p <= 100;
}

static int parse_threshold_value(od_scenario_loader_t *ld, const char *metric, const char *v,
                                 const od_lua_where_t *at, od_threshold_t *th)
{
    while (isspace((unsigned char)*v))
        v++;
    if (strncmp(v, "<=", 2) == 0)
        th->op = OD_CMP_LE, v += 2;
    else if (strncmp(v, ">=", 2) == 0)
        th->op = OD_CMP_GE, v += 2;
    else if (strncmp(v, "==", 2) == 0)
        th->op = OD_CMP_EQ, v += 2;
    else if (*v == '<')
        th->op = OD_CMP_LT, v++;
    else if (*v == '>')
        th->op = OD_CMP_GT, v++;
    else {
        od_scenario_report(ld, at, "threshold %s: \"%s\" must start with <, <=, >, >= or ==", metric, v);
        return -1;
    }
    while (isspace((unsigned char)*v))
        v++;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    for (size_t n = strlen(buf); n > 0 && isspace((unsigned char)buf[n - 1]); n--)
        buf[n - 1] = '\0';
    if (time_metric(metric)) {
        uint64_t ns;
        size_t n = strlen(buf);
        if (n == 0 || !isalpha((unsigned char)buf[n - 1]) || od_parse_duration(buf, &ns) != 0) {
            od_scenario_report(ld, at, "threshold %s: \"%s\" must be a duration with a unit (e.g. 250ms)",
                               metric, buf);
            return -1;
        }
        th->limit = (double)ns / 1000.0;
        return 0;
    }
    char *end;
    double x = strtod(buf, &end);
    if (end == buf) {
        od_scenario_report(ld, at, "threshold %s: \"%s\" is not a number", metric, buf);
        return -1;
    }
    if (*end == '%') {
        x /= 100.0;
        end++;
    }
    if (*end != '\0') {
        od_scenario_report(ld, at, "threshold %s: \"%s\" is not a number", metric, buf);
        return -1;
    }
    th->limit = x;
    return 0;
}

static int add_threshold(od_scenario_loader_t *ld, od_scenario_set_t *s, const char *key, const char *value,
                         const od_lua_where_t *at)
{
    const char *colon = strchr(key, ':');
    const char *metric = colon ? colon + 1 : key;
    if (colon) {
        char *scope = od_strndup(key, (size_t)(colon - key));
        int found = od_scenario_set_find(s, scope) != NULL;
        free(scope);
        if (!found) {
            od_scenario_report(ld, at, "threshold \"%s\": no scenario named \"%.*s\" in this file", key,
                               (int)(colon - key), key);
            return -1;
        }
    }
    if (!valid_metric(metric)) {
        od_scenario_report(ld, at,
                           "threshold \"%s\": unknown metric (expected latency.S, service_time.S, "
                           "send_delay.S, completion.S with S = "
                           "min, mean, stdev, max or pN; scheduled, sent, completed, late, dropped, errors, "
                           "error_rate, drop_rate, rate)",
                           key);
        return -1;
    }
    od_threshold_t th = {0};
    if (parse_threshold_value(ld, metric, value, at, &th) != 0) return -1;
    th.scope = colon ? od_strndup(key, (size_t)(colon - key)) : NULL;
    th.metric = od_strdup(metric);
    const char *v = value;
    while (isspace((unsigned char)*v))
        v++;
    th.expr = od_asprintf("%s %s", key, v);
    s->thresholds = od_realloc(s->thresholds, (s->nthresholds + 1) * sizeof(*s->thresholds));
    s->thresholds[s->nthresholds++] = th;
    return 0;
}

int od_scenario_parse_thresholds(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                 const od_lua_where_t *at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        od_scenario_report(ld, at,
                           "thresholds must be a table { [\"latency.p99\"] = \"< 250ms\" } (got a %s)",
                           luaL_typename(L, t));
        return -1;
    }
    int rc = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            od_scenario_report(ld, at, "thresholds: keys must be metric names such as \"latency.p99\"");
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        const char *k = lua_tostring(L, -2);
        const od_lua_where_t *kp = od_scenario_key_pos(k, at);
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (add_threshold(ld, s, k, lua_tostring(L, -1), kp) != 0) rc = -1;
        } else if (lua_istable(L, -1)) {
            size_t n = lua_rawlen(L, -1);
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                if (lua_type(L, -1) != LUA_TSTRING) {
                    od_scenario_report(ld, kp, "thresholds[\"%s\"][%zu] must be a string such as \"< 250ms\"",
                                       k, i);
                    rc = -1;
                } else if (add_threshold(ld, s, k, lua_tostring(L, -1), kp) != 0) {
                    rc = -1;
                }
                lua_pop(L, 1);
            }
        } else {
            od_scenario_report(
                ld, kp, "thresholds[\"%s\"] must be a string such as \"< 250ms\" or a list of them", k);
            rc = -1;
        }
        lua_pop(L, 1);
    }
    return rc;
}
