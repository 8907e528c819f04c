/*
 * values — the loader's positions and reports, and its typed readers of one Lua value: see
 * loader.h.  A position is found by scanning the file's text for the key that holds a value.
 */
#include "scenario/loader.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <string.h>

/* ---- positions ---------------------------------------------------------------------------- */

static int is_word(int c)
{
    return isalnum(c) || c == '_';
}

/*
 * finds `key` written as a table key (`key =`, `["key"]` or `['key']`) at or after line
 * `after`; sets *line and *col (1-based).  Returns 0 if found, -1 if not.
 */
static int find_key(const od_scenario_loader_t *ld, const char *key, int after, int *line, int *col)
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

od_scenario_pos_t od_scenario_key_pos(const od_scenario_loader_t *ld, const char *key,
                                      od_scenario_pos_t within)
{
    od_scenario_pos_t p = {0, 0};
    if (find_key(ld, key, within.line, &p.line, &p.col) != 0) return within;
    return p;
}

void od_scenario_report(od_scenario_loader_t *ld, od_scenario_pos_t at, const char *fmt, ...)
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
void od_scenario_report_lua(od_scenario_loader_t *ld, const char *msg)
{
    od_buf_puts(ld->errors, msg);
    if (ld->errors->len == 0 || ld->errors->base[ld->errors->len - 1] != '\n') od_buf_putc(ld->errors, '\n');
    ld->nerrors++;
}

/* ---- values ------------------------------------------------------------------------------- */

/* Reads a duration (a string with a unit, or a number of seconds) at stack index idx. */
int od_scenario_get_duration(od_scenario_loader_t *ld, lua_State *L, int idx, const char *what,
                             od_scenario_pos_t at, uint64_t *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v >= 0 && v <= 86400.0 * 365)) {
            od_scenario_report(ld, at, "%s: %g is out of range (0 .. 1 year)", what, v);
            return -1;
        }
        *out = (uint64_t)(v * 1e9);
        return 0;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        if (od_parse_duration(s, out) == 0 && *out <= 86400ull * 365 * 1000000000ull) return 0;
        od_scenario_report(ld, at, "%s: \"%s\" is not a duration (e.g. \"250ms\", \"10s\", \"2m\")", what, s);
        return -1;
    }
    od_scenario_report(ld, at, "%s must be a duration such as \"10s\" (got a %s)", what,
                       luaL_typename(L, idx));
    return -1;
}

int od_scenario_get_number(od_scenario_loader_t *ld, lua_State *L, int idx, const char *what,
                           od_scenario_pos_t at, double lo, double hi, double *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER) {
        od_scenario_report(ld, at, "%s must be a number (got a %s)", what, luaL_typename(L, idx));
        return -1;
    }
    double v = lua_tonumber(L, idx);
    if (!(v >= lo && v <= hi)) {
        od_scenario_report(ld, at, "%s: %g is out of range (%g .. %g)", what, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int od_scenario_get_integer(od_scenario_loader_t *ld, lua_State *L, int idx, const char *what,
                            od_scenario_pos_t at, long lo, long hi, uint32_t *out)
{
    if (!lua_isinteger(L, idx) &&
        !(lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == floor(lua_tonumber(L, idx)))) {
        od_scenario_report(ld, at, "%s must be an integer (got %s)", what,
                           lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
        return -1;
    }
    double v = lua_tonumber(L, idx);
    if (v < (double)lo || v > (double)hi) {
        od_scenario_report(ld, at, "%s: %.0f is out of range (%ld .. %ld)", what, v, lo, hi);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int od_scenario_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')) return 0;
    return 1;
}
