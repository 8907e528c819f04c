/*
 * values — the loader's positions and reports, and its typed readers of one Lua value: see
 * loader.h.  Positions come from the Lua layer's source map (od_lua_src_t).
 */
#include "scenario/loader.h"

#include <lauxlib.h>
#include <string.h>

/* ---- positions ---------------------------------------------------------------------------- */

const od_lua_where_t *od_scenario_key_pos(const char *key, const od_lua_where_t *within)
{
    const od_lua_where_t *w = key ? od_lua_where_field(within, key) : NULL;
    return w ? w : within;
}

void od_scenario_report(od_scenario_loader_t *ld, const od_lua_where_t *at, const char *fmt, ...)
{
    od_buf_t msg = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    od_lua_report(ld->errors, ld->src, at, "%s", msg.base ? msg.base : "");
    od_buf_dispose(&msg);
    ld->nerrors++;
}

/* Appends a Lua-reported error ("file:line: message"), one line per error. */
void od_scenario_report_lua(od_scenario_loader_t *ld, const char *msg)
{
    od_buf_puts(ld->errors, msg);
    if (ld->errors->len == 0 || ld->errors->base[ld->errors->len - 1] != '\n') od_buf_putc(ld->errors, '\n');
    ld->nerrors++;
}

int od_scenario_apply_later(lua_State *L, int idx, void *member, od_buf_t *why)
{
    (void)L, (void)idx, (void)member, (void)why;
    return 0;
}

/* ---- values ------------------------------------------------------------------------------- */

/* Reads a duration (a string with a unit, or a number of seconds) at stack index idx. */
int od_scenario_get_duration(od_scenario_loader_t *ld, lua_State *L, int idx, const char *what,
                             const od_lua_where_t *at, uint64_t *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (od_seconds_to_ns(v, (uint64_t)(OD_SCENARIO_MAX_S * 1e9), out) == 0) return 0;
        od_scenario_report(ld, at, "%s: %g is out of range (0 .. 1 year)", what, v);
        return -1;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        if (od_parse_duration(s, out) == 0 && *out <= (uint64_t)(OD_SCENARIO_MAX_S * 1e9)) return 0;
        od_scenario_report(ld, at, "%s: \"%s\" is not a duration (e.g. \"250ms\", \"10s\", \"2m\")", what, s);
        return -1;
    }
    od_scenario_report(ld, at, "%s must be a duration such as \"10s\" (got a %s)", what,
                       luaL_typename(L, idx));
    return -1;
}
