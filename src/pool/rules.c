/* Per-order Lua hooks (lua/rules.lua), run in the Lua layer's sandbox: see rules.h. */
#include "pool/rules.h"

#include <lauxlib.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "lua/lua_layer.h"
#include "pool/pipeline.h"

/* --- loading lua/rules.lua ------------------------------------------------------------------ */

/* what a loaded script defines; the hooks' "file:line" for messages about what they return */
typedef struct script_info {
    int price_line, route_line; /* where each hook is defined (-1: a C function); 0 = none */
    char price_at[300], route_at[300];
    long budget;
    size_t memory;
} script_info_t;

static const od_lua_field_t script_fields[] = {
    {"price", OD_LUA_T_FUNCTION, offsetof(script_info_t, price_line), .expect = "a function(order)"},
    {"route", OD_LUA_T_FUNCTION, offsetof(script_info_t, route_line), .expect = "a function(order)"},
    {"budget", OD_LUA_T_LONG, offsetof(script_info_t, budget), 1000, 1e9, .def = OD_RULES_BUDGET_DEFAULT,
     .help = "instructions per hook call"},
    {"memory", OD_LUA_T_BYTES, offsetof(script_info_t, memory), 256 << 10, 1 << 30,
     .def = OD_RULES_MEMORY_DEFAULT, .help = "the state's bound"},
    {NULL}};

/* the sandbox every rules state runs in; the script's own limits apply once it has loaded */
static lua_State *new_state(void)
{
    return od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_SANDBOX,
                                          .sandbox = 1,
                                          .budget = OD_RULES_BUDGET_DEFAULT,
                                          .memory = OD_RULES_MEMORY_DEFAULT,
                                          .subject = "rule"});
}

/* orderd.log(...): the arguments on one line of the server's log, with the worker */
static int orderd_log(lua_State *L)
{
    const char *line = od_lua_push_args_line(L);
    lua_getglobal(L, "orderd");
    lua_getfield(L, -1, "worker");
    od_info("rules (worker-%d): %s", (int)lua_tointeger(L, -1), line);
    return 0;
}

/* "file:line" of a hook defined at `line` (the file alone for a C function) */
static void hook_at(char *out, size_t outsz, const char *path, int line)
{
    if (line > 0)
        snprintf(out, outsz, "%s:%d", path, line);
    else
        snprintf(out, outsz, "%s", path);
}

/*
 * runs the script in L (from new_state) and checks the table it returns, leaving it on the
 * stack when valid; problems go to errors ("FILE:LINE: message\n")
 * @return 0 if valid, OD_LUA_ERR or OD_LUA_ERRMEM if not
 */
static int load_script(lua_State *L, const char *path, int worker_id, script_info_t *info, od_buf_t *errors)
{
    *info = (script_info_t){0};
    od_lua_schema_defaults(script_fields, info);
    lua_getglobal(L, "orderd");
    lua_pushinteger(L, worker_id);
    lua_setfield(L, -2, "worker");
    lua_pushcfunction(L, orderd_log);
    lua_setfield(L, -2, "log");
    lua_pop(L, 1);

    od_buf_t err = OD_BUF_INIT;
    int rc = od_lua_run_file(L, path, 1, &err);
    if (rc != 0) {
        if (errors) od_buf_printf(errors, "%s\n", err.base);
        od_buf_dispose(&err);
        return rc;
    }
    od_buf_dispose(&err);
    od_lua_src_t *src = od_lua_src_open(path, 0);
    rc = 0;
    if (!lua_istable(L, -1)) {
        od_lua_report(errors, src, NULL,
                      "the rules script must return a table of hooks, e.g. "
                      "return { price = price, route = route }; got %s",
                      luaL_typename(L, -1));
        rc = OD_LUA_ERR;
    } else if (od_lua_schema_apply(L, -1, script_fields, info, "", "the rules table", src,
                                   od_lua_where_root(src), errors) != 0) {
        rc = OD_LUA_ERR;
    }
    od_lua_src_close(src);
    if (rc != 0) {
        lua_pop(L, 1);
        return rc;
    }
    hook_at(info->price_at, sizeof(info->price_at), path, info->price_line);
    hook_at(info->route_at, sizeof(info->route_at), path, info->route_line);
    return 0;
}

static int empty(const char *path)
{
    return path == NULL || path[0] == '\0';
}

int od_rules_check(const char *path, od_buf_t *errors)
{
    if (empty(path)) return 0;
    lua_State *L = new_state();
    script_info_t info;
    int rc = load_script(L, path, -1, &info, errors);
    if (rc == 0 && !info.price_line && !info.route_line)
        od_warn("%s defines neither price nor route: the rules change nothing", path);
    od_lua_close(L);
    return rc == 0 ? 0 : -1;
}

int od_rules_install(const char *path, od_buf_t *errors)
{
    if (empty(path)) return 0;
    lua_State *L = new_state();
    script_info_t info;
    int rc = load_script(L, path, -1, &info, errors);
    od_lua_close(L);
    if (rc != 0) return -1;
    int has_price = info.price_line != 0, has_route = info.route_line != 0;
    od_info("rules: %s (%s%s%s; budget %ld instructions, memory %.1f MiB per worker)", path,
            has_price ? "price" : "", has_price && has_route ? ", " : "", has_route ? "route" : "",
            info.budget, (double)info.memory / (1024.0 * 1024.0));
    return 0;
}

/* --- a worker's rules ----------------------------------------------------------------------- */

struct od_rules {
    od_stage_hooks_t hooks; /* for the stage context: fixed when the object is created */
    char *path;
    int worker_id;
    lua_State *L; /* NULL while the script does not load */
    int price_ref, route_ref;
    script_info_t info;
    char *load_error; /* why L is NULL */
};

static void unload(od_rules_t *r)
{
    od_lua_close(r->L);
    r->L = NULL;
    r->price_ref = r->route_ref = LUA_NOREF;
}

static int load(od_rules_t *r)
{
    od_buf_t errors = OD_BUF_INIT;
    r->L = new_state();
    if (load_script(r->L, r->path, r->worker_id, &r->info, &errors) != 0) {
        unload(r);
        if (errors.len && errors.base[errors.len - 1] == '\n') errors.base[--errors.len] = '\0';
        free(r->load_error);
        r->load_error = od_buf_detach(&errors, NULL);
        return -1;
    }
    od_buf_dispose(&errors);
    lua_getfield(r->L, -1, "price");
    r->price_ref =
        lua_isfunction(r->L, -1) ? luaL_ref(r->L, LUA_REGISTRYINDEX) : (lua_pop(r->L, 1), LUA_NOREF);
    lua_getfield(r->L, -1, "route");
    r->route_ref =
        lua_isfunction(r->L, -1) ? luaL_ref(r->L, LUA_REGISTRYINDEX) : (lua_pop(r->L, 1), LUA_NOREF);
    lua_pop(r->L, 1);
    od_lua_set_limits(r->L, r->info.memory, r->info.budget);
    lua_gc(r->L, LUA_GCCOLLECT);
    free(r->load_error);
    r->load_error = NULL;
    return 0;
}

od_rules_t *od_rules_create(const char *path, int worker_id)
{
    if (empty(path)) return NULL;
    od_rules_t *r = od_calloc(1, sizeof(*r));
    r->path = od_strdup(path);
    r->worker_id = worker_id;
    r->price_ref = r->route_ref = LUA_NOREF;
    if (load(r) != 0) {
        od_error("worker-%d: rules do not load (orders fail until they do): %s", worker_id, r->load_error);
        r->hooks = (od_stage_hooks_t){.route = od_rules_route_hook, .price = od_rules_price_hook};
    } else {
        r->hooks = (od_stage_hooks_t){.route = r->info.route_line ? od_rules_route_hook : NULL,
                                      .price = r->info.price_line ? od_rules_price_hook : NULL};
    }
    return r;
}

const od_stage_hooks_t *od_rules_stage_hooks(const od_rules_t *r)
{
    return r ? &r->hooks : NULL;
}

void od_rules_destroy(od_rules_t *r)
{
    if (r == NULL) return;
    unload(r);
    free(r->load_error);
    free(r->path);
    free(r);
}

/* a hook call's inputs and outputs, shared with the protected trampolines below */
typedef struct call {
    od_rules_t *r;
    const od_order_t *o;
    int priority;
    double total;     /* price: out */
    int new_priority; /* route: out, 0 = unchanged */
    int reject;       /* route: out */
    char reason[256]; /* route: out */
} call_t;

static void push_order(lua_State *L, const od_order_t *o, int priority)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, od_order_id(o));
    lua_setfield(L, -2, "id");
    lua_pushstring(L, o->customer);
    lua_setfield(L, -2, "customer");
    lua_createtable(L, (int)o->nitems, 0);
    for (size_t i = 0; i < o->nitems; i++) {
        lua_pushstring(L, o->items[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "items");
    lua_pushnumber(L, o->amount);
    lua_setfield(L, -2, "amount");
    lua_pushstring(L, od_order_status(o));
    lua_setfield(L, -2, "status");
    lua_pushstring(L, o->address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, o->notes);
    lua_setfield(L, -2, "notes");
    lua_pushinteger(L, priority);
    lua_setfield(L, -2, "priority");
}

/* protected: price(order) → c->total */
static int price_call(lua_State *L)
{
    call_t *c = lua_touserdata(L, 1);
    if (c->r->price_ref == LUA_NOREF) /* the script was edited since startup and reloaded */
        return luaL_error(L, "%s no longer defines price(order)", c->r->path);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->r->price_ref);
    push_order(L, c->o, c->priority);
    lua_call(L, 1, 1);
    int isnum = 0;
    double v = lua_tonumberx(L, -1, &isnum);
    if (lua_type(L, -1) != LUA_TNUMBER || !isnum || !isfinite(v) || v < 0)
        return luaL_error(L, "%s: price(order) must return a number >= 0, got %s", c->r->info.price_at,
                          lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    c->total = v;
    return 0;
}

static void copy_reason(lua_State *L, int idx, call_t *c)
{
    const char *s =
        lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : NULL;
    snprintf(c->reason, sizeof(c->reason), "%s", s && s[0] ? s : "no reason given");
}

/* protected: route(order) → c->reject / c->reason / c->new_priority */
static int route_call(lua_State *L)
{
    call_t *c = lua_touserdata(L, 1);
    const char *at = c->r->info.route_at;
    if (c->r->route_ref == LUA_NOREF) return 0; /* the script was edited since startup: no route */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->r->route_ref);
    push_order(L, c->o, c->priority);
    lua_call(L, 1, 2);
    int t = lua_type(L, -2);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && lua_toboolean(L, -2))) return 0;
    if (t == LUA_TBOOLEAN) { /* false, "reason" */
        c->reject = 1;
        copy_reason(L, -1, c);
        return 0;
    }
    if (t != LUA_TTABLE)
        return luaL_error(L,
                          "%s: route(order) must return nil, true, false[, reason], { reject = reason } or "
                          "{ priority = 1..3 }; got %s",
                          at, luaL_typename(L, -2));
    int tbl = lua_absindex(L, -2);
    lua_pushnil(L);
    while (lua_next(L, tbl) != 0) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (key && strcmp(key, "reject") == 0) {
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TBOOLEAN)
                return luaL_error(L, "%s: route(order): reject must be a reason (a string), got %s", at,
                                  luaL_typename(L, -1));
            if (lua_toboolean(L, -1)) {
                c->reject = 1;
                copy_reason(L, -1, c);
            }
        } else if (key && strcmp(key, "priority") == 0) {
            int isint = 0;
            lua_Integer p = lua_tointegerx(L, -1, &isint);
            if (lua_type(L, -1) != LUA_TNUMBER || !isint || p < 1 || p > 3)
                return luaL_error(L, "%s: route(order): priority must be 1, 2 or 3, got %s", at,
                                  luaL_tolstring(L, -1, NULL));
            c->new_priority = (int)p;
        } else {
            return luaL_error(L, "%s: route(order) returned an unknown key %s (known: reject, priority)", at,
                              luaL_tolstring(L, -2, NULL));
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* runs fn(call) in the worker's state; on failure *err gets the message (malloc'd) */
static int run(od_rules_t *r, lua_CFunction fn, call_t *c, char **err)
{
    if (r->L == NULL && load(r) != 0) {
        *err = od_asprintf("rules unavailable: %s", r->load_error);
        return -1;
    }
    lua_State *L = r->L;
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, c);
    od_buf_t e = OD_BUF_INIT;
    int rc = od_lua_call(L, 1, 0, &e);
    if (rc == 0) {
        od_buf_dispose(&e);
        return 0;
    }
    if (rc == OD_LUA_ERRMEM) {
        /* whatever the script keeps may be what grew: start it afresh */
        od_buf_printf(&e, " (%s; the worker's rules state was reset)", r->path);
        od_warn("worker-%d: %s", r->worker_id, e.base);
        unload(r);
        if (load(r) != 0) od_error("worker-%d: rules do not reload: %s", r->worker_id, r->load_error);
    }
    *err = od_buf_detach(&e, NULL);
    return -1;
}

__attribute__((noinline)) int od_rules_price_hook(void *rules, const od_order_t *o, int priority,
                                                  double *total, char **err)
{
    od_rules_t *r = rules;
    call_t c = {.r = r, .o = o, .priority = priority};
    if (run(r, price_call, &c, err) != 0) return -1;
    *total = c.total;
    return 0;
}

__attribute__((noinline)) int od_rules_route_hook(void *rules, const od_order_t *o, int *priority, char **err)
{
    od_rules_t *r = rules;
    call_t c = {.r = r, .o = o, .priority = *priority};
    if (run(r, route_call, &c, err) != 0) return -1;
    if (c.reject) {
        *err = od_asprintf("rejected by rules: %s", c.reason);
        return -1;
    }
    if (c.new_priority) *priority = c.new_priority;
    return 0;
}
