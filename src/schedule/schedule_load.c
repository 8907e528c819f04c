/* Loading and checking the profiling schedule (lua/schedule.lua): its entries, kinds,
 * durations and the FILE:LINE of each problem.  See schedule_load.h. */
#include "schedule/schedule_load.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "lua/lua_layer.h"
#include "schedule/schedule.h"

/* --- the entry schema ------------------------------------------------------------------------ */

static const char *const kinds_known = "cpu, memory, goroutines, block, mutex, trace, gc";

/* `capture`: a kind or a list of kinds */
typedef struct kinds {
    od_capture_kind_t k[OD_CAP_COUNT];
    int n;
} kinds_t;

/* `seconds`: the window, bounded by profiling.max_seconds (set before the schema runs) */
typedef struct seconds {
    double v;
    int max;
} seconds_t;

/* what the schema writes; then checked as a whole and copied into the entry */
typedef struct fields {
    uint64_t at, every, cooldown;
    int when_line;
    kinds_t capture;
    seconds_t seconds;
    char label[OD_SCHEDULE_LABEL_MAX + 1];
    od_prof_format_t fmt;
    char fmt_name[16];
} fields_t;

static int add_kind(kinds_t *ks, const char *name, od_buf_t *why)
{
    od_capture_kind_t k;
    if (od_capture_kind_parse(name, &k) != 0) {
        od_buf_printf(why, "names an unknown kind \"%s\" (known: %s)", name, kinds_known);
        return -1;
    }
    for (int i = 0; i < ks->n; i++)
        if (ks->k[i] == k) {
            od_buf_printf(why, "lists \"%s\" twice", name);
            return -1;
        }
    if (ks->n < OD_CAP_COUNT) ks->k[ks->n++] = k;
    return 0;
}

/* the schema writes "capture WHY" */
static int apply_capture(lua_State *L, int idx, void *member, od_buf_t *why)
{
    kinds_t *ks = member;
    if (lua_type(L, idx) == LUA_TSTRING) return add_kind(ks, lua_tostring(L, idx), why);
    if (!lua_istable(L, idx)) {
        od_buf_printf(why, "must be a kind or a list of kinds (known: %s), got %s", kinds_known,
                      luaL_typename(L, idx));
        return -1;
    }
    lua_Integer n = luaL_len(L, idx);
    if (n == 0) {
        od_buf_printf(why, "lists no kind (known: %s)", kinds_known);
        return -1;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        int rc = 0;
        lua_geti(L, idx, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            od_buf_printf(why, "[%d] must be a kind name, got %s", (int)i, luaL_typename(L, -1));
            rc = -1;
        } else {
            rc = add_kind(ks, lua_tostring(L, -1), why);
        }
        lua_pop(L, 1);
        if (rc != 0) return -1;
    }
    return 0;
}

static int apply_seconds(lua_State *L, int idx, void *member, od_buf_t *why)
{
    seconds_t *sec = member;
    uint64_t ns = 0;
    double v = -1;
    if (lua_type(L, idx) == LUA_TNUMBER)
        v = lua_tonumber(L, idx);
    else if (lua_type(L, idx) == LUA_TSTRING && od_parse_duration(lua_tostring(L, idx), &ns) == 0)
        v = (double)ns / 1e9;
    if (!(v >= 1 && v <= sec->max)) {
        od_buf_printf(why, "must be from 1 to %d (profiling.max_seconds)", sec->max);
        return -1;
    }
    sec->v = v;
    return 0;
}

static int apply_label(lua_State *L, int idx, void *member, od_buf_t *why)
{
    size_t len = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    if (s == NULL || !od_name_valid(s, len, OD_SCHEDULE_LABEL_MAX)) {
        od_buf_printf(why, "must be 1 to %d of A-Z a-z 0-9 _ - (it goes into file names)",
                      OD_SCHEDULE_LABEL_MAX);
        return -1;
    }
    memcpy(member, s, len + 1);
    return 0;
}

static int apply_format(lua_State *L, int idx, void *member, od_buf_t *why)
{
    fields_t *f = (fields_t *)((char *)member - offsetof(fields_t, fmt));
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "";
    if (od_prof_format_parse(s, &f->fmt) != 0) {
        od_buf_puts(why, "must be pprof, legacy, text, folded or svg");
        return -1;
    }
    snprintf(f->fmt_name, sizeof(f->fmt_name), "%s", s);
    return 0;
}

#define D(n, member, lo)                                                                                     \
    {                                                                                                        \
        n, OD_LUA_T_DURATION, offsetof(fields_t, member), lo, 1e9                                            \
    }
#define C(n, member, fn)                                                                                     \
    {                                                                                                        \
        n, OD_LUA_T_CUSTOM, offsetof(fields_t, member), .apply = fn                                          \
    }
static const od_lua_field_t entry_fields[] = {D("at", at, 0),
                                              D("every", every, 1),
                                              {"when", OD_LUA_T_FUNCTION, offsetof(fields_t, when_line),
                                               .expect = "a function(s) returning true to capture"},
                                              C("capture", capture, apply_capture),
                                              C("seconds", seconds, apply_seconds),
                                              D("cooldown", cooldown, 0),
                                              C("label", label, apply_label),
                                              C("format", fmt, apply_format),
                                              {NULL}};
#undef D
#undef C

/* --- the list -------------------------------------------------------------------------------- */

typedef struct parse {
    od_lua_src_t *src;
    int max_seconds;
    od_buf_t errors; /* every problem, "FILE:LINE: message\n" */
} parse_t;

/* the schema's lines, each told which entry it is about: "FILE:LINE: entry N: message" */
static void append_entry_problems(parse_t *ps, int index, const od_buf_t *found)
{
    size_t plen = strlen(od_lua_src_path(ps->src));
    for (const char *l = found->base; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) + 1 : strlen(l);
        const char *msg = l + plen + 1; /* past "FILE:" */
        while (msg < l + n && *msg >= '0' && *msg <= '9')
            msg++;
        msg += 2; /* ": " */
        od_buf_printf(&ps->errors, "%.*sentry %d: %.*s", (int)(msg - l), l, index, (int)(l + n - msg), msg);
        l += n;
    }
}

static int has(lua_State *L, int t, const char *key)
{
    int present = lua_getfield(L, t, key) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

/* checks the entry table at the top of the stack, written at w (NULL: unknown), into e
 * (when_ref set when keep_refs); 0, or -1 with the problems reported */
static int parse_entry(lua_State *L, parse_t *ps, od_schedule_entry_t *e, const od_lua_where_t *w,
                       int keep_refs)
{
    int t = lua_gettop(L);
    fields_t f = {.cooldown = (uint64_t)OD_SCHEDULE_COOLDOWN_DEFAULT * 1000000000ull,
                  .seconds = {.v = OD_SCHEDULE_SECONDS_DEFAULT, .max = ps->max_seconds},
                  .fmt = OD_FMT_PPROF,
                  .fmt_name = "pprof"};
    od_buf_t found = OD_BUF_INIT;
    int bad = od_lua_schema_apply(L, t, entry_fields, &f, "", NULL, ps->src, w, &found) != 0;
    append_entry_problems(ps, e->index, &found);
    od_buf_dispose(&found);

    int at = has(L, t, "at"), every = has(L, t, "every"), when = has(L, t, "when");
    int ntriggers = at + every + when;
    if (ntriggers == 0) {
        od_lua_report(&ps->errors, ps->src, w,
                      "entry %d: needs one of at (once), every (periodic) or when (triggered)", e->index);
        bad = 1;
    } else if (ntriggers > 1) {
        od_lua_report(&ps->errors, ps->src, w, "entry %d: takes only one of at, every and when", e->index);
        bad = 1;
    }
    if (!has(L, t, "capture")) {
        od_lua_report(&ps->errors, ps->src, w, "entry %d: needs capture, a kind or a list of kinds (%s)",
                      e->index, kinds_known);
        bad = 1;
    }
    if (has(L, t, "cooldown") && !when) {
        const od_lua_where_t *c = od_lua_where_field(w, "cooldown");
        od_lua_report(&ps->errors, ps->src, c ? c : w, "entry %d: cooldown applies to when entries only",
                      e->index);
        bad = 1;
    }
    int any_format = 0;
    for (int i = 0; i < f.capture.n; i++)
        any_format |= od_capture_kind_has_format(f.capture.k[i]);
    if (strcmp(f.fmt_name, "pprof") != 0 && f.capture.n && !any_format) {
        const od_lua_where_t *fw = od_lua_where_field(w, "format");
        od_lua_report(&ps->errors, ps->src, fw ? fw : w,
                      "entry %d: format applies to cpu, memory, goroutines, block and mutex", e->index);
        bad = 1;
    }

    e->trigger = at ? OD_TRIGGER_AT : every ? OD_TRIGGER_EVERY : OD_TRIGGER_WHEN;
    e->period_ns = at ? f.at : every ? f.every : f.cooldown;
    e->when_ref = LUA_NOREF;
    if (keep_refs && when && lua_getfield(L, t, "when") == LUA_TFUNCTION)
        e->when_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else if (keep_refs && when)
        lua_pop(L, 1);
    memcpy(e->kinds, f.capture.k, sizeof(e->kinds));
    e->nkinds = f.capture.n;
    e->seconds = f.seconds.v;
    e->seconds_set = has(L, t, "seconds");
    e->fmt = f.fmt;
    memcpy(e->fmt_name, f.fmt_name, sizeof(e->fmt_name));
    memcpy(e->label, f.label, sizeof(e->label));
    return bad ? -1 : 0;
}

int od_schedule_load(lua_State *L, const char *path, int max_seconds, int keep_refs,
                     od_schedule_entry_t **out, size_t *n, od_buf_t *errors)
{
    *out = NULL;
    *n = 0;
    od_buf_t err = OD_BUF_INIT;
    if (od_lua_run_file(L, path, 1, &err) != 0) {
        if (errors) od_buf_printf(errors, "%s\n", err.base);
        od_buf_dispose(&err);
        return -1;
    }
    od_buf_dispose(&err);
    parse_t ps = {.src = od_lua_src_open(path, 0), .max_seconds = max_seconds};
    const od_lua_where_t *root = od_lua_where_root(ps.src);
    od_schedule_entry_t *entries = NULL;
    int bad = 0;
    if (!lua_istable(L, -1)) {
        od_lua_report(
            &ps.errors, ps.src, NULL,
            "the schedule must return a list of captures, e.g. return { { every = \"60s\", capture = "
            "\"memory\" } }; got %s",
            luaL_typename(L, -1));
        lua_pop(L, 1);
        bad = 1;
        goto Exit;
    }
    int list = lua_gettop(L);
    lua_Integer len = luaL_len(L, list);
    /* keys beyond 1..len: a map where a list belongs */
    lua_pushnil(L);
    while (lua_next(L, list) != 0) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= len) continue;
        const od_lua_where_t *kw =
            lua_type(L, -1) == LUA_TSTRING ? od_lua_where_field(root, lua_tostring(L, -1)) : NULL;
        lua_pushvalue(L, -1);
        od_lua_report(&ps.errors, ps.src, kw,
                      "the schedule is a list of entries { ... }, { ... }; unexpected key %s",
                      luaL_tolstring(L, -1, NULL));
        lua_pop(L, 2);
        bad = 1;
    }
    entries = od_calloc(len ? (size_t)len : 1, sizeof(*entries));
    for (lua_Integer i = 1; i <= len; i++) {
        od_schedule_entry_t *e = &entries[i - 1];
        e->index = (int)i;
        const od_lua_where_t *w = od_lua_where_item(root, (size_t)i);
        lua_geti(L, list, i);
        e->line = od_lua_where_line(w);
        if (lua_istable(L, -1) && e->line == 0) { /* no literal list: the when function knows its line */
            lua_getfield(L, -1, "when");
            lua_Debug ar;
            if (lua_isfunction(L, -1) && lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
                e->line = ar.linedefined;
            else
                lua_pop(L, 1);
        }
        if (e->line == 0) e->line = 1;
        if (!lua_istable(L, -1)) {
            od_lua_report(
                &ps.errors, ps.src, w,
                "entry %d must be a table such as { every = \"60s\", capture = \"memory\" }, got %s",
                e->index, luaL_typename(L, -1));
            bad = 1;
        } else {
            bad |= parse_entry(L, &ps, e, w, keep_refs) != 0;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (!bad) {
        *out = entries;
        *n = (size_t)len;
        entries = NULL;
    }
Exit:
    if (errors && ps.errors.len) od_buf_puts(errors, ps.errors.base);
    od_buf_dispose(&ps.errors);
    od_lua_src_close(ps.src);
    free(entries);
    return bad ? -1 : 0;
}

/* orderd.log(...): the arguments on one line of the server's log */
static int orderd_log(lua_State *L)
{
    od_info("schedule: %s", od_lua_push_args_line(L));
    return 0;
}

lua_State *od_schedule_lua_new(void)
{
    /* the rules' policy: a `when` runs on the scheduler thread, bounded, with no way out */
    od_lua_policy_t policy = {.libs = OD_LUA_LIBS_SANDBOX,
                              .sandbox = 1,
                              .budget = OD_SCHEDULE_WHEN_BUDGET,
                              .memory = OD_SCHEDULE_STATE_MEMORY,
                              .subject = "when(s)"};
    lua_State *L = od_lua_open(&policy);
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
    od_lua_close(L);
    return rc;
}
