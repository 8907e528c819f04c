/* The profiling schedule (lua/schedule.lua), its capture files and manifest, and /profiles:
 * see schedule.h. */
#include "schedule.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <lauxlib.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "luautil.h"
#include "prof/capture.h"
#include "prof/threads.h"
#include "routes.h"
#include "rules.h"
#include "server.h"

#define WHEN_BUDGET 1000000L              /* instructions per when(s) call */
#define STATE_MEMORY (32u << 20)          /* the scheduler's Lua state */
#define TICK_NS 1000000000ull             /* when(s) is evaluated this often */
#define ERROR_LOG_EVERY_NS 60000000000ull /* a failing when(s) is logged at most this often */
#define LABEL_MAX 48
#define MANIFEST "manifest.jsonl"

/* --- entries ---------------------------------------------------------------------------------- */

typedef enum trigger { T_AT, T_EVERY, T_WHEN } trigger_t;
static const char *const trigger_names[] = {"at", "every", "when"};

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
static int key_line(parse_t *ps, const entry_t *e, const char *key)
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

static void add_kind(parse_t *ps, entry_t *e, const char *name, int line)
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
static void parse_entry(lua_State *L, parse_t *ps, entry_t *e, int keep_refs)
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
            e->trigger = every ? T_EVERY : T_AT;
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
            have[T_WHEN] = line;
            e->trigger = T_WHEN;
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
            if (s == NULL || !od_name_valid(s, len, LABEL_MAX))
                problem(ps, line,
                        "entry %d: label must be 1 to %d of A-Z a-z 0-9 _ - (it goes into file names)",
                        e->index, LABEL_MAX);
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
    if (have_cooldown && !have[T_WHEN])
        problem(ps, cooldown_line, "entry %d: cooldown applies to when entries only", e->index);
    if (e->trigger == T_WHEN) e->period_ns = cooldown;
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
static int load_schedule(lua_State *L, const char *path, int max_seconds, int keep_refs, entry_t **out,
                         size_t *n, od_buf_t *errors)
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
    entry_t *entries = od_calloc(len ? (size_t)len : 1, sizeof(*entries));
    for (lua_Integer i = 1; i <= len; i++) {
        entry_t *e = &entries[i - 1];
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

static lua_State *new_state(void)
{
    lua_State *L = od_rules_lua_new(STATE_MEMORY, WHEN_BUDGET, "when(s)");
    lua_getglobal(L, "orderd");
    lua_pushcfunction(L, orderd_log);
    lua_setfield(L, -2, "log");
    lua_pop(L, 1);
    return L;
}

int od_schedule_check(const char *path, int max_seconds, od_buf_t *errors)
{
    if (path == NULL || path[0] == '\0') return 0;
    lua_State *L = new_state();
    entry_t *entries;
    size_t n;
    int rc = load_schedule(L, path, max_seconds, 0, &entries, &n, errors);
    free(entries);
    od_rules_lua_close(L);
    return rc;
}

/* --- the output directory and its manifest ---------------------------------------------------- */

static pthread_mutex_t manifest_lock = PTHREAD_MUTEX_INITIALIZER; /* "manifest": see schedule.h */

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *p = od_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

/* writes all of buf to a new file `path` via a temporary name, then renames it into place */
static int write_atomic(const char *dir, const char *name, const void *buf, size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto Failed;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto Failed;
    }
    if (rename(tmp, dst) != 0) {
        fd = -1;
        goto Failed;
    }
    return 0;
Failed:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

/* the manifest's parsed lines, oldest first (lines that do not parse are dropped) */
typedef struct manifest {
    json_t **items;
    size_t n, cap;
} manifest_t;

static void manifest_read(const char *dir, manifest_t *m)
{
    *m = (manifest_t){0};
    char path[4096];
    snprintf(path, sizeof(path), "%s/" MANIFEST, dir);
    size_t len;
    char *text = od_read_file(path, &len);
    if (text == NULL) return;
    char *line = text;
    for (char *nl; (nl = memchr(line, '\n', (size_t)(text + len - line))) != NULL; line = nl + 1) {
        /* a line still being appended has no newline yet: skipped by the loop's condition */
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
        if (j == NULL || !json_is_object(j) || !json_is_string(json_object_get(j, "name"))) {
            json_decref(j);
            continue;
        }
        if (m->n == m->cap)
            m->items = od_realloc(m->items, (m->cap = m->cap ? m->cap * 2 : 32) * sizeof(json_t *));
        m->items[m->n++] = j;
    }
    free(text);
}

static void manifest_dispose(manifest_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->items[i]);
    free(m->items);
}

static const char *item_name(json_t *j)
{
    return json_string_value(json_object_get(j, "name"));
}

static uint64_t item_bytes(json_t *j)
{
    json_t *b = json_object_get(j, "bytes");
    return json_is_integer(b) && json_integer_value(b) > 0 ? (uint64_t)json_integer_value(b) : 0;
}

/* a name the directory may hold: no path, no hidden or temporary file */
static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 200 || s[0] == '.') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
        if (c == '.' && i + 1 < len && s[i + 1] == '.') return 0;
    }
    return 1;
}

/*
 * drops the oldest captures (file and line) until at most keep_files remain within keep_bytes,
 * and lines whose file is gone; rewrites the manifest when anything changed.  Under the
 * manifest lock.
 */
static void prune_locked(const char *dir, uint64_t keep_files, uint64_t keep_bytes)
{
    manifest_t m;
    manifest_read(dir, &m);
    char path[4096];
    size_t first = 0, changed = 0;
    uint64_t total = 0;
    size_t live = 0;
    char *gone = od_calloc(m.n ? m.n : 1, 1);
    for (size_t i = 0; i < m.n; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, item_name(m.items[i]));
        if (!name_ok(item_name(m.items[i]), strlen(item_name(m.items[i]))) || stat(path, &st) != 0) {
            gone[i] = 1;
            changed = 1;
            continue;
        }
        total += item_bytes(m.items[i]);
        live++;
    }
    for (first = 0; first < m.n && (live > keep_files || total > keep_bytes); first++) {
        if (gone[first]) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, item_name(m.items[first]));
        if (unlink(path) != 0 && errno != ENOENT)
            od_warn("schedule: cannot remove %s: %s", path, strerror(errno));
        od_info("schedule: pruned %s (keep: %llu files, %llu bytes)", item_name(m.items[first]),
                (unsigned long long)keep_files, (unsigned long long)keep_bytes);
        gone[first] = 1;
        changed = 1;
        live--;
        total -= item_bytes(m.items[first]);
    }
    if (changed) {
        od_buf_t out = OD_BUF_INIT;
        for (size_t i = 0; i < m.n; i++) {
            if (gone[i]) continue;
            char *s = json_dumps(m.items[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (s) {
                od_buf_puts(&out, s);
                od_buf_putc(&out, '\n');
                free(s);
            }
        }
        if (write_atomic(dir, MANIFEST, out.base ? out.base : "", out.len) != 0)
            od_error("schedule: cannot rewrite %s/%s: %s", dir, MANIFEST, strerror(errno));
        od_buf_dispose(&out);
    }
    free(gone);
    manifest_dispose(&m);
}

/* removes ".NAME.tmp" files a previous run left behind (it stopped mid-write) */
static void remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] != '.' || n < 6 || strcmp(de->d_name + n - 4, ".tmp") != 0) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* --- the scheduler ----------------------------------------------------------------------------- */

typedef struct job {
    struct od_schedule *s;
    entry_t *e;
    od_capture_kind_t kind;
    trigger_t trigger;
    pthread_t thread;
    int used; /* scheduler thread only */
    int done; /* atomic: the thread finished */
} job_t;

struct od_schedule {
    char *path, *dir;
    int max_seconds;
    uint64_t keep_files, keep_bytes;
    od_pool_t *pool;
    od_stats_t *stats;
    lua_State *L; /* scheduler thread only */
    entry_t *entries;
    size_t n;
    job_t jobs[OD_SCHEDULE_JOBS];

    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping, for the condition */
    pthread_cond_t wake;
    int stopping; /* atomic */
    uint64_t start_ns;

    /* the previous snapshot, for rates and the recent percentiles */
    uint64_t prev_ns, prev_accepted, prev_processed, prev_errors, prev_rejected;
    od_hist_t *prev_hist, *cur_hist;
};

static int is_stopping(void *arg)
{
    od_schedule_t *s = arg;
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

/* writes one capture into the directory and the manifest, then prunes */
static void store(od_schedule_t *s, job_t *j, const od_buf_t *data, const char *ext, const char *ct,
                  uint64_t started_wall_ns, double seconds)
{
    entry_t *e = j->e;
    const char *kind = od_capture_kind_name(j->kind);
    char stamp[32], base[128], name[160], started[32];
    time_t secs = (time_t)(started_wall_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(base, sizeof(base), "%s-%s%s%s", stamp, kind, e->label[0] ? "-" : "", e->label);
    od_format_time(started_wall_ns, started);

    pthread_mutex_lock(&manifest_lock);
    if (make_dirs(s->dir) != 0) {
        od_error("%s:%d: schedule: cannot create %s: %s; the %s capture is lost", s->path, e->line, s->dir,
                 strerror(errno), kind);
        goto Exit;
    }
    /* the same kind and label twice in one second: number the later ones */
    for (int k = 1;; k++) {
        char path[4096];
        if (k == 1)
            snprintf(name, sizeof(name), "%s.%s", base, ext);
        else
            snprintf(name, sizeof(name), "%s-%d.%s", base, k, ext);
        snprintf(path, sizeof(path), "%s/%s", s->dir, name);
        if (access(path, F_OK) != 0) break;
    }
    if (write_atomic(s->dir, name, data->base ? data->base : "", data->len) != 0) {
        od_error("%s:%d: schedule: cannot write %s/%s: %s; the %s capture is lost", s->path, e->line, s->dir,
                 name, strerror(errno), kind);
        goto Exit;
    }
    char entry_at[4200];
    snprintf(entry_at, sizeof(entry_at), "%s:%d", s->path, e->line);
    json_t *line =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:f, s:s, s:s, s:i, s:s}", "name", name, "kind", kind,
                  "label", e->label, "format", od_capture_kind_has_format(j->kind) ? e->fmt_name : ext,
                  "bytes", (json_int_t)data->len, "started_at", started, "seconds", seconds, "trigger",
                  trigger_names[j->trigger], "entry", entry_at, "line", e->line, "content_type", ct);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    char mpath[4096];
    snprintf(mpath, sizeof(mpath), "%s/" MANIFEST, s->dir);
    int fd = open(mpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    od_buf_t l = OD_BUF_INIT;
    od_buf_printf(&l, "%s\n", text);
    free(text);
    size_t want = l.len;
    ssize_t w = fd >= 0 ? write(fd, l.base, want) : -1;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && w >= 0) w = -1, saved = errno;
    od_buf_dispose(&l);
    if (w < 0 || (size_t)w != want) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", s->dir, name);
        unlink(path);
        od_error("%s:%d: schedule: cannot append to %s: %s; the %s capture is dropped", s->path, e->line,
                 mpath, w < 0 ? strerror(saved) : "short write", kind);
        /* a partial line (no newline) is skipped by readers and rewritten away by the prune */
        prune_locked(s->dir, s->keep_files, s->keep_bytes);
        goto Exit;
    }
    od_info("schedule: %s:%d: wrote %s/%s (%zu bytes, %s)", s->path, e->line, s->dir, name, data->len,
            trigger_names[j->trigger]);
    prune_locked(s->dir, s->keep_files, s->keep_bytes);
Exit:
    pthread_mutex_unlock(&manifest_lock);
}

static void *capture_main(void *arg)
{
    job_t *j = arg;
    od_schedule_t *s = j->s;
    entry_t *e = j->e;
    const char *kind = od_capture_kind_name(j->kind);
    char tname[32];
    snprintf(tname, sizeof(tname), OD_THREAD_PROF_PREFIX "capture-%s", kind); /* a profiler thread */
    od_thread_register(tname);
    od_thread_set_state("capturing");

    uint64_t started = od_wall_ns();
    od_buf_t out = OD_BUF_INIT, err = OD_BUF_INIT;
    const char *ext = NULL, *ct = NULL;
    int timed = od_capture_kind_timed(j->kind);
    double seconds = timed ? e->seconds : 0;
    int rc;
    if (!timed && e->seconds_set && j->kind != OD_CAP_GC) {
        /* an explicit window on a snapshot kind: what happened during it, as /profile/KIND?seconds= */
        od_profile_t p;
        seconds = e->seconds;
        rc = od_capture_delta(j->kind, seconds, is_stopping, s, &p, &err);
        if (rc == 0) rc = od_prof_write(&p, e->fmt, &out, &err);
        ext = od_prof_format_ext(e->fmt, p.kind);
        ct = od_prof_format_content_type(e->fmt);
        od_profile_dispose(&p);
    } else {
        rc = od_capture(j->kind, seconds, e->fmt, is_stopping, s, &out, &ext, &ct, &err);
    }
    if (rc == OD_CAPTURE_BUSY)
        od_warn("%s:%d: schedule: %s capture skipped: one is already running", s->path, e->line, kind);
    else if (rc != 0)
        od_error("%s:%d: schedule: %s capture failed: %s", s->path, e->line, kind,
                 err.len ? err.base : "unknown error");
    else
        store(s, j, &out, ext ? ext : "bin", ct ? ct : "application/octet-stream", started, seconds);
    od_buf_dispose(&out);
    od_buf_dispose(&err);
    __atomic_sub_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
    od_thread_unregister();
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reap(od_schedule_t *s, int all)
{
    for (int i = 0; i < OD_SCHEDULE_JOBS; i++) {
        job_t *j = &s->jobs[i];
        if (j->used && (all || __atomic_load_n(&j->done, __ATOMIC_ACQUIRE))) {
            pthread_join(j->thread, NULL);
            j->used = 0;
        }
    }
}

static void fire(od_schedule_t *s, entry_t *e, uint64_t now)
{
    if (__atomic_load_n(&e->running, __ATOMIC_ACQUIRE) > 0) {
        od_warn("%s:%d: schedule: skipped: the entry's previous capture is still running", s->path, e->line);
        return;
    }
    e->fired = 1;
    e->last_fired_ns = now;
    for (int k = 0; k < e->nkinds; k++) {
        job_t *j = NULL;
        for (int i = 0; i < OD_SCHEDULE_JOBS && j == NULL; i++)
            if (!s->jobs[i].used) j = &s->jobs[i];
        if (j == NULL) {
            od_warn("%s:%d: schedule: %s capture skipped: %d captures already in flight", s->path, e->line,
                    od_capture_kind_name(e->kinds[k]), OD_SCHEDULE_JOBS);
            continue;
        }
        *j = (job_t){.s = s, .e = e, .kind = e->kinds[k], .trigger = e->trigger, .used = 1};
        __atomic_add_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
        int rc = pthread_create(&j->thread, NULL, capture_main, j);
        if (rc != 0) {
            od_error("%s:%d: schedule: cannot start a capture thread: %s", s->path, e->line, strerror(rc));
            __atomic_sub_fetch(&e->running, 1, __ATOMIC_ACQ_REL);
            j->used = 0;
        }
    }
}

/* the stats snapshot handed to when(s) */
typedef struct snapshot {
    double queue_fill, accepted_rate, processed_rate, rejected_rate, error_rate, p50_ms, p99_ms, rss_mb,
        uptime;
    uint64_t queue_length, queue_capacity, accepted, processed, errors, rejected;
    int in_flight, workers;
    char scenario[80];
} snapshot_t;

static void take_snapshot(od_schedule_t *s, uint64_t now, snapshot_t *out)
{
    od_pool_snapshot_t ps;
    od_pool_snapshot(s->pool, &ps);
    od_stats_t *st = s->stats;
    *out = (snapshot_t){0};
    out->queue_length = ps.queue_length;
    out->queue_capacity = ps.capacity;
    out->queue_fill = ps.capacity ? (double)ps.queue_length / (double)ps.capacity : 0;
    out->in_flight = ps.active;
    out->workers = ps.workers;
    out->accepted = od_stats_get(&st->accepted);
    out->processed = od_stats_get(&st->processed);
    out->errors = od_stats_get(&st->errors);
    out->rejected = od_stats_get(&st->rejected);
    double dt = (double)(now - s->prev_ns) / 1e9;
    if (dt <= 0) dt = 1;
    out->accepted_rate = (double)(out->accepted - s->prev_accepted) / dt;
    out->processed_rate = (double)(out->processed - s->prev_processed) / dt;
    out->error_rate = (double)(out->errors - s->prev_errors) / dt;
    out->rejected_rate = (double)(out->rejected - s->prev_rejected) / dt;
    /* processing-time percentiles of the orders finished since the last snapshot */
    od_stats_hist_copy(st, s->cur_hist);
    od_hist_t *d = s->prev_hist; /* becomes the difference, then the next "previous" */
    for (size_t i = 0; i < d->ncounts; i++)
        d->counts[i] = s->cur_hist->counts[i] - d->counts[i];
    d->total = s->cur_hist->total - d->total;
    d->min = 0;
    d->max = s->cur_hist->max;
    out->p50_ms = (double)od_hist_percentile(d, 50) / 1000.0;
    out->p99_ms = (double)od_hist_percentile(d, 99) / 1000.0;
    od_hist_copy(s->prev_hist, s->cur_hist);
    out->rss_mb = (double)od_rss_bytes() / (1024.0 * 1024.0);
    out->uptime = (double)(now - s->start_ns) / 1e9;
    od_routes_current_scenario(out->scenario, sizeof(out->scenario));
    s->prev_ns = now;
    s->prev_accepted = out->accepted;
    s->prev_processed = out->processed;
    s->prev_errors = out->errors;
    s->prev_rejected = out->rejected;
}

typedef struct when_call {
    int ref;
    const snapshot_t *snap;
    int result;
} when_call_t;

/* protected: when(s) → c->result */
static int when_trampoline(lua_State *L)
{
    when_call_t *c = lua_touserdata(L, 1);
    const snapshot_t *x = c->snap;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    lua_createtable(L, 0, 20);
#define NUM(name, v)                                                                                         \
    do {                                                                                                     \
        lua_pushnumber(L, (lua_Number)(v));                                                                  \
        lua_setfield(L, -2, name);                                                                           \
    } while (0)
#define INT(name, v)                                                                                         \
    do {                                                                                                     \
        lua_pushinteger(L, (lua_Integer)(v));                                                                \
        lua_setfield(L, -2, name);                                                                           \
    } while (0)
    NUM("queue_fill", x->queue_fill);
    INT("queue_length", x->queue_length);
    INT("queue_capacity", x->queue_capacity);
    INT("in_flight", x->in_flight);
    INT("workers", x->workers);
    INT("accepted", x->accepted);
    INT("processed", x->processed);
    INT("errors", x->errors);
    INT("rejected", x->rejected);
    NUM("accepted_rate", x->accepted_rate);
    NUM("processed_rate", x->processed_rate);
    NUM("error_rate", x->error_rate);
    NUM("rejected_rate", x->rejected_rate);
    NUM("p50_ms", x->p50_ms);
    NUM("p99_ms", x->p99_ms);
    NUM("rss_mb", x->rss_mb);
    NUM("uptime", x->uptime);
#undef NUM
#undef INT
    lua_pushstring(L, x->scenario);
    lua_setfield(L, -2, "scenario");
    lua_call(L, 1, 1);
    c->result = lua_toboolean(L, -1);
    return 0;
}

/* after a memory error with the state still full: whatever the script keeps is what grew, so
 * load it afresh into a new state and point the entries at its when functions (the same
 * script, the same list) */
static void reset_state(od_schedule_t *s)
{
    lua_State *L = new_state();
    entry_t *fresh;
    size_t n;
    od_buf_t errors = OD_BUF_INIT;
    if (load_schedule(L, s->path, s->max_seconds, 1, &fresh, &n, &errors) != 0 || n != s->n) {
        od_error("schedule: %s no longer loads as it did at startup; keeping the old state%s%s", s->path,
                 errors.len ? ":\n" : "", errors.len ? errors.base : "");
        free(fresh);
        od_rules_lua_close(L);
        od_buf_dispose(&errors);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s->entries[i].when_ref = fresh[i].when_ref;
        s->entries[i].kept = 0;
    }
    free(fresh);
    od_buf_dispose(&errors);
    od_rules_lua_close(s->L);
    s->L = L;
}

static void evaluate(od_schedule_t *s, entry_t *e, const snapshot_t *snap, uint64_t now)
{
    lua_pushcfunction(s->L, when_trampoline);
    when_call_t c = {.ref = e->when_ref, .snap = snap};
    lua_pushlightuserdata(s->L, &c);
    od_buf_t err = OD_BUF_INIT;
    size_t before = od_rules_lua_memory(s->L);
    int rc = od_rules_lua_call(s->L, 1, 0, &err);
    size_t after = od_rules_lua_memory(s->L);
    if (rc == 0) /* what this entry leaves behind (globals, caches), net */
        e->kept = after >= before ? e->kept + (after - before)
                                  : e->kept - (e->kept < before - after ? e->kept : before - after);
    /* A refused allocation that the collection gave back changes nothing.  But when what the
     * script keeps fills half the state and this entry is the one that kept the most, the
     * next calls would fail too: start the script afresh.  (An entry that merely needed a lot
     * while another hoards fails alone, until the hoarder's own call fails.) */
    if (rc == OD_LUA_ERRMEM && after > STATE_MEMORY / 2) {
        entry_t *top = e;
        for (size_t i = 0; i < s->n; i++)
            if (s->entries[i].kept > top->kept) top = &s->entries[i];
        if (top == e || top->kept < STATE_MEMORY / 4) {
            od_warn("schedule: %s: what the script keeps (globals) fills %.1f of its state's %.0f MiB and "
                    "%s:%d %s: reloading the script into a new state, globals start afresh",
                    s->path, (double)after / 1048576.0, STATE_MEMORY / 1048576.0, s->path, e->line,
                    top == e ? "(which kept the most) just ran out of memory" : "just ran out of memory");
            reset_state(s);
        }
    }
    if (rc != 0) {
        if (e->err_logged_ns == 0 || now - e->err_logged_ns >= ERROR_LOG_EVERY_NS) {
            if (e->err_suppressed)
                od_error("%s:%d: schedule: when(s) failed: %s (and %u times since last logged)", s->path,
                         e->line, err.base, e->err_suppressed);
            else
                od_error("%s:%d: schedule: when(s) failed: %s", s->path, e->line, err.base);
            e->err_logged_ns = now;
            e->err_suppressed = 0;
        } else {
            e->err_suppressed++;
        }
        od_buf_dispose(&err);
        return;
    }
    od_buf_dispose(&err);
    if (c.result) {
        od_info("%s:%d: schedule: when(s) is true: capturing", s->path, e->line);
        fire(s, e, now);
    }
}

static void *scheduler_main(void *arg)
{
    od_schedule_t *s = arg;
    od_thread_register("scheduler");
    od_thread_mark_profiler(); /* SPEC names it "scheduler"; it does the profiler's work */
    uint64_t next_tick = s->start_ns + TICK_NS;
    for (size_t i = 0; i < s->n; i++)
        s->entries[i].next_ns = s->start_ns + s->entries[i].period_ns;

    while (!is_stopping(s)) {
        od_thread_set_state("running");
        uint64_t now = od_now_ns();
        reap(s, 0);
        for (size_t i = 0; i < s->n; i++) {
            entry_t *e = &s->entries[i];
            if (e->trigger == T_AT && !e->fired && now >= e->next_ns) {
                fire(s, e, now);
                e->fired = 1;
            } else if (e->trigger == T_EVERY && now >= e->next_ns) {
                fire(s, e, now);
                e->next_ns += e->period_ns;
                if (e->next_ns <= now) e->next_ns = now + e->period_ns; /* fell behind: no burst */
            }
        }
        if (now >= next_tick) {
            snapshot_t snap;
            take_snapshot(s, now, &snap);
            for (size_t i = 0; i < s->n; i++) {
                entry_t *e = &s->entries[i];
                if (e->trigger != T_WHEN || e->when_ref == LUA_NOREF) continue;
                if (e->fired && now - e->last_fired_ns < e->period_ns) continue; /* cooling down */
                if (__atomic_load_n(&e->running, __ATOMIC_ACQUIRE) > 0) continue;
                evaluate(s, e, &snap, now);
            }
            next_tick += TICK_NS;
            if (next_tick <= now) next_tick = now + TICK_NS;
        }

        /* sleep until the next tick or due entry; od_schedule_stop wakes us */
        uint64_t wake = next_tick;
        for (size_t i = 0; i < s->n; i++) {
            entry_t *e = &s->entries[i];
            if ((e->trigger == T_EVERY || (e->trigger == T_AT && !e->fired)) && e->next_ns < wake)
                wake = e->next_ns;
        }
        od_thread_set_state("idle");
        pthread_mutex_lock(&s->lock);
        if (!is_stopping(s)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            uint64_t delay = wake > od_now_ns() ? wake - od_now_ns() : 0;
            t += delay;
            ts.tv_sec = (time_t)(t / 1000000000ull);
            ts.tv_nsec = (long)(t % 1000000000ull);
            if (delay > 0) pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
    }
    reap(s, 1); /* the captures see is_stopping and end their windows early */
    od_thread_unregister();
    return NULL;
}

od_schedule_t *od_schedule_start(const od_config_t *cfg, od_pool_t *pool, od_stats_t *stats)
{
    const char *path = cfg->profiling.schedule;
    if (!cfg->profiling.enabled || path == NULL || path[0] == '\0') return NULL;
    od_schedule_t *s = od_calloc(1, sizeof(*s));
    s->path = od_strdup(path);
    s->dir = od_strdup(cfg->profiling.output_dir);
    s->max_seconds = cfg->profiling.max_seconds;
    s->keep_files = cfg->profiling.keep_files;
    s->keep_bytes = cfg->profiling.keep_bytes;
    s->pool = pool;
    s->stats = stats;
    s->L = new_state();
    od_buf_t errors = OD_BUF_INIT;
    if (load_schedule(s->L, path, cfg->profiling.max_seconds, 1, &s->entries, &s->n, &errors) != 0) {
        od_error("schedule: %s does not load; no scheduled captures:\n%s", path, errors.base);
        od_buf_dispose(&errors);
        od_rules_lua_close(s->L);
        free(s->path);
        free(s->dir);
        free(s);
        return NULL;
    }
    od_buf_dispose(&errors);
    if (make_dirs(s->dir) != 0)
        od_warn("schedule: cannot create %s (%s); captures will be retried there", s->dir, strerror(errno));
    pthread_mutex_lock(&manifest_lock);
    remove_temporaries(s->dir);
    prune_locked(s->dir, s->keep_files, s->keep_bytes); /* keep may have shrunk since the last run */
    pthread_mutex_unlock(&manifest_lock);

    s->prev_hist = od_hist_create();
    s->cur_hist = od_hist_create();
    s->start_ns = s->prev_ns = od_now_ns();
    od_stats_hist_copy(stats, s->prev_hist);
    s->prev_accepted = od_stats_get(&stats->accepted);
    s->prev_processed = od_stats_get(&stats->processed);
    s->prev_errors = od_stats_get(&stats->errors);
    s->prev_rejected = od_stats_get(&stats->rejected);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);

    /* the server takes SIGTERM/SIGINT with sigwait: keep them off these threads */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        od_error("schedule: cannot start the scheduler thread: %s", strerror(rc));
        s->thread = 0;
        od_schedule_stop(s);
        return NULL;
    }
    od_info("schedule: %s: %zu entr%s, captures in %s (keep %llu files, %llu bytes)", path, s->n,
            s->n == 1 ? "y" : "ies", s->dir, (unsigned long long)s->keep_files,
            (unsigned long long)s->keep_bytes);
    return s;
}

void od_schedule_stop(od_schedule_t *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&s->lock);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->thread) pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    od_rules_lua_close(s->L);
    od_hist_destroy(s->prev_hist);
    od_hist_destroy(s->cur_hist);
    free(s->entries);
    free(s->path);
    free(s->dir);
    free(s);
}

/* --- GET /profiles, GET /profiles/{name} ------------------------------------------------------ */

static int list_profiles(od_req_t *r)
{
    const char *dir = r->srv->cfg->profiling.output_dir;
    manifest_t m;
    manifest_read(dir, &m);
    od_buf_t j = OD_BUF_INIT;
    od_buf_putc(&j, '[');
    for (size_t i = 0; i < m.n; i++) {
        char url[256];
        snprintf(url, sizeof(url), "/profiles/%s", item_name(m.items[i]));
        json_object_set_new(m.items[i], "url", json_string(url));
        char *s = json_dumps(m.items[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s == NULL) continue;
        if (j.len > 1) od_buf_putc(&j, ',');
        od_buf_puts(&j, s);
        free(s);
    }
    od_buf_putc(&j, ']');
    manifest_dispose(&m);
    return od_respond_json(r, 200, &j);
}

typedef struct download {
    char name[256];
} download_t;

static void download_job(od_job_t *job, void *arg)
{
    download_t *d = arg;
    const char *dir = od_job_server(job)->cfg->profiling.output_dir;
    od_buf_t body = OD_BUF_INIT;
    manifest_t m;
    manifest_read(dir, &m);
    const char *ct = NULL;
    for (size_t i = 0; i < m.n && ct == NULL; i++)
        if (strcmp(item_name(m.items[i]), d->name) == 0) {
            json_t *c = json_object_get(m.items[i], "content_type");
            ct = json_is_string(c) ? json_string_value(c) : "application/octet-stream";
        }
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "%s", ct ? ct : "");
    manifest_dispose(&m);
    if (ctype[0] == '\0') {
        od_buf_printf(&body, "{\"error\":\"no scheduled capture named \\\"%s\\\" (see GET /profiles)\"}",
                      d->name);
        od_job_respond(job, 404, "application/json", &body);
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, d->name);
    size_t len;
    char *data = od_read_file(path, &len);
    if (data == NULL) {
        od_buf_printf(&body, "{\"error\":\"capture \\\"%s\\\" is listed but cannot be read: %s\"}", d->name,
                      strerror(errno));
        od_job_respond(job, errno == ENOENT ? 404 : 500, "application/json", &body);
        return;
    }
    body.base = data;
    body.len = len;
    body.cap = len + 1;
    char disp[320];
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", d->name);
    od_job_add_header(job, "Content-Disposition", disp);
    od_job_add_header(job, "X-Content-Type-Options", "nosniff");
    od_job_respond(job, 200, ctype, &body);
    od_buf_dispose(&body);
}

static int get_profile(od_req_t *r)
{
    const char *name = r->path + strlen("/profiles/");
    size_t len = r->path_len - strlen("/profiles/");
    if (len == 0) return list_profiles(r);
    if (!name_ok(name, len) || len >= sizeof(((download_t *)0)->name))
        return od_respond_error(
            r, 400, "name",
            "a capture name is a file name in the output directory (A-Z a-z 0-9 . _ -, no "
            "path, not hidden); see GET /profiles");
    download_t *d = od_calloc(1, sizeof(*d));
    memcpy(d->name, name, len);
    if (od_defer(r, download_job, d, free) != 0) {
        free(d);
        od_add_header(r, "Retry-After", "1");
        return od_respond_error(r, 503, NULL, "too many profiling jobs running; retry");
    }
    return 0;
}

void od_schedule_http_register(void)
{
    od_route_add("/profiles", OD_GET | OD_HEAD, OD_ROUTE_PROFILING, OD_ROUTE_PROFILE, list_profiles);
    od_route_add("/profiles/", OD_GET | OD_HEAD, OD_ROUTE_PROFILING | OD_ROUTE_PREFIX, OD_ROUTE_PROFILE,
                 get_profile);
}
