/*
 * The table-driven schema walker: a Lua table applied to a C struct through od_lua_field_t,
 * as config.c applies the YAML through its key table (see lua_layer.h).
 */
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_layer.h"

void od_lua_schema_defaults(const od_lua_field_t *fields, void *dst)
{
    for (const od_lua_field_t *f = fields; f->name; f++) {
        char *m = (char *)dst + f->offset;
        switch (f->type) {
        case OD_LUA_T_INT:
            *(int *)m = (int)f->def;
            break;
        case OD_LUA_T_U32:
            *(uint32_t *)m = (uint32_t)f->def;
            break;
        case OD_LUA_T_LONG:
            *(long *)m = (long)f->def;
            break;
        case OD_LUA_T_SIZE:
        case OD_LUA_T_BYTES:
            *(size_t *)m = (size_t)f->def;
            break;
        case OD_LUA_T_DOUBLE:
            *(double *)m = f->def;
            break;
        case OD_LUA_T_DURATION:
            *(uint64_t *)m = (uint64_t)(f->def * 1e9);
            break;
        case OD_LUA_T_TABLE:
            od_lua_schema_defaults(f->sub, dst);
            break;
        case OD_LUA_T_STRING:
        case OD_LUA_T_FUNCTION:
        case OD_LUA_T_CUSTOM:
            break;
        }
    }
}

/* one walk: where problems go and how the top table is named */
typedef struct walk {
    const od_lua_src_t *src;
    od_buf_t *errors;
    const char *what;
} walk_t;

/* "8MiB", "256KiB", "1GiB" when exact, else bytes */
static void size_text(char *out, size_t n, double bytes)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    for (int i = 0; i < 3; i++) {
        double u = (double)(1ull << (10 * (3 - i)));
        if (bytes >= u && fmod(bytes, u) == 0) {
            snprintf(out, n, "%.15g%s", bytes / u, units[i]);
            return;
        }
    }
    snprintf(out, n, "%.15g", bytes);
}

/* "FULL (HELP)" or "FULL" */
static void label(char *out, size_t n, const char *full, const od_lua_field_t *f)
{
    if (f->help)
        snprintf(out, n, "%s (%s)", full, f->help);
    else
        snprintf(out, n, "%s", full);
}

static int is_integral(od_lua_type_t t)
{
    return t == OD_LUA_T_INT || t == OD_LUA_T_U32 || t == OD_LUA_T_LONG || t == OD_LUA_T_SIZE;
}

/* the value at the top of the stack for field f; 0, or -1 after reporting */
static int apply_value(walk_t *wk, lua_State *L, const od_lua_field_t *f, const char *full, void *dst,
                       const od_lua_where_t *at)
{
    char *m = (char *)dst + f->offset;
    char lab[160];
    label(lab, sizeof(lab), full, f);
    int type = lua_type(L, -1);
    switch (f->type) {
    case OD_LUA_T_INT:
    case OD_LUA_T_U32:
    case OD_LUA_T_LONG:
    case OD_LUA_T_SIZE:
    case OD_LUA_T_DOUBLE: {
        if (type != LUA_TNUMBER) {
            char hint[96] = "";
            if (type == LUA_TFUNCTION)
                snprintf(hint, sizeof(hint), " (%s holds values only)", wk->what ? wk->what : "the table");
            od_lua_report(wk->errors, wk->src, at, "%s must be %s, got %s%s", full,
                          f->expect ? f->expect : "a number", luaL_typename(L, -1), hint);
            return -1;
        }
        double v = lua_tonumber(L, -1);
        int integral = is_integral(f->type);
        if (!isfinite(v) || v < f->min || v > f->max || (integral && v != floor(v))) {
            od_lua_report(wk->errors, wk->src, at, "%s must be %s from %.15g to %.15g, got %.15g", lab,
                          integral ? "a whole number" : "a number", f->min, f->max, v);
            return -1;
        }
        if (f->type == OD_LUA_T_INT)
            *(int *)m = (int)v;
        else if (f->type == OD_LUA_T_U32)
            *(uint32_t *)m = (uint32_t)v;
        else if (f->type == OD_LUA_T_LONG)
            *(long *)m = (long)v;
        else if (f->type == OD_LUA_T_SIZE)
            *(size_t *)m = (size_t)v;
        else
            *(double *)m = v;
        return 0;
    }
    case OD_LUA_T_BYTES: {
        uint64_t bytes = 0;
        int ok = 0;
        if (type == LUA_TNUMBER) {
            double v = lua_tonumber(L, -1);
            ok = v >= 0 && v <= 1.8e19 && v == floor(v);
            bytes = ok ? (uint64_t)v : 0;
        } else if (type == LUA_TSTRING) {
            ok = od_parse_size(lua_tostring(L, -1), &bytes) == 0;
        }
        if (!ok || (double)bytes < f->min || (double)bytes > f->max) {
            char lo[32], hi[32], eg[32];
            size_text(lo, sizeof(lo), f->min);
            size_text(hi, sizeof(hi), f->max);
            size_text(eg, sizeof(eg), f->def > 0 ? f->def : f->max);
            od_lua_report(wk->errors, wk->src, at, "%s must be a size from %s to %s, e.g. \"%s\"", lab, lo,
                          hi, eg);
            return -1;
        }
        *(size_t *)m = (size_t)bytes;
        return 0;
    }
    case OD_LUA_T_DURATION: {
        uint64_t ns = 0;
        int ok = 0;
        if (type == LUA_TNUMBER) {
            double v = lua_tonumber(L, -1);
            ok = isfinite(v) && v >= 0 && v <= 1e10;
            ns = ok ? (uint64_t)(v * 1e9) : 0;
        } else if (type == LUA_TSTRING) {
            ok = od_parse_duration(lua_tostring(L, -1), &ns) == 0;
        }
        double s = (double)ns / 1e9;
        if (!ok || s < f->min || s > f->max) {
            od_lua_report(
                wk->errors, wk->src, at,
                "%s must be a duration (seconds, or a string such as \"90s\" or \"5m\") from %.15gs to "
                "%.15gs",
                lab, f->min, f->max);
            return -1;
        }
        *(uint64_t *)m = ns;
        return 0;
    }
    case OD_LUA_T_STRING: {
        if (type != LUA_TSTRING) {
            od_lua_report(wk->errors, wk->src, at, "%s must be %s, got %s", full,
                          f->expect ? f->expect : "a string", luaL_typename(L, -1));
            return -1;
        }
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if ((double)len < f->min || (f->max > 0 && (double)len > f->max)) {
            od_lua_report(wk->errors, wk->src, at, "%s must be from %.15g to %.15g characters long, got %zu",
                          lab, f->min, f->max, len);
            return -1;
        }
        free(*(char **)m);
        *(char **)m = od_strdup(s);
        return 0;
    }
    case OD_LUA_T_FUNCTION: {
        if (type != LUA_TFUNCTION) {
            od_lua_report(wk->errors, wk->src, at, "%s must be %s, got %s", full,
                          f->expect ? f->expect : "a function", luaL_typename(L, -1));
            return -1;
        }
        lua_Debug ar;
        lua_pushvalue(L, -1);
        int line = lua_getinfo(L, ">S", &ar) && ar.linedefined > 0 ? ar.linedefined : -1;
        *(int *)m = line;
        return 0;
    }
    case OD_LUA_T_CUSTOM: {
        od_buf_t why = OD_BUF_INIT;
        int rc = f->apply(L, lua_gettop(L), m, &why);
        if (rc != 0)
            od_lua_report(wk->errors, wk->src, at, "%s %s", full, why.len ? why.base : "is not valid");
        od_buf_dispose(&why);
        return rc != 0 ? -1 : 0;
    }
    case OD_LUA_T_TABLE:
        break;
    }
    return -1;
}

/* the edit distance of a and b (insertions, deletions, substitutions, swaps of neighbours),
 * or a large number past 3: enough to catch a typo */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32 || (la > lb ? la - lb : lb - la) > 3) return 99;
    int d[34][34];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* the known key an unknown one is most likely a typo of, or NULL */
static const char *nearest(const od_lua_field_t *fields, const char *key)
{
    const char *best = NULL;
    int best_d = 99;
    size_t len = strlen(key);
    int limit = len <= 3 ? 1 : 2; /* short names: one slip, else two */
    for (const od_lua_field_t *f = fields; f->name; f++) {
        int dd = distance(key, f->name);
        if (dd <= limit && dd < best_d) {
            best = f->name;
            best_d = dd;
        }
    }
    return best;
}

/* w: the constructor the table was written as (NULL when unknown); home: where to report
 * what w cannot place */
static int apply_table(walk_t *wk, lua_State *L, int idx, const od_lua_field_t *fields, void *dst,
                       const char *prefix, const od_lua_where_t *w, const od_lua_where_t *home)
{
    int bad = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            size_t n = strlen(prefix);
            if (n)
                od_lua_report(wk->errors, wk->src, home, "%.*s: keys must be names, got a %s key", (int)n - 1,
                              prefix, luaL_typename(L, -2));
            else
                od_lua_report(wk->errors, wk->src, home, "%s: keys must be names, got a %s key",
                              wk->what ? wk->what : "the table", luaL_typename(L, -2));
            bad = 1;
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        const od_lua_field_t *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        char full[128];
        snprintf(full, sizeof(full), "%s%s", prefix, key);
        const od_lua_where_t *at = od_lua_where_field(w, key);
        if (at == NULL) at = home; /* computed or built elsewhere: the enclosing table's place */
        if (f->name == NULL) {
            od_buf_t known = OD_BUF_INIT;
            const char *near = nearest(fields, key);
            if (near) od_buf_printf(&known, "did you mean \"%s\"? ", near);
            od_buf_puts(&known, "known: ");
            for (const od_lua_field_t *k = fields; k->name; k++)
                od_buf_printf(&known, "%s%s", k == fields ? "" : ", ", k->name);
            if (prefix[0] == '\0' && wk->what)
                od_lua_report(wk->errors, wk->src, at, "unknown key \"%s\" in %s (%s)", full, wk->what,
                              known.base);
            else
                od_lua_report(wk->errors, wk->src, at, "unknown key \"%s\" (%s)", full, known.base);
            od_buf_dispose(&known);
            bad = 1;
        } else if (f->type == OD_LUA_T_TABLE) {
            if (!lua_istable(L, -1)) {
                od_lua_report(wk->errors, wk->src, at, "%s must be a table, got %s", full,
                              luaL_typename(L, -1));
                bad = 1;
            } else {
                char sub[130];
                snprintf(sub, sizeof(sub), "%s.", full);
                bad |= apply_table(wk, L, -1, f->sub, dst, sub, od_lua_where_field(w, key), at) != 0;
            }
        } else {
            bad |= apply_value(wk, L, f, full, dst, at) != 0;
        }
        lua_pop(L, 1);
    }
    for (const od_lua_field_t *f = fields; f->name; f++) {
        if (!f->required) continue;
        int t = lua_getfield(L, idx, f->name);
        lua_pop(L, 1);
        if (t != LUA_TNIL) continue;
        if (f->help)
            od_lua_report(wk->errors, wk->src, home, "missing key \"%s%s\" (%s)", prefix, f->name, f->help);
        else
            od_lua_report(wk->errors, wk->src, home, "missing key \"%s%s\"", prefix, f->name);
        bad = 1;
    }
    return bad ? -1 : 0;
}

int od_lua_schema_apply(lua_State *L, int idx, const od_lua_field_t *fields, void *dst, const char *prefix,
                        const char *what, const od_lua_src_t *src, const od_lua_where_t *w, od_buf_t *errors)
{
    walk_t wk = {.src = src, .errors = errors, .what = what};
    return apply_table(&wk, L, idx, fields, dst, prefix ? prefix : "", w, w);
}
