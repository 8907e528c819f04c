/* Loading and checking the profiling schedule (lua/schedule.lua): its entries, kinds,
 * durations and the FILE:LINE of each problem.  See schedule_load.h. */
#include "schedule_load.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "luautil.h"
#include "rules.h"
#include "schedule.h"

/* skips a long bracket ("[[", "[==[" ... the matching close) at p if there is one, counting
 * newlines; returns the position after it, or p when p does not open one */
static const char *skip_long_bracket(const char *p, const char *end, int *line)
{
    if (p >= end || *p != '[') return p;
    const char *q = p + 1;
    int level = 0;
    while (q < end && *q == '=')
        level++, q++;
    if (q >= end || *q != '[') return p;
    for (q++; q < end; q++) {
        if (*q == '\n') (*line)++;
        if (*q != ']') continue;
        const char *r = q + 1;
        int l2 = 0;
        while (r < end && *r == '=')
            l2++, r++;
        if (l2 == level && r < end && *r == ']') return r + 1;
    }
    return end;
}

/*
 * the line where each element of the table constructor the script returns starts ("return {
 * {...}, {...} }"), found by a small Lua tokenizer (comments, strings and long brackets
 * skipped); *n_found is how many elements there were, 0 when the script returns something
 * else (a variable, a call)
 */
static int *entry_lines(const char *path, size_t *n_found)
{
    size_t len;
    char *text = od_read_file(path, &len);
    *n_found = 0;
    if (text == NULL) return NULL;
    size_t cap = 16, n = 0;
    int *lines = od_calloc(cap, sizeof(int));
    /* after_return: the last token at depth 0 was `return`; open: inside the returned
     * constructor; expect: the next token at depth 1 starts an element */
    int line = 1, depth = 0, after_return = 0, open = 0, expect = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        char c = *p;
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r') {
            if (c == '\n') line++;
            p++;
            continue;
        }
        if (c == '-' && p + 1 < end && p[1] == '-') { /* a comment */
            const char *q = skip_long_bracket(p + 2, end, &line);
            if (q != p + 2) {
                p = q;
            } else {
                while (p < end && *p != '\n')
                    p++;
            }
            continue;
        }
        int tok_line = line;
        /* a token: first see whether it starts an element of the returned list */
        if (open && depth == 1 && expect && c != '}' && c != ',' && c != ';') {
            if (n == cap) lines = od_realloc(lines, (cap *= 2) * sizeof(int));
            lines[n++] = tok_line;
            expect = 0;
        }
        int was_return = 0;
        if (c == '"' || c == '\'') {
            for (p++; p < end && *p != c; p++) {
                if (*p == '\n') line++;
                if (*p == '\\' && p + 1 < end && *++p == '\n') line++;
            }
            p++;
        } else if (c == '[' && skip_long_bracket(p, end, &line) != p) {
            p = skip_long_bracket(p, end, &tok_line); /* line already counted by the probe */
        } else if (c == '{') {
            if (depth == 0 && after_return) {
                open = 1;
                expect = 1;
                n = 0;
            }
            depth++;
            p++;
        } else if (c == '}') {
            if (depth > 0) depth--;
            if (depth == 0 && open) open = 2; /* closed: later tokens do not count */
            p++;
        } else if ((c == ',' || c == ';') && depth == 1 && open == 1) {
            expect = 1;
            p++;
        } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            const char *w = p;
            while (p < end && (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                               (*p >= '0' && *p <= '9')))
                p++;
            was_return = depth == 0 && p - w == 6 && memcmp(w, "return", 6) == 0;
        } else {
            p++;
        }
        if (depth == 0 && c != '{') after_return = was_return;
        if (was_return) open = 0;
    }
    free(text);
    *n_found = open == 2 ? n : 0;
    return lines;
}

typedef struct parse {
    const char *path;
    int max_seconds;
    od_buf_t *errors;
    int *lines; /* from entry_lines */
    size_t nlines, nentries;
    int bad;
} parse_t;

static void problem(parse_t *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void problem(parse_t *ps, int line, const char *fmt, ...)
{
    ps->bad = 1;
    if (ps->errors == NULL) return;
    od_buf_printf(ps->errors, "%s:%d: ", ps->path, line > 0 ? line : 1);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(ps->errors, fmt, ap);
    va_end(ap);
    od_buf_putc(ps->errors, '\n');
}

/* the line of entry i's `key`, if it is written within the entry; else the entry's line */
static int key_line(parse_t *ps, const od_schedule_entry_t *e, const char *key)
{
    if (e->line <= 0) return 1;
    int next = (size_t)e->index < ps->nlines && ps->nlines == ps->nentries ? ps->lines[e->index] : 1 << 30;
    int l = od_lua_key_line(ps->path, key, e->line - 1);
    return l >= e->line && l < next ? l : e->line;
}

/* a duration at the top of the stack: a number of seconds or a string such as "90s", "5m" */
static int get_duration(lua_State *L, uint64_t *ns)
{
    if (lua_type(L, -1) == LUA_TNUMBER) {
        double v = lua_tonumber(L, -1);
        if (!isfinite(v) || v < 0 || v > 1e9) return -1;
        *ns = (uint64_t)(v * 1e9);
        return 0;
    }
    if (lua_type(L, -1) == LUA_TSTRING) return od_parse_duration(lua_tostring(L, -1), ns);
    return -1;
}

static const char *const kinds_known = "cpu, memory, goroutines, block, mutex, trace, gc";

static void add_kind(parse_t *ps, od_schedule_entry_t *e, const char *name, int line)
{
    od_capture_kind_t k;
    if (od_capture_kind_parse(name, &k) != 0) {
        problem(ps, line, "entry %d: unknown capture kind \"%s\" (known: %s)", e->index, name, kinds_known);
        return;
    }
    for (int i = 0; i < e->nkinds; i++)
        if (e->kinds[i] == k) {
            problem(ps, line, "entry %d: capture lists \"%s\" twice", e->index, name);
            return;
        }
    e->kinds[e->nkinds++] = k;
}

/* checks the entry table at the top of the stack into e (when_ref set when keep_refs) */
static void parse_entry(lua_State *L, parse_t *ps, od_schedule_entry_t *e, int keep_refs)
{
    int t = lua_gettop(L);
    int have[3] = {0, 0, 0}, have_capture = 0, have_cooldown = 0, cooldown_line = 0;
    e->when_ref = LUA_NOREF;
    e->fmt = OD_FMT_PPROF;
    snprintf(e->fmt_name, sizeof(e->fmt_name), "pprof");
    e->seconds = OD_SCHEDULE_SECONDS_DEFAULT;
    uint64_t cooldown = (uint64_t)OD_SCHEDULE_COOLDOWN_DEFAULT * 1000000000ull;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            problem(ps, e->line,
                    "entry %d: keys must be names (at, every, when, capture, seconds, cooldown, label, "
                    "format), got a %s key",
                    e->index, luaL_typename(L, -2));
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        int line = key_line(ps, e, key);
        uint64_t ns = 0;
        if (strcmp(key, "at") == 0 || strcmp(key, "every") == 0) {
            int every = key[0] == 'e';
            e->trigger = every ? OD_TRIGGER_EVERY : OD_TRIGGER_AT;
            have[e->trigger] = line;
            if (get_duration(L, &ns) != 0)
                problem(ps, line,
                        "entry %d: %s must be a duration such as \"30s\", \"5m\" or a number of seconds",
                        e->index, key);
            else if (every && ns < 1000000000ull)
                problem(ps, line, "entry %d: every must be at least 1s", e->index);
            else
                e->period_ns = ns;
        } else if (strcmp(key, "when") == 0) {
            have[OD_TRIGGER_WHEN] = line;
            e->trigger = OD_TRIGGER_WHEN;
            if (!lua_isfunction(L, -1))
                problem(ps, line, "entry %d: when must be a function(s) returning true to capture, got %s",
                        e->index, luaL_typename(L, -1));
            else if (keep_refs) {
                lua_pushvalue(L, -1);
                e->when_ref = luaL_ref(L, LUA_REGISTRYINDEX);
            }
        } else if (strcmp(key, "cooldown") == 0) {
            have_cooldown = 1;
            cooldown_line = line;
            if (get_duration(L, &ns) != 0)
                problem(ps, line,
                        "entry %d: cooldown must be a duration such as \"60s\" or a number of seconds",
                        e->index);
            else
                cooldown = ns;
        } else if (strcmp(key, "capture") == 0) {
            have_capture = 1;
            if (lua_type(L, -1) == LUA_TSTRING) {
                add_kind(ps, e, lua_tostring(L, -1), line);
            } else if (lua_istable(L, -1)) {
                lua_Integer n = luaL_len(L, -1);
                if (n == 0)
                    problem(ps, line, "entry %d: capture lists no kind (known: %s)", e->index, kinds_known);
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_geti(L, -1, i);
                    if (lua_type(L, -1) != LUA_TSTRING)
                        problem(ps, line, "entry %d: capture[%d] must be a kind name, got %s", e->index,
                                (int)i, luaL_typename(L, -1));
                    else if (e->nkinds < OD_CAP_COUNT)
                        add_kind(ps, e, lua_tostring(L, -1), line);
                    lua_pop(L, 1);
                }
            } else {
                problem(ps, line, "entry %d: capture must be a kind or a list of kinds (known: %s), got %s",
                        e->index, kinds_known, luaL_typename(L, -1));
            }
        } else if (strcmp(key, "seconds") == 0) {
            double v = -1;
            if (get_duration(L, &ns) == 0) v = (double)ns / 1e9;
            if (!(v >= 1 && v <= ps->max_seconds))
                problem(ps, line, "entry %d: seconds must be from 1 to %d (profiling.max_seconds)", e->index,
                        ps->max_seconds);
            else {
                e->seconds = v;
                e->seconds_set = 1;
            }
        } else if (strcmp(key, "label") == 0) {
            size_t len = 0;
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (s == NULL || !od_name_valid(s, len, OD_SCHEDULE_LABEL_MAX))
                problem(ps, line,
                        "entry %d: label must be 1 to %d of A-Z a-z 0-9 _ - (it goes into file names)",
                        e->index, OD_SCHEDULE_LABEL_MAX);
            else
                memcpy(e->label, s, len + 1);
        } else if (strcmp(key, "format") == 0) {
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (od_prof_format_parse(s, &e->fmt) != 0)
                problem(ps, line, "entry %d: format must be pprof, legacy, text, folded or svg", e->index);
            else
                snprintf(e->fmt_name, sizeof(e->fmt_name), "%s", s);
        } else {
            problem(ps, line,
                    "entry %d: unknown key \"%s\" (known: at, every, when, capture, seconds, cooldown, "
                    "label, format)",
                    e->index, key);
        }
        lua_pop(L, 1);
    }
    int ntriggers = (have[0] != 0) + (have[1] != 0) + (have[2] != 0);
    if (ntriggers == 0)
        problem(ps, e->line, "entry %d: needs one of at (once), every (periodic) or when (triggered)",
                e->index);
    else if (ntriggers > 1)
        problem(ps, e->line, "entry %d: takes only one of at, every and when", e->index);
    if (!have_capture)
        problem(ps, e->line, "entry %d: needs capture, a kind or a list of kinds (%s)", e->index,
                kinds_known);
    if (have_cooldown && !have[OD_TRIGGER_WHEN])
        problem(ps, cooldown_line, "entry %d: cooldown applies to when entries only", e->index);
    if (e->trigger == OD_TRIGGER_WHEN) e->period_ns = cooldown;
    int any_format = 0;
    for (int i = 0; i < e->nkinds; i++)
        any_format |= od_capture_kind_has_format(e->kinds[i]);
    if (strcmp(e->fmt_name, "pprof") != 0 && e->nkinds && !any_format)
        problem(ps, key_line(ps, e, "format"),
                "entry %d: format applies to cpu, memory, goroutines, block and mutex", e->index);
}

/*
 * runs the script in L and checks the list it returns into *out (n entries; when_refs kept in
 * L when keep_refs); problems go to errors
 * @return 0 if valid, -1 if not
 */
int od_schedule_load(lua_State *L, const char *path, int max_seconds, int keep_refs,
                     od_schedule_entry_t **out, size_t *n, od_buf_t *errors)
{
    *out = NULL;
    *n = 0;
    od_buf_t err = OD_BUF_INIT;
    if (od_rules_lua_dofile(L, path, 1, &err) != 0) {
        if (errors) od_buf_printf(errors, "%s\n", err.base);
        od_buf_dispose(&err);
        return -1;
    }
    od_buf_dispose(&err);
    parse_t ps = {.path = path, .max_seconds = max_seconds, .errors = errors};
    if (!lua_istable(L, -1)) {
        problem(&ps, 1,
                "the schedule must return a list of captures, e.g. return { { every = \"60s\", capture = "
                "\"memory\" } }; got %s",
                luaL_typename(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    int list = lua_gettop(L);
    lua_Integer len = luaL_len(L, list);
    /* keys beyond 1..len: a map where a list belongs */
    lua_pushnil(L);
    while (lua_next(L, list) != 0) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= len) continue;
        int line = lua_type(L, -1) == LUA_TSTRING ? od_lua_key_line(path, lua_tostring(L, -1), 0) : 1;
        lua_pushvalue(L, -1);
        problem(&ps, line, "the schedule is a list of entries { ... }, { ... }; unexpected key %s",
                luaL_tolstring(L, -1, NULL));
        lua_pop(L, 2);
    }
    ps.lines = entry_lines(path, &ps.nlines);
    ps.nentries = (size_t)len;
    od_schedule_entry_t *entries = od_calloc(len ? (size_t)len : 1, sizeof(*entries));
    for (lua_Integer i = 1; i <= len; i++) {
        od_schedule_entry_t *e = &entries[i - 1];
        e->index = (int)i;
        lua_geti(L, list, i);
        if (ps.nlines == (size_t)len) e->line = ps.lines[i - 1];
        if (lua_istable(L, -1) && e->line == 0) { /* no literal list: the when function knows its line */
            lua_getfield(L, -1, "when");
            lua_Debug ar;
            if (lua_isfunction(L, -1) && lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
                e->line = ar.linedefined;
            else
                lua_pop(L, 1);
        }
        if (!lua_istable(L, -1))
            problem(&ps, e->line,
                    "entry %d must be a table such as { every = \"60s\", capture = \"memory\" }, got %s",
                    e->index, luaL_typename(L, -1));
        else
            parse_entry(L, &ps, e, keep_refs);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    free(ps.lines);
    if (ps.bad) {
        free(entries);
        return -1;
    }
    *out = entries;
    *n = (size_t)len;
    return 0;
}

/* orderd.log(...): the arguments on one line of the server's log */
static int orderd_log(lua_State *L)
{
    od_info("schedule: %s", od_lua_push_args_line(L));
    return 0;
}

lua_State *od_schedule_lua_new(void)
{
    lua_State *L = od_rules_lua_new(OD_SCHEDULE_STATE_MEMORY, OD_SCHEDULE_WHEN_BUDGET, "when(s)");
    lua_getglobal(L, "orderd");
    lua_pushcfunction(L, orderd_log);
    lua_setfield(L, -2, "log");
    lua_pop(L, 1);
    return L;
}

int od_schedule_check(const char *path, int max_seconds, od_buf_t *errors)
{
    if (path == NULL || path[0] == '\0') return 0;
    lua_State *L = od_schedule_lua_new();
    od_schedule_entry_t *entries;
    size_t n;
    int rc = od_schedule_load(L, path, max_seconds, 0, &entries, &n, errors);
    free(entries);
    od_rules_lua_close(L);
    return rc;
}
