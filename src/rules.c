/* Per-order Lua hooks (lua/rules.lua) and the bounded Lua states they run in: see rules.h. */
#include "rules.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "luautil.h"
#include "pipeline.h"

/* --- bounded Lua states ----------------------------------------------------------------- */

/* Per state, reached through the state's extra space (and the allocator's ud). */
typedef struct bounds {
    size_t used, limit; /* bytes allocated now, and the bound */
    long budget;        /* instructions per call */
    const char *subject;
} bounds_t;

static bounds_t *bounds_of(lua_State *L)
{
    return *(bounds_t **)lua_getextraspace(L);
}

/* counts every byte; refuses growth past the bound (Lua then collects and retries once,
 * and raises a memory error if that does not help) */
static void *bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    bounds_t *b = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        b->used = b->used >= old ? b->used - old : 0;
        return NULL;
    }
    if (nsize > old && b->used - old + nsize > b->limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL) return NULL;
    b->used = b->used - old + nsize;
    return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    bounds_t *b = bounds_of(L);
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        lua_pushfstring(L, "%s:%d: %s exceeded its budget of %I instructions", ar->short_src, ar->currentline,
                        b->subject, (lua_Integer)b->budget);
    else
        lua_pushfstring(L, "%s exceeded its budget of %I instructions", b->subject, (lua_Integer)b->budget);
    lua_error(L);
}

static void drop_field(lua_State *L, const char *table, const char *field)
{
    if (lua_getglobal(L, table) == LUA_TTABLE) {
        lua_pushnil(L);
        lua_setfield(L, -2, field);
    }
    lua_pop(L, 1);
}

lua_State *od_rules_lua_new(size_t memory_limit, long budget, const char *subject)
{
    lua_State *L = od_lua_new();
    /* what could stop the process or lift the limits from inside a rule */
    drop_field(L, "os", "exit");
    drop_field(L, "os", "execute");
    drop_field(L, "package", "loadlib");
    lua_pushnil(L);
    lua_setglobal(L, "debug");
    if (lua_getglobal(L, "package") == LUA_TTABLE) {
        lua_pushstring(L, "");
        lua_setfield(L, -2, "cpath");
        if (lua_getfield(L, -1, "loaded") == LUA_TTABLE) {
            lua_pushnil(L);
            lua_setfield(L, -2, "debug");
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);

    bounds_t *b = od_calloc(1, sizeof(*b));
    /* what the state holds so far came from the default allocator (realloc/free as well) */
    b->used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024u + (size_t)lua_gc(L, LUA_GCCOUNTB);
    b->limit = memory_limit;
    b->budget = budget;
    b->subject = subject;
    *(bounds_t **)lua_getextraspace(L) = b;
    lua_setallocf(L, bounded_alloc, b);
    return L;
}

void od_rules_lua_close(lua_State *L)
{
    if (L == NULL) return;
    bounds_t *b = bounds_of(L);
    lua_close(L);
    free(b);
}

void od_rules_lua_limits(lua_State *L, size_t memory_limit, long budget)
{
    bounds_t *b = bounds_of(L);
    if (memory_limit) b->limit = memory_limit;
    if (budget > 0) b->budget = budget;
}

size_t od_rules_lua_memory(lua_State *L)
{
    return bounds_of(L)->used;
}

static int msgh(lua_State *L)
{
    if (lua_tostring(L, 1) == NULL) lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

/*
 * after a failed call, gives back what it held: a deep recursion leaves its call frames cached
 * in the state and each full collection frees only half of them, so collect until the count
 * stops falling (always after a memory error; after other errors when the state is a quarter
 * full, so that small states fail cheaply)
 */
static void release(lua_State *L, bounds_t *b, int always)
{
    if (!always && b->used < b->limit / 4) return;
    for (int i = 0; i < 24; i++) {
        size_t before = b->used;
        lua_gc(L, LUA_GCCOLLECT);
        if (b->used + before / 64 >= before) break;
    }
}

int od_rules_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err)
{
    bounds_t *b = bounds_of(L);
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    /* re-arming resets the count: each call gets the whole budget */
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, b->budget > 0x7fffffffL ? 0x7fffffff : (int)b->budget);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc == LUA_OK) return 0;
    if (rc == LUA_ERRMEM) {
        /* the message handler does not run for memory errors: there is no line to give */
        if (err)
            od_buf_printf(err, "%s exceeded its memory limit of %.1f MiB", b->subject,
                          (double)b->limit / (1024.0 * 1024.0));
    } else if (err) {
        od_buf_puts(err, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    release(L, b, rc == LUA_ERRMEM);
    return rc == LUA_ERRMEM ? OD_LUA_ERRMEM : OD_LUA_ERR;
}

int od_rules_lua_dofile(lua_State *L, const char *path, int nresults, od_buf_t *err)
{
    int rc = luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (err) {
            if (rc == LUA_ERRFILE)
                od_buf_printf(err, "%s:1: %s", path, msg ? msg : "cannot read the file");
            else if (rc == LUA_ERRMEM)
                od_buf_printf(err, "%s:1: the script does not fit its memory limit", path);
            else
                od_buf_puts(err, msg ? msg : "cannot load");
        }
        lua_pop(L, 1);
        return rc == LUA_ERRMEM ? OD_LUA_ERRMEM : OD_LUA_ERR;
    }
    return od_rules_lua_call(L, 0, nresults, err);
}

/* --- loading lua/rules.lua ------------------------------------------------------------------ */

#define BUDGET_MIN 1000L
#define BUDGET_MAX 1000000000L
#define MEMORY_MIN (256u << 10)
#define MEMORY_MAX (1ull << 30)

/* what a loaded script defines; the hooks' "file:line" for messages about what they return */
typedef struct script_info {
    int has_price, has_route;
    char price_at[300], route_at[300];
    long budget;
    size_t memory;
} script_info_t;

/* orderd.log(...): the arguments on one line of the server's log, with the worker */
static int orderd_log(lua_State *L)
{
    const char *line = od_lua_push_args_line(L);
    lua_getglobal(L, "orderd");
    lua_getfield(L, -1, "worker");
    od_info("rules (worker-%d): %s", (int)lua_tointeger(L, -1), line);
    return 0;
}

static void problem(od_buf_t *errors, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(od_buf_t *errors, const char *path, int line, const char *fmt, ...)
{
    if (errors == NULL) return;
    od_buf_printf(errors, "%s:%d: ", path, line > 0 ? line : 1);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(errors, fmt, ap);
    va_end(ap);
    od_buf_putc(errors, '\n');
}

static int key_line(const char *path, const char *key)
{
    return od_lua_key_line(path, key, 0);
}

/* the function at the top of the stack: where it was defined, as "file:line" */
static void function_at(lua_State *L, char *out, size_t outsz)
{
    lua_Debug ar;
    lua_pushvalue(L, -1);
    if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
        snprintf(out, outsz, "%s:%d", ar.short_src, ar.linedefined);
    else
        snprintf(out, outsz, "%s", ar.short_src);
}

/*
 * runs the script in L (from od_rules_lua_new) and checks the table it returns, leaving it on
 * the stack when valid; problems go to errors ("FILE:LINE: message\n")
 * @return 0 if valid, OD_LUA_ERR or OD_LUA_ERRMEM if not
 */
static int load_script(lua_State *L, const char *path, int worker_id, script_info_t *info, od_buf_t *errors)
{
    *info = (script_info_t){.budget = OD_RULES_BUDGET_DEFAULT, .memory = OD_RULES_MEMORY_DEFAULT};
    lua_getglobal(L, "orderd");
    lua_pushinteger(L, worker_id);
    lua_setfield(L, -2, "worker");
    lua_pushcfunction(L, orderd_log);
    lua_setfield(L, -2, "log");
    lua_pop(L, 1);

    od_buf_t err = OD_BUF_INIT;
    int rc = od_rules_lua_dofile(L, path, 1, &err);
    if (rc != 0) {
        if (errors) od_buf_printf(errors, "%s\n", err.base);
        od_buf_dispose(&err);
        return rc;
    }
    od_buf_dispose(&err);
    if (!lua_istable(L, -1)) {
        problem(errors, path, 1,
                "the rules script must return a table of hooks, e.g. "
                "return { price = price, route = route }; got %s",
                luaL_typename(L, -1));
        lua_pop(L, 1);
        return OD_LUA_ERR;
    }
    int bad = 0, t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            problem(errors, path, 1,
                    "the rules table takes names as keys (price, route, budget, memory), got a %s key",
                    luaL_typename(L, -2));
            bad = 1;
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        int line = key_line(path, key);
        if (strcmp(key, "price") == 0 || strcmp(key, "route") == 0) {
            int is_price = key[0] == 'p';
            if (!lua_isfunction(L, -1)) {
                problem(errors, path, line, "%s must be a function(order), got %s", key,
                        luaL_typename(L, -1));
                bad = 1;
            } else if (is_price) {
                info->has_price = 1;
                function_at(L, info->price_at, sizeof(info->price_at));
            } else {
                info->has_route = 1;
                function_at(L, info->route_at, sizeof(info->route_at));
            }
        } else if (strcmp(key, "budget") == 0) {
            double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
            if (!(v >= BUDGET_MIN && v <= BUDGET_MAX) || v != floor(v)) {
                problem(errors, path, line,
                        "budget (instructions per hook call) must be a whole number from %ld to %ld",
                        BUDGET_MIN, BUDGET_MAX);
                bad = 1;
            } else {
                info->budget = (long)v;
            }
        } else if (strcmp(key, "memory") == 0) {
            uint64_t bytes = 0;
            int ok = 0;
            if (lua_type(L, -1) == LUA_TNUMBER) {
                double v = lua_tonumber(L, -1);
                ok = v >= 0 && v <= (double)MEMORY_MAX && v == floor(v);
                bytes = ok ? (uint64_t)v : 0;
            } else if (lua_type(L, -1) == LUA_TSTRING) {
                ok = od_parse_size(lua_tostring(L, -1), &bytes) == 0;
            }
            if (!ok || bytes < MEMORY_MIN || bytes > MEMORY_MAX) {
                problem(errors, path, line,
                        "memory (the state's bound) must be a size from 256KiB to 1GiB, e.g. \"8MiB\"");
                bad = 1;
            } else {
                info->memory = (size_t)bytes;
            }
        } else {
            problem(errors, path, line,
                    "unknown key \"%s\" in the rules table (known: price, route, budget, memory)", key);
            bad = 1;
        }
        lua_pop(L, 1);
    }
    if (bad) {
        lua_pop(L, 1);
        return OD_LUA_ERR;
    }
    return 0;
}

static int empty(const char *path)
{
    return path == NULL || path[0] == '\0';
}

int od_rules_check(const char *path, od_buf_t *errors)
{
    if (empty(path)) return 0;
    lua_State *L = od_rules_lua_new(OD_RULES_MEMORY_DEFAULT, OD_RULES_BUDGET_DEFAULT, "rule");
    script_info_t info;
    int rc = load_script(L, path, -1, &info, errors);
    if (rc == 0 && !info.has_price && !info.has_route)
        od_warn("%s defines neither price nor route: the rules change nothing", path);
    od_rules_lua_close(L);
    return rc == 0 ? 0 : -1;
}

int od_rules_install(const char *path, od_buf_t *errors)
{
    od_rules_hooks.price = NULL;
    od_rules_hooks.route = NULL;
    if (empty(path)) return 0;
    lua_State *L = od_rules_lua_new(OD_RULES_MEMORY_DEFAULT, OD_RULES_BUDGET_DEFAULT, "rule");
    script_info_t info;
    int rc = load_script(L, path, -1, &info, errors);
    od_rules_lua_close(L);
    if (rc != 0) return -1;
    if (info.has_price) od_rules_hooks.price = od_rules_price_hook;
    if (info.has_route) od_rules_hooks.route = od_rules_route_hook;
    od_info("rules: %s (%s%s%s; budget %ld instructions, memory %.1f MiB per worker)", path,
            info.has_price ? "price" : "", info.has_price && info.has_route ? ", " : "",
            info.has_route ? "route" : "", info.budget, (double)info.memory / (1024.0 * 1024.0));
    return 0;
}

/* --- a worker's rules ----------------------------------------------------------------------- */

struct od_rules {
    char *path;
    int worker_id;
    lua_State *L; /* NULL while the script does not load */
    int price_ref, route_ref;
    script_info_t info;
    char *load_error; /* why L is NULL */
};

static void unload(od_rules_t *r)
{
    od_rules_lua_close(r->L);
    r->L = NULL;
    r->price_ref = r->route_ref = LUA_NOREF;
}

static int load(od_rules_t *r)
{
    od_buf_t errors = OD_BUF_INIT;
    r->L = od_rules_lua_new(OD_RULES_MEMORY_DEFAULT, OD_RULES_BUDGET_DEFAULT, "rule");
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
    od_rules_lua_limits(r->L, r->info.memory, r->info.budget);
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
    if (load(r) != 0)
        od_error("worker-%d: rules do not load (orders fail until they do): %s", worker_id, r->load_error);
    return r;
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
    lua_pushstring(L, o->id);
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
    lua_pushstring(L, o->status);
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
    int rc = od_rules_lua_call(L, 1, 0, &e);
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
