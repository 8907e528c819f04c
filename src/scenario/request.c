/*
 * request — the `request` value: a static table checked once, or a function called once with
 * a sample ctx so that --check finds its errors.
 */
#include "scenario/loader.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Appends the headers table at idx as "Name: value\r\n" lines. */
static int headers_text(od_scenario_loader_t *ld, lua_State *L, int idx, const od_lua_where_t *at,
                        od_buf_t *out)
{
    if (lua_isnil(L, idx)) return 0;
    if (!lua_istable(L, idx)) {
        od_scenario_report(ld, at, "request headers must be a table { [\"Name\"] = \"value\" }");
        return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING ||
            !(lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
            od_scenario_report(ld, at, "request headers: names and values must be strings");
            lua_pop(L, 2);
            return -1;
        }
        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
        if (strpbrk(k, ":\r\n ") != NULL || strpbrk(v, "\r\n") != NULL) {
            od_scenario_report(ld, at, "request headers: \"%s\" is not a valid header", k);
            lua_pop(L, 2);
            return -1;
        }
        od_buf_printf(out, "%s: %s\r\n", k, v);
        lua_pop(L, 1);
    }
    return 0;
}

/* A request table's keys; headers and body are read after the schema. */
static const od_lua_field_t request_fields[] = {
    {"method", OD_LUA_T_STRING, offsetof(od_scenario_set_t, req_method), 0, 0},
    {"path", OD_LUA_T_STRING, offsetof(od_scenario_set_t, req_path), 0, 0},
    {"headers", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {"body", OD_LUA_T_CUSTOM, 0, .apply = od_scenario_apply_later},
    {NULL}};

int od_scenario_parse_static_request(od_scenario_loader_t *ld, lua_State *L, od_scenario_set_t *s,
                                     const od_lua_where_t *at)
{
    int t = lua_gettop(L);
    int rc = 0;
    od_buf_t hdr = OD_BUF_INIT;
    if (od_lua_schema_apply(L, t, request_fields, s, "request.", NULL, ld->src, at, ld->errors) != 0) {
        ld->nerrors++;
        rc = -1;
    }
    lua_getfield(L, t, "headers");
    if (headers_text(ld, L, lua_gettop(L), od_scenario_key_pos("headers", at), &hdr) != 0) rc = -1;
    lua_pop(L, 1);
    lua_getfield(L, t, "body"); /* bytes, NULs included: not a schema string */
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *b = lua_tolstring(L, -1, &len);
        s->req_body = od_malloc(len + 1);
        memcpy(s->req_body, b, len + 1);
        s->req_body_len = len;
    } else if (!lua_isnil(L, -1)) {
        od_scenario_report(ld, od_scenario_key_pos("body", at), "request.body must be a string, got %s",
                           luaL_typename(L, -1));
        rc = -1;
    }
    lua_pop(L, 1);
    if (s->req_method == NULL) s->req_method = od_strdup(s->req_body ? "POST" : "GET");
    if (s->req_path == NULL) s->req_path = od_strdup("/");
    if (s->req_path[0] != '/' || strpbrk(s->req_path, " \r\n") != NULL) {
        od_scenario_report(ld, od_scenario_key_pos("path", at),
                           "request.path must start with / and hold no spaces");
        rc = -1;
    }
    s->req_headers = od_buf_detach(&hdr, NULL);
    if (s->req_headers == NULL) s->req_headers = od_strdup("");
    return rc;
}

/* Calls request(ctx) once with a sample ctx so that --check finds errors in it. */
int od_scenario_try_request(od_scenario_loader_t *ld, lua_State *L, int fn, od_scenario_set_t *s,
                            const od_lua_where_t *at)
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
    if (od_lua_call(L, 1, LUA_MULTRET, &err) != 0) {
        od_scenario_report_lua(ld, err.base ? err.base : "request(ctx) failed");
        od_buf_dispose(&err);
        return -1;
    }
    od_buf_dispose(&err);
    int first = base + 1, rc = 0;
    if (lua_gettop(L) < first || lua_isnil(L, first)) {
        od_scenario_report(ld, at,
                           "request(ctx) returned nothing: return method, path, headers, body (or a table)");
        rc = -1;
    } else if (lua_istable(L, first)) {
        lua_getfield(L, first, "path");
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
            od_scenario_report(ld, at, "request(ctx) returned a table whose path is not a string");
            rc = -1;
        }
        lua_pop(L, 1);
    } else if (lua_type(L, first) != LUA_TSTRING) {
        od_scenario_report(ld, at, "request(ctx) must return method, path, headers, body (got a %s first)",
                           luaL_typename(L, first));
        rc = -1;
    } else if (lua_gettop(L) >= first + 1 && lua_type(L, first + 1) != LUA_TSTRING) {
        od_scenario_report(ld, at, "request(ctx): the path (second value) must be a string");
        rc = -1;
    }
    lua_settop(L, base);
    return rc;
}
