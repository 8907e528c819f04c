/*
 * load — runs a scenario file (protected, under an instruction budget), then walks the
 * returned table key by key, handing each section to its parser (scenarios.c, thresholds.c,
 * captures.c, request.c), which copies plain values into the set and reports each problem
 * with the position of the key that holds it (values.c).
 */
#include "scenario/loader.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* loading runs the whole file and request(ctx) once: it never needs more than the budget */
static const od_lua_policy_t load_policy = {
    .libs = OD_LUA_LIBS_ALL, .budget = 200000000, .subject = "loading the scenario file"};

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

/* The returned table's keys: the schema names the unknown ones; each section has its parser. */
static const od_lua_field_t top_fields[] = {
    {"target", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"scenarios", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"thresholds", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"request", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"response", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"profile", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {NULL}};

od_scenario_set_t *od_scenario_load(const char *path, od_buf_t *errors)
{
    od_scenario_loader_t ld = {.path = path, .errors = errors};
    char *text = od_read_file(path, NULL); /* only to say why it cannot be read */
    if (text == NULL) {
        od_buf_printf(errors, "%s:0:0: cannot read the scenario file: %s\n", path, strerror(errno));
        return NULL;
    }
    free(text);
    ld.src = od_lua_src_open(path, 1);
    od_scenario_set_t *s = od_calloc(1, sizeof(*s));
    s->file = od_strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    if (blen > 4 && strcmp(base + blen - 4, ".lua") == 0) blen -= 4;
    s->name = od_strndup(base, blen);

    lua_State *L = od_lua_open(&load_policy);
    od_scenario_prepare_state(L, path);
    od_buf_t err = OD_BUF_INIT;
    const od_lua_where_t *top = od_lua_where_root(ld.src);
    int fn_request = 0;
    if (od_lua_run_file(L, path, 1, &err) != 0) {
        od_scenario_report_lua(&ld, err.base ? err.base : "cannot load");
        goto out;
    }
    if (!lua_istable(L, 1)) {
        od_scenario_report(&ld, top,
                           "a scenario file must return a table { scenarios = { ... }, ... } (got a %s)",
                           luaL_typename(L, 1));
        goto out;
    }
    /* unknown top-level keys first, so a typo ("scenario =") is named as such; each section
     * is then read in the order the checks need (scenarios before what names them) */
    char nothing; /* the sections are stored by their parsers, not by the schema */
    if (od_lua_schema_apply(L, 1, top_fields, &nothing, "", "the scenario file's table", ld.src, top,
                            ld.errors) != 0)
        ld.nerrors++;

    lua_getfield(L, 1, "scenarios");
    const od_lua_where_t *sp = od_scenario_key_pos("scenarios", top);
    if (lua_isnil(L, -1))
        od_scenario_report(&ld, top, "the returned table has no scenarios");
    else
        od_scenario_parse_scenarios(&ld, L, s, sp);
    lua_settop(L, 1);

    lua_getfield(L, 1, "target");
    if (!lua_isnil(L, -1)) {
        const od_lua_where_t *tp = od_scenario_key_pos("target", top);
        const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (t == NULL || strncmp(t, "http://", 7) != 0 || t[7] == '\0' || t[7] == '/')
            od_scenario_report(&ld, tp, "target must be an http:// URL such as \"http://127.0.0.1:8080\"");
        else
            s->target = od_strdup(t);
    }
    lua_settop(L, 1);

    if (ld.nerrors == 0) {
        lua_getfield(L, 1, "thresholds");
        if (!lua_isnil(L, -1))
            od_scenario_parse_thresholds(&ld, L, s, od_scenario_key_pos("thresholds", top));
        lua_settop(L, 1);
        lua_getfield(L, 1, "profile");
        if (!lua_isnil(L, -1)) od_scenario_parse_profile(&ld, L, s, od_scenario_key_pos("profile", top));
        lua_settop(L, 1);
    }

    lua_getfield(L, 1, "response");
    if (lua_isfunction(L, -1))
        s->has_response = 1;
    else if (!lua_isnil(L, -1))
        od_scenario_report(&ld, od_scenario_key_pos("response", top),
                           "response must be a function (ctx, status, headers, body)");
    lua_settop(L, 1);

    lua_getfield(L, 1, "request");
    const od_lua_where_t *rp = od_scenario_key_pos("request", top);
    if (lua_isnil(L, -1)) {
        s->request_kind = OD_REQ_NONE;
    } else if (lua_isfunction(L, -1)) {
        s->request_kind = OD_REQ_FUNCTION;
        fn_request = lua_gettop(L);
        if (ld.nerrors == 0) od_scenario_try_request(&ld, L, fn_request, s, rp);
    } else if (lua_istable(L, -1)) {
        s->request_kind = OD_REQ_STATIC;
        od_scenario_parse_static_request(&ld, L, s, rp);
    } else {
        od_scenario_report(&ld, rp,
                           "request must be a function (ctx) or a table { method, path, headers, body }");
    }
    lua_settop(L, 1);

out:
    od_buf_dispose(&err);
    od_lua_close(L);
    od_lua_src_close(ld.src);
    if (ld.nerrors > 0) {
        od_scenario_set_free(s);
        return NULL;
    }
    return s;
}
