/*
 * scenario — see scenario.h.  Loading is: run the file (protected, under an instruction
 * budget), then walk the returned table key by key, copying plain values into the set and
 * reporting each problem with the position of the key that holds it.
 */
#include "scenario/scenario.h"

#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "luautil.h"

#define MAX_INSTRUCTIONS 200000000 /* loading a scenario file never needs more */
#define DEFAULT_TIMEOUT_NS 10000000000ull

struct od_scenario_set {
    char *file;
    char *name;
    char *target;
    od_scenario_t *scenarios;
    size_t nscenarios;
    od_threshold_t *thresholds;
    size_t nthresholds;
    od_capture_t *captures;
    size_t ncaptures;
    od_request_kind_t request_kind;
    int has_response;
    char *req_method, *req_path, *req_headers, *req_body;
    size_t req_body_len;
};

/* State of one load: the file, where errors go, and whether any was reported. */
typedef struct loader {
    const char *path;
    od_buf_t *errors;
    int nerrors;
    char *text; /* the file's source, for positions; may be NULL */
} loader_t;

/* ---- positions ---------------------------------------------------------------------------- */

static int is_word(int c)
{
    return isalnum(c) || c == '_';
}

/*
 * finds `key` written as a table key (`key =`, `["key"]` or `['key']`) at or after line
 * `after`; sets *line and *col (1-based).  Returns 0 if found, -1 if not.
 */
static int find_key(const loader_t *ld, const char *key, int after, int *line, int *col)
{
    if (ld->text == NULL || key == NULL) return -1;
    size_t klen = strlen(key);
    int ln = 1;
    const char *line_start = ld->text;
    for (const char *p = ld->text; *p; p++) {
        if (*p == '\n') {
            ln++;
            line_start = p + 1;
            continue;
        }
        if (ln < after) continue;
        if (*p == '-' && p[1] == '-') { /* skip comments to the end of the line */
            while (p[1] && p[1] != '\n')
                p++;
            continue;
        }
        const char *q = NULL;
        if (*p == '[' && (p[1] == '"' || p[1] == '\'') && strncmp(p + 2, key, klen) == 0 &&
            p[2 + klen] == p[1] && p[3 + klen] == ']')
            q = p + 4 + klen; /* ["key"] = */
        else if ((p == ld->text || !is_word((unsigned char)p[-1])) && strncmp(p, key, klen) == 0 &&
                 !is_word((unsigned char)p[klen]))
            q = p + klen; /* key = */
        if (q == NULL) continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' && q[1] != '=') {
            *line = ln;
            *col = (int)(p - line_start) + 1;
            return 0;
        }
    }
    return -1;
}

/* A position: line and column of a key (0 when unknown). */
typedef struct pos {
    int line, col;
} pos_t;

static pos_t key_pos(const loader_t *ld, const char *key, pos_t within)
{
    pos_t p = {0, 0};
    if (find_key(ld, key, within.line, &p.line, &p.col) != 0) return within;
    return p;
}

static void report(loader_t *ld, pos_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(loader_t *ld, pos_t at, const char *fmt, ...)
{
    od_buf_printf(ld->errors, "%s:%d:%d: ", ld->path, at.line > 0 ? at.line : 1, at.col > 0 ? at.col : 1);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(ld->errors, fmt, ap);
    va_end(ap);
    od_buf_putc(ld->errors, '\n');
    ld->nerrors++;
}

/* Appends a Lua-reported error ("file:line: message"), one line per error. */
static void report_lua(loader_t *ld, const char *msg)
{
    od_buf_puts(ld->errors, msg);
    if (ld->errors->len == 0 || ld->errors->base[ld->errors->len - 1] != '\n') od_buf_putc(ld->errors, '\n');
    ld->nerrors++;
}

/* ---- values ------------------------------------------------------------------------------- */

/* Reads a duration (a string with a unit, or a number of seconds) at stack index idx. */
static int get_duration(loader_t *ld, lua_State *L, int idx, const char *what, pos_t at, uint64_t *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v >= 0 && v <= 86400.0 * 365)) {
            report(ld, at, "%s: %g is out of range (0 .. 1 year)", what, v);
            return -1;
        }
        *out = (uint64_t)(v * 1e9);
        return 0;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        if (od_parse_duration(s, out) == 0 && *out <= 86400ull * 365 * 1000000000ull) return 0;
        report(ld, at, "%s: \"%s\" is not a duration (e.g. \"250ms\", \"10s\", \"2m\")", what, s);
        return -1;
    }
    report(ld, at, "%s must be a duration such as \"10s\" (got a %s)", what, luaL_typename(L, idx));
    return -1;
}

static int get_number(loader_t *ld, lua_State *L, int idx, const char *what, pos_t at, double lo, double hi,
                      double *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER) {
        report(ld, at, "%s must be a number (got a %s)", what, luaL_typename(L, idx));
        return -1;
    }
    double v = lua_tonumber(L, idx);
    if (!(v >= lo && v <= hi)) {
        report(ld, at, "%s: %g is out of range (%g .. %g)", what, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_integer(loader_t *ld, lua_State *L, int idx, const char *what, pos_t at, long lo, long hi,
                       uint32_t *out)
{
    if (!lua_isinteger(L, idx) &&
        !(lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == floor(lua_tonumber(L, idx)))) {
        report(ld, at, "%s must be an integer (got %s)", what,
               lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
        return -1;
    }
    double v = lua_tonumber(L, idx);
    if (v < (double)lo || v > (double)hi) {
        report(ld, at, "%s: %.0f is out of range (%ld .. %ld)", what, v, lo, hi);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')) return 0;
    return 1;
}

/* ---- scenarios ---------------------------------------------------------------------------- */

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

static int parse_stages(loader_t *ld, lua_State *L, int idx, od_scenario_t *sc, pos_t at)
{
    if (!lua_istable(L, idx)) {
        report(ld, at, "stages must be a list of { duration = ..., target = ... } (got a %s)",
               luaL_typename(L, idx));
        return -1;
    }
    size_t n = lua_rawlen(L, idx);
    if (n == 0 || n > 1000) {
        report(ld, at, "stages must list 1 to 1000 stages");
        return -1;
    }
    sc->stages = od_calloc(n, sizeof(*sc->stages));
    sc->nstages = n;
    int rc = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int st = lua_gettop(L);
        if (!lua_istable(L, st)) {
            report(ld, at, "stages[%zu] must be a table { duration = ..., target = ... }", i + 1);
            rc = -1;
        } else {
            lua_pushnil(L);
            int seen_d = 0, seen_t = 0;
            while (lua_next(L, st)) {
                const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
                char what[64];
                snprintf(what, sizeof(what), "stages[%zu].%s", i + 1, k ? k : "?");
                if (k && strcmp(k, "duration") == 0) {
                    seen_d = 1;
                    if (get_duration(ld, L, -1, what, at, &sc->stages[i].duration_ns) != 0) rc = -1;
                } else if (k && strcmp(k, "target") == 0) {
                    seen_t = 1;
                    if (get_number(ld, L, -1, what, at, 0, 1e6, &sc->stages[i].target) != 0) rc = -1;
                } else {
                    report(ld, at, "stages[%zu]: unknown key %s (expected duration, target)", i + 1,
                           k ? k : "(not a string)");
                    rc = -1;
                }
                lua_pop(L, 1);
            }
            if (!seen_d || !seen_t) {
                report(ld, at, "stages[%zu] needs both duration and target", i + 1);
                rc = -1;
            }
            total += sc->stages[i].duration_ns;
        }
        lua_pop(L, 1);
    }
    sc->duration_ns = total;
    return rc;
}

/* Parses scenarios.NAME (the table at the top of the stack). */
static int parse_scenario(loader_t *ld, lua_State *L, const char *name, od_scenario_t *sc, pos_t at)
{
    int t = lua_gettop(L);
    int rc = 0;
    sc->name = od_strdup(name);
    sc->timeout_ns = DEFAULT_TIMEOUT_NS;
    if (!valid_name(name)) {
        report(ld, at, "scenario name \"%s\" must be 1 to 64 of [A-Za-z0-9_-]", name);
        rc = -1;
    }
    if (!lua_istable(L, t)) {
        report(ld, at, "scenarios.%s must be a table (got a %s)", name, luaL_typename(L, t));
        return -1;
    }
    int has_exec = 0, has_rate = 0, has_dur = 0, has_stages = 0, has_start_rate = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            report(ld, at, "scenarios.%s: keys must be names (got a %s)", name, luaL_typename(L, -2));
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        const char *k = lua_tostring(L, -2);
        pos_t kp = key_pos(ld, k, at);
        char what[128];
        snprintf(what, sizeof(what), "scenarios.%s.%s", name, k);
        if (strcmp(k, "executor") == 0) {
            has_exec = 1;
            const char *e = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(e, "constant-arrival-rate") == 0)
                sc->executor = OD_EXEC_CONSTANT_RATE;
            else if (strcmp(e, "ramping-arrival-rate") == 0)
                sc->executor = OD_EXEC_RAMPING_RATE;
            else if (strcmp(e, "constant-concurrency") == 0)
                sc->executor = OD_EXEC_CONSTANT_CONCURRENCY;
            else {
                report(ld, kp,
                       "%s: unknown executor \"%s\" (expected constant-arrival-rate, ramping-arrival-rate "
                       "or constant-concurrency)",
                       what, e);
                rc = -1;
            }
        } else if (strcmp(k, "rate") == 0) {
            has_rate = 1;
            if (get_number(ld, L, -1, what, kp, 1e-3, 1e6, &sc->rate) != 0) rc = -1;
        } else if (strcmp(k, "start_rate") == 0) {
            has_start_rate = 1;
            if (get_number(ld, L, -1, what, kp, 0, 1e6, &sc->start_rate) != 0) rc = -1;
        } else if (strcmp(k, "duration") == 0) {
            has_dur = 1;
            if (get_duration(ld, L, -1, what, kp, &sc->duration_ns) != 0)
                rc = -1;
            else if (sc->duration_ns == 0) {
                report(ld, kp, "%s must be more than 0", what);
                rc = -1;
            }
        } else if (strcmp(k, "start_time") == 0) {
            if (get_duration(ld, L, -1, what, kp, &sc->start_time_ns) != 0) rc = -1;
        } else if (strcmp(k, "timeout") == 0) {
            if (get_duration(ld, L, -1, what, kp, &sc->timeout_ns) != 0)
                rc = -1;
            else if (sc->timeout_ns < 1000000ull || sc->timeout_ns > 600000000000ull) {
                report(ld, kp, "%s must be between 1ms and 10m", what);
                rc = -1;
            }
        } else if (strcmp(k, "connections") == 0) {
            if (get_integer(ld, L, -1, what, kp, 1, 100000, &sc->connections) != 0) rc = -1;
        } else if (strcmp(k, "max_backlog") == 0) {
            if (get_integer(ld, L, -1, what, kp, 1, 10000000, &sc->max_backlog) != 0) rc = -1;
        } else if (strcmp(k, "stages") == 0) {
            has_stages = 1;
            if (parse_stages(ld, L, lua_gettop(L), sc, kp) != 0) rc = -1;
        } else {
            report(ld, kp,
                   "%s: unknown key (expected executor, rate, start_rate, stages, duration, start_time, "
                   "connections, max_backlog, timeout)",
                   what);
            rc = -1;
        }
        lua_pop(L, 1);
    }
    if (rc != 0) return rc;
    if (!has_exec) sc->executor = has_stages ? OD_EXEC_RAMPING_RATE : OD_EXEC_CONSTANT_RATE;
    switch (sc->executor) {
    case OD_EXEC_CONSTANT_RATE:
        if (!has_rate) report(ld, at, "scenarios.%s: constant-arrival-rate needs rate (per second)", name);
        if (!has_dur) report(ld, at, "scenarios.%s: constant-arrival-rate needs duration", name);
        if (has_stages || has_start_rate)
            report(ld, at, "scenarios.%s: stages and start_rate belong to ramping-arrival-rate", name);
        if (!has_rate || !has_dur || has_stages || has_start_rate) rc = -1;
        break;
    case OD_EXEC_RAMPING_RATE:
        if (!has_stages) report(ld, at, "scenarios.%s: ramping-arrival-rate needs stages", name);
        if (has_rate || has_dur)
            report(ld, at,
                   "scenarios.%s: ramping-arrival-rate takes start_rate and stages, not rate or duration",
                   name);
        if (!has_stages || has_rate || has_dur)
            rc = -1;
        else if (sc->duration_ns == 0) {
            report(ld, at, "scenarios.%s: the stages last 0 s", name);
            rc = -1;
        }
        break;
    case OD_EXEC_CONSTANT_CONCURRENCY:
        if (!has_dur) report(ld, at, "scenarios.%s: constant-concurrency needs duration", name);
        if (sc->connections == 0)
            report(ld, at, "scenarios.%s: constant-concurrency needs connections", name);
        if (has_rate || has_stages || has_start_rate)
            report(ld, at, "scenarios.%s: constant-concurrency takes no rate, start_rate or stages", name);
        if (!has_dur || sc->connections == 0 || has_rate || has_stages || has_start_rate) rc = -1;
        break;
    }
    return rc;
}

static void scenario_dispose(od_scenario_t *sc)
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

static int parse_scenarios(loader_t *ld, lua_State *L, od_scenario_set_t *s, pos_t at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        report(ld, at, "scenarios must be a table { name = { executor = ..., ... } } (got a %s)",
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
        report(ld, at, "scenarios is empty: name at least one");
        return -1;
    }
    s->scenarios = od_calloc(n, sizeof(*s->scenarios));
    int rc = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            report(ld, at, "scenarios: each key must be a scenario name (got a %s)", luaL_typename(L, -2));
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        const char *name = lua_tostring(L, -2);
        pos_t np = key_pos(ld, name, at);
        if (parse_scenario(ld, L, name, &s->scenarios[s->nscenarios++], np) != 0) rc = -1;
        lua_settop(L, t + 1); /* keep the key for lua_next */
    }
    qsort(s->scenarios, s->nscenarios, sizeof(*s->scenarios), cmp_scenario);
    return rc;
}

/* ---- thresholds --------------------------------------------------------------------------- */

static int time_metric(const char *m)
{
    return strncmp(m, "latency.", 8) == 0 || strncmp(m, "service_time.", 13) == 0 ||
           strncmp(m, "send_delay.", 11) == 0;
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

static int parse_threshold_value(loader_t *ld, const char *metric, const char *v, pos_t at,
                                 od_threshold_t *th)
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
        report(ld, at, "threshold %s: \"%s\" must start with <, <=, >, >= or ==", metric, v);
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
            report(ld, at, "threshold %s: \"%s\" must be a duration with a unit (e.g. 250ms)", metric, buf);
            return -1;
        }
        th->limit = (double)ns / 1000.0;
        return 0;
    }
    char *end;
    double x = strtod(buf, &end);
    if (end == buf) {
        report(ld, at, "threshold %s: \"%s\" is not a number", metric, buf);
        return -1;
    }
    if (*end == '%') {
        x /= 100.0;
        end++;
    }
    if (*end != '\0') {
        report(ld, at, "threshold %s: \"%s\" is not a number", metric, buf);
        return -1;
    }
    th->limit = x;
    return 0;
}

static int add_threshold(loader_t *ld, od_scenario_set_t *s, const char *key, const char *value, pos_t at)
{
    const char *colon = strchr(key, ':');
    const char *metric = colon ? colon + 1 : key;
    if (colon) {
        char *scope = od_strndup(key, (size_t)(colon - key));
        int found = od_scenario_set_find(s, scope) != NULL;
        free(scope);
        if (!found) {
            report(ld, at, "threshold \"%s\": no scenario named \"%.*s\" in this file", key,
                   (int)(colon - key), key);
            return -1;
        }
    }
    if (!valid_metric(metric)) {
        report(ld, at,
               "threshold \"%s\": unknown metric (expected latency.S, service_time.S, send_delay.S with S = "
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

static int parse_thresholds(loader_t *ld, lua_State *L, od_scenario_set_t *s, pos_t at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        report(ld, at, "thresholds must be a table { [\"latency.p99\"] = \"< 250ms\" } (got a %s)",
               luaL_typename(L, t));
        return -1;
    }
    int rc = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            report(ld, at, "thresholds: keys must be metric names such as \"latency.p99\"");
            rc = -1;
            lua_pop(L, 1);
            continue;
        }
        const char *k = lua_tostring(L, -2);
        pos_t kp = key_pos(ld, k, at);
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (add_threshold(ld, s, k, lua_tostring(L, -1), kp) != 0) rc = -1;
        } else if (lua_istable(L, -1)) {
            size_t n = lua_rawlen(L, -1);
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                if (lua_type(L, -1) != LUA_TSTRING) {
                    report(ld, kp, "thresholds[\"%s\"][%zu] must be a string such as \"< 250ms\"", k, i);
                    rc = -1;
                } else if (add_threshold(ld, s, k, lua_tostring(L, -1), kp) != 0) {
                    rc = -1;
                }
                lua_pop(L, 1);
            }
        } else {
            report(ld, kp, "thresholds[\"%s\"] must be a string such as \"< 250ms\" or a list of them", k);
            rc = -1;
        }
        lua_pop(L, 1);
    }
    return rc;
}

/* ---- profile captures --------------------------------------------------------------------- */

static int parse_profile(loader_t *ld, lua_State *L, od_scenario_set_t *s, pos_t at)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        report(ld, at, "profile must be a list of { at = \"5s\", path = \"/profile/...\", save = \"...\" }");
        return -1;
    }
    size_t n = lua_rawlen(L, t);
    if (n > 100) {
        report(ld, at, "profile lists %zu captures (at most 100)", n);
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
            report(ld, at, "profile[%zu] must be a table { at = ..., path = ..., save = ... }", i + 1);
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
                if (get_duration(ld, L, -1, what, at, &c->at_ns) != 0) rc = -1;
            } else if (strcmp(k, "timeout") == 0) {
                if (get_duration(ld, L, -1, what, at, &c->timeout_ns) != 0) rc = -1;
            } else if (strcmp(k, "path") == 0 || strcmp(k, "save") == 0 || strcmp(k, "scenario") == 0) {
                if (lua_type(L, -1) != LUA_TSTRING) {
                    report(ld, at, "%s must be a string", what);
                    rc = -1;
                } else {
                    const char *v = lua_tostring(L, -1);
                    char **dst = k[0] == 'p' ? &c->path : k[1] == 'a' ? &c->save : &c->scenario;
                    free(*dst);
                    *dst = od_strdup(v);
                }
            } else {
                report(ld, at, "%s: unknown key (expected at, path, save, scenario, timeout)", what);
                rc = -1;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (!has_at) {
            report(ld, at, "profile[%zu] needs at (when to fetch, e.g. \"5s\")", i + 1);
            rc = -1;
        }
        if (c->path == NULL || c->path[0] != '/' || strpbrk(c->path, " \r\n") != NULL) {
            report(ld, at,
                   "profile[%zu].path must be a URL path starting with / (e.g. \"/profile/cpu?seconds=3\")",
                   i + 1);
            rc = -1;
        }
        if (c->save != NULL && (c->save[0] == '\0' || c->save[0] == '.' || strchr(c->save, '/') != NULL)) {
            report(ld, at, "profile[%zu].save must be a plain file name (no directory)", i + 1);
            rc = -1;
        }
        if (c->scenario != NULL && od_scenario_set_find(s, c->scenario) == NULL) {
            report(ld, at, "profile[%zu].scenario: no scenario named \"%s\" in this file", i + 1,
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

/* ---- request ------------------------------------------------------------------------------ */

/* Appends the headers table at idx as "Name: value\r\n" lines. */
static int headers_text(loader_t *ld, lua_State *L, int idx, pos_t at, od_buf_t *out)
{
    if (lua_isnil(L, idx)) return 0;
    if (!lua_istable(L, idx)) {
        report(ld, at, "request headers must be a table { [\"Name\"] = \"value\" }");
        return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING ||
            !(lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
            report(ld, at, "request headers: names and values must be strings");
            lua_pop(L, 2);
            return -1;
        }
        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
        if (strpbrk(k, ":\r\n ") != NULL || strpbrk(v, "\r\n") != NULL) {
            report(ld, at, "request headers: \"%s\" is not a valid header", k);
            lua_pop(L, 2);
            return -1;
        }
        od_buf_printf(out, "%s: %s\r\n", k, v);
        lua_pop(L, 1);
    }
    return 0;
}

static int parse_static_request(loader_t *ld, lua_State *L, od_scenario_set_t *s, pos_t at)
{
    int t = lua_gettop(L);
    int rc = 0;
    od_buf_t hdr = OD_BUF_INIT;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "headers") == 0) {
            if (headers_text(ld, L, lua_gettop(L), at, &hdr) != 0) rc = -1;
        } else if (strcmp(k, "method") == 0 || strcmp(k, "path") == 0 || strcmp(k, "body") == 0) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                report(ld, at, "request.%s must be a string", k);
                rc = -1;
            } else if (k[0] == 'b') {
                size_t len;
                const char *b = lua_tolstring(L, -1, &len);
                s->req_body = od_malloc(len + 1);
                memcpy(s->req_body, b, len + 1);
                s->req_body_len = len;
            } else {
                char **dst = k[0] == 'm' ? &s->req_method : &s->req_path;
                free(*dst);
                *dst = od_strdup(lua_tostring(L, -1));
            }
        } else {
            report(ld, at, "request.%s: unknown key (expected method, path, headers, body)", k);
            rc = -1;
        }
        lua_pop(L, 1);
    }
    if (s->req_method == NULL) s->req_method = od_strdup(s->req_body ? "POST" : "GET");
    if (s->req_path == NULL) s->req_path = od_strdup("/");
    if (s->req_path[0] != '/' || strpbrk(s->req_path, " \r\n") != NULL) {
        report(ld, at, "request.path must start with / and hold no spaces");
        rc = -1;
    }
    s->req_headers = od_buf_detach(&hdr, NULL);
    if (s->req_headers == NULL) s->req_headers = od_strdup("");
    return rc;
}

/* Calls request(ctx) once with a sample ctx so that --check finds errors in it. */
static int try_request(loader_t *ld, lua_State *L, int fn, od_scenario_set_t *s, pos_t at)
{
    lua_pushvalue(L, fn);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, s->scenarios[0].name);
    lua_setfield(L, -2, "scenario");
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "seq");
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "thread");
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "threads");
    lua_pushstring(L, "check");
    lua_setfield(L, -2, "run");
    lua_pushnumber(L, 0);
    lua_setfield(L, -2, "elapsed");
    od_buf_t err = OD_BUF_INIT;
    int base = lua_gettop(L) - 2;
    if (od_lua_pcall(L, 1, LUA_MULTRET, &err) != 0) {
        report_lua(ld, err.base ? err.base : "request(ctx) failed");
        od_buf_dispose(&err);
        return -1;
    }
    od_buf_dispose(&err);
    int first = base + 1, rc = 0;
    if (lua_gettop(L) < first || lua_isnil(L, first)) {
        report(ld, at, "request(ctx) returned nothing: return method, path, headers, body (or a table)");
        rc = -1;
    } else if (lua_istable(L, first)) {
        lua_getfield(L, first, "path");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
            report(ld, at, "request(ctx) returned a table whose path is not a string");
            rc = -1;
        }
        lua_pop(L, 1);
    } else if (lua_type(L, first) != LUA_TSTRING) {
        report(ld, at, "request(ctx) must return method, path, headers, body (got a %s first)",
               luaL_typename(L, first));
        rc = -1;
    } else if (lua_gettop(L) >= first + 1 && lua_type(L, first + 1) != LUA_TSTRING) {
        report(ld, at, "request(ctx): the path (second value) must be a string");
        rc = -1;
    }
    lua_settop(L, base);
    return rc;
}

/* ---- loading ------------------------------------------------------------------------------ */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "the scenario file runs too long while loading (endless loop?)");
}

void od_scenario_prepare_state(lua_State *L, const char *path)
{
    char *dir = od_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *old = lua_tostring(L, -1);
    char *p = od_asprintf("%s/?.lua;%s/../lib/?.lua;lua/lib/?.lua;%s", dir, dir, old ? old : "");
    lua_pop(L, 1);
    lua_pushstring(L, p);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    free(p);
    free(dir);
}

static const char *const top_keys[] = {"target", "scenarios", "thresholds", "request", "response", "profile"};

od_scenario_set_t *od_scenario_load(const char *path, od_buf_t *errors)
{
    loader_t ld = {.path = path, .errors = errors};
    ld.text = od_read_file(path, NULL);
    if (ld.text == NULL) {
        od_buf_printf(errors, "%s:0:0: cannot read the scenario file: %s\n", path, strerror(errno));
        return NULL;
    }
    od_scenario_set_t *s = od_calloc(1, sizeof(*s));
    s->file = od_strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    if (blen > 4 && strcmp(base + blen - 4, ".lua") == 0) blen -= 4;
    s->name = od_strndup(base, blen);

    lua_State *L = od_lua_new();
    od_scenario_prepare_state(L, path);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, MAX_INSTRUCTIONS);
    od_buf_t err = OD_BUF_INIT;
    pos_t top = {1, 1};
    int fn_request = 0;
    if (od_lua_dofile(L, path, 1, 0, &err) != 0) {
        report_lua(&ld, err.base ? err.base : "cannot load");
        goto out;
    }
    if (!lua_istable(L, 1)) {
        report(&ld, top, "a scenario file must return a table { scenarios = { ... }, ... } (got a %s)",
               luaL_typename(L, 1));
        goto out;
    }
    /* unknown top-level keys first, so a typo ("scenario =") is named as such */
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int known = 0;
        for (size_t i = 0; k && i < OD_ARRAY_SIZE(top_keys); i++)
            if (strcmp(k, top_keys[i]) == 0) known = 1;
        if (!known)
            report(&ld, key_pos(&ld, k, top),
                   "unknown key %s (expected target, scenarios, thresholds, request, "
                   "response, profile)",
                   k ? k : "(not a string)");
        lua_pop(L, 1);
    }

    lua_getfield(L, 1, "scenarios");
    pos_t sp = key_pos(&ld, "scenarios", top);
    if (lua_isnil(L, -1))
        report(&ld, top, "the returned table has no scenarios");
    else
        parse_scenarios(&ld, L, s, sp);
    lua_settop(L, 1);

    lua_getfield(L, 1, "target");
    if (!lua_isnil(L, -1)) {
        pos_t tp = key_pos(&ld, "target", top);
        const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (t == NULL || strncmp(t, "http://", 7) != 0 || t[7] == '\0' || t[7] == '/')
            report(&ld, tp, "target must be an http:// URL such as \"http://127.0.0.1:8080\"");
        else
            s->target = od_strdup(t);
    }
    lua_settop(L, 1);

    if (ld.nerrors == 0) {
        lua_getfield(L, 1, "thresholds");
        if (!lua_isnil(L, -1)) parse_thresholds(&ld, L, s, key_pos(&ld, "thresholds", top));
        lua_settop(L, 1);
        lua_getfield(L, 1, "profile");
        if (!lua_isnil(L, -1)) parse_profile(&ld, L, s, key_pos(&ld, "profile", top));
        lua_settop(L, 1);
    }

    lua_getfield(L, 1, "response");
    if (lua_isfunction(L, -1))
        s->has_response = 1;
    else if (!lua_isnil(L, -1))
        report(&ld, key_pos(&ld, "response", top),
               "response must be a function (ctx, status, headers, body)");
    lua_settop(L, 1);

    lua_getfield(L, 1, "request");
    pos_t rp = key_pos(&ld, "request", top);
    if (lua_isnil(L, -1)) {
        s->request_kind = OD_REQ_NONE;
    } else if (lua_isfunction(L, -1)) {
        s->request_kind = OD_REQ_FUNCTION;
        fn_request = lua_gettop(L);
        if (ld.nerrors == 0) try_request(&ld, L, fn_request, s, rp);
    } else if (lua_istable(L, -1)) {
        s->request_kind = OD_REQ_STATIC;
        parse_static_request(&ld, L, s, rp);
    } else {
        report(&ld, rp, "request must be a function (ctx) or a table { method, path, headers, body }");
    }
    lua_settop(L, 1);

out:
    od_buf_dispose(&err);
    lua_close(L);
    free(ld.text);
    if (ld.nerrors > 0) {
        od_scenario_set_free(s);
        return NULL;
    }
    return s;
}

void od_scenario_set_free(od_scenario_set_t *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->nscenarios; i++)
        scenario_dispose(&s->scenarios[i]);
    free(s->scenarios);
    for (size_t i = 0; i < s->nthresholds; i++) {
        free(s->thresholds[i].expr);
        free(s->thresholds[i].scope);
        free(s->thresholds[i].metric);
    }
    free(s->thresholds);
    for (size_t i = 0; i < s->ncaptures; i++) {
        free(s->captures[i].scenario);
        free(s->captures[i].path);
        free(s->captures[i].save);
    }
    free(s->captures);
    free(s->req_method);
    free(s->req_path);
    free(s->req_headers);
    free(s->req_body);
    free(s->file);
    free(s->name);
    free(s->target);
    free(s);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const char *od_scenario_set_name(const od_scenario_set_t *s)
{
    return s->name;
}

const char *od_scenario_set_file(const od_scenario_set_t *s)
{
    return s->file;
}

const char *od_scenario_set_target(const od_scenario_set_t *s)
{
    return s->target;
}

size_t od_scenario_set_count(const od_scenario_set_t *s)
{
    return s->nscenarios;
}

const od_scenario_t *od_scenario_set_get(const od_scenario_set_t *s, size_t i)
{
    return i < s->nscenarios ? &s->scenarios[i] : NULL;
}

const od_scenario_t *od_scenario_set_find(const od_scenario_set_t *s, const char *name)
{
    for (size_t i = 0; i < s->nscenarios; i++)
        if (strcmp(s->scenarios[i].name, name) == 0) return &s->scenarios[i];
    return NULL;
}

size_t od_scenario_set_nthresholds(const od_scenario_set_t *s)
{
    return s->nthresholds;
}

const od_threshold_t *od_scenario_set_threshold(const od_scenario_set_t *s, size_t i)
{
    return i < s->nthresholds ? &s->thresholds[i] : NULL;
}

size_t od_scenario_set_ncaptures(const od_scenario_set_t *s)
{
    return s->ncaptures;
}

const od_capture_t *od_scenario_set_capture(const od_scenario_set_t *s, size_t i)
{
    return i < s->ncaptures ? &s->captures[i] : NULL;
}

od_request_kind_t od_scenario_set_request_kind(const od_scenario_set_t *s)
{
    return s->request_kind;
}

int od_scenario_set_has_response(const od_scenario_set_t *s)
{
    return s->has_response;
}

void od_scenario_set_static_request(const od_scenario_set_t *s, const char **method, const char **path,
                                    const char **headers, const char **body, size_t *body_len)
{
    *method = s->req_method;
    *path = s->req_path;
    *headers = s->req_headers;
    *body = s->req_body;
    *body_len = s->req_body_len;
}

uint64_t od_scenario_set_span_ns(const od_scenario_set_t *s)
{
    uint64_t span = 0;
    for (size_t i = 0; i < s->nscenarios; i++) {
        uint64_t end = s->scenarios[i].start_time_ns + s->scenarios[i].duration_ns;
        if (end > span) span = end;
    }
    return span;
}

void od_scenario_set_scale(od_scenario_set_t *s, double f)
{
    OD_ASSERT(f > 0);
    for (size_t i = 0; i < s->nscenarios; i++) {
        od_scenario_t *sc = &s->scenarios[i];
        sc->start_time_ns = (uint64_t)((double)sc->start_time_ns * f);
        if (sc->nstages > 0) {
            sc->duration_ns = 0;
            for (size_t j = 0; j < sc->nstages; j++) {
                sc->stages[j].duration_ns = (uint64_t)((double)sc->stages[j].duration_ns * f);
                sc->duration_ns += sc->stages[j].duration_ns;
            }
        } else {
            sc->duration_ns = (uint64_t)((double)sc->duration_ns * f);
        }
        if (sc->duration_ns == 0) sc->duration_ns = 1;
    }
    for (size_t i = 0; i < s->ncaptures; i++)
        s->captures[i].at_ns = (uint64_t)((double)s->captures[i].at_ns * f);
}

/* ---- arrival schedule --------------------------------------------------------------------- */

/* Arrival k happens when the cumulative count of arrivals, the integral of the rate, reaches k:
 * at k / rate for a constant rate, and by solving the quadratic of a linear ramp per stage. */
uint64_t od_scenario_arrival_ns(const od_scenario_t *sc, uint64_t k)
{
    if (sc->executor == OD_EXEC_CONSTANT_RATE) {
        double t = (double)k / sc->rate * 1e9;
        return t < (double)sc->duration_ns ? (uint64_t)t : UINT64_MAX;
    }
    if (sc->executor != OD_EXEC_RAMPING_RATE) return UINT64_MAX;
    double m = (double)k; /* arrivals still to place */
    double t0 = 0, a = sc->start_rate;
    for (size_t i = 0; i < sc->nstages; i++) {
        double d = (double)sc->stages[i].duration_ns / 1e9, b = sc->stages[i].target;
        double in_stage = (a + b) / 2 * d;
        if (m < in_stage) {
            double x;
            double slope = d > 0 ? (b - a) / d : 0;
            double disc = a * a + 2 * slope * m;
            if (disc < 0) disc = 0;
            double den = a + sqrt(disc);
            x = den > 0 ? 2 * m / den : 0;
            if (x > d) x = d;
            double t = (t0 + x) * 1e9;
            return t < (double)sc->duration_ns ? (uint64_t)t : UINT64_MAX;
        }
        m -= in_stage;
        t0 += d;
        a = b;
    }
    return UINT64_MAX;
}

uint64_t od_scenario_arrivals(const od_scenario_t *sc)
{
    double total;
    if (sc->executor == OD_EXEC_CONSTANT_RATE) {
        total = sc->rate * (double)sc->duration_ns / 1e9;
    } else if (sc->executor == OD_EXEC_RAMPING_RATE) {
        total = 0;
        double a = sc->start_rate;
        for (size_t i = 0; i < sc->nstages; i++) {
            total += (a + sc->stages[i].target) / 2 * (double)sc->stages[i].duration_ns / 1e9;
            a = sc->stages[i].target;
        }
    } else {
        return 0;
    }
    /* arrivals 0, 1, ... strictly before the end: ceil(total), with rounding noise removed */
    uint64_t n = (uint64_t)ceil(total - 1e-6);
    while (n > 0 && od_scenario_arrival_ns(sc, n - 1) == UINT64_MAX)
        n--;
    return n;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void put_num(od_buf_t *out, double v)
{
    od_buf_printf(out, "%.10g", v);
}

void od_scenario_set_json(const od_scenario_set_t *s, od_buf_t *out)
{
    od_buf_puts(out, "{\"name\":");
    od_buf_json_str(out, s->name);
    od_buf_puts(out, ",\"file\":");
    od_buf_json_str(out, s->file);
    od_buf_puts(out, ",\"scenarios\":{");
    for (size_t i = 0; i < s->nscenarios; i++) {
        const od_scenario_t *sc = &s->scenarios[i];
        if (i) od_buf_putc(out, ',');
        od_buf_json_str(out, sc->name);
        od_buf_puts(out, ":{\"executor\":");
        od_buf_json_str(out, od_executor_name(sc->executor));
        if (sc->executor == OD_EXEC_CONSTANT_RATE) {
            od_buf_puts(out, ",\"rate\":");
            put_num(out, sc->rate);
        } else if (sc->executor == OD_EXEC_RAMPING_RATE) {
            od_buf_puts(out, ",\"start_rate\":");
            put_num(out, sc->start_rate);
            od_buf_puts(out, ",\"stages\":[");
            for (size_t j = 0; j < sc->nstages; j++) {
                od_buf_printf(out, "%s{\"duration_s\":", j ? "," : "");
                put_num(out, (double)sc->stages[j].duration_ns / 1e9);
                od_buf_puts(out, ",\"target\":");
                put_num(out, sc->stages[j].target);
                od_buf_putc(out, '}');
            }
            od_buf_putc(out, ']');
        }
        od_buf_puts(out, ",\"duration_s\":");
        put_num(out, (double)sc->duration_ns / 1e9);
        od_buf_puts(out, ",\"start_time_s\":");
        put_num(out, (double)sc->start_time_ns / 1e9);
        if (sc->connections) od_buf_printf(out, ",\"connections\":%u", sc->connections);
        od_buf_putc(out, '}');
    }
    od_buf_puts(out, "}}");
}
