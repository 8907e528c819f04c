/* Lua states built to a policy, the one message handler and the one protected call: see
 * lua_layer.h. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/lua_layer.h"

/* Per state, reached through the state's extra space (and the allocator's ud). */
typedef struct layer {
    od_lua_policy_t policy;
    size_t used; /* bytes allocated now */
} layer_t;

static layer_t *layer_of(lua_State *L)
{
    return *(layer_t **)lua_getextraspace(L);
}

/* counts every byte; refuses growth past the bound (Lua then collects and retries once,
 * and raises a memory error if that does not help) */
static void *bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    layer_t *b = ud;
    size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        b->used = b->used >= old ? b->used - old : 0;
        return NULL;
    }
    if (b->policy.memory && nsize > old && b->used - old + nsize > b->policy.memory) return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL) return NULL;
    b->used = b->used - old + nsize;
    return p;
}

static const char *subject(const layer_t *b)
{
    return b->policy.subject ? b->policy.subject : "the script";
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    layer_t *b = layer_of(L);
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        lua_pushfstring(L, "%s:%d: %s exceeded its budget of %I instructions", ar->short_src, ar->currentline,
                        subject(b), (lua_Integer)b->policy.budget);
    else
        lua_pushfstring(L, "%s exceeded its budget of %I instructions", subject(b),
                        (lua_Integer)b->policy.budget);
    lua_error(L);
}

static int l_cpus(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static int l_env(lua_State *L)
{
    const char *v = getenv(luaL_checkstring(L, 1));
    if (v == NULL)
        lua_pushnil(L);
    else
        lua_pushstring(L, v);
    return 1;
}

static void drop_field(lua_State *L, const char *table, const char *field)
{
    if (lua_getglobal(L, table) == LUA_TTABLE) {
        lua_pushnil(L);
        lua_setfield(L, -2, field);
    }
    lua_pop(L, 1);
}

static void open_libs(lua_State *L, unsigned libs)
{
    static const struct {
        unsigned bit;
        const char *name;
        lua_CFunction open;
    } all[] = {
        {OD_LUA_LIB_BASE, LUA_GNAME, luaopen_base},
        {OD_LUA_LIB_PACKAGE, LUA_LOADLIBNAME, luaopen_package},
        {OD_LUA_LIB_COROUTINE, LUA_COLIBNAME, luaopen_coroutine},
        {OD_LUA_LIB_TABLE, LUA_TABLIBNAME, luaopen_table},
        {OD_LUA_LIB_IO, LUA_IOLIBNAME, luaopen_io},
        {OD_LUA_LIB_OS, LUA_OSLIBNAME, luaopen_os},
        {OD_LUA_LIB_STRING, LUA_STRLIBNAME, luaopen_string},
        {OD_LUA_LIB_MATH, LUA_MATHLIBNAME, luaopen_math},
        {OD_LUA_LIB_UTF8, LUA_UTF8LIBNAME, luaopen_utf8},
        {OD_LUA_LIB_DEBUG, LUA_DBLIBNAME, luaopen_debug},
    };
    for (size_t i = 0; i < OD_ARRAY_SIZE(all); i++) {
        if (!(libs & all[i].bit) && all[i].bit != OD_LUA_LIB_BASE) continue;
        luaL_requiref(L, all[i].name, all[i].open, 1);
        lua_pop(L, 1);
    }
}

lua_State *od_lua_open(const od_lua_policy_t *policy)
{
    lua_State *L = luaL_newstate();
    if (L == NULL) od_fatal("cannot create a Lua state (out of memory)");
    open_libs(L, policy->libs);
    static const luaL_Reg fns[] = {{"cpus", l_cpus}, {"env", l_env}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setglobal(L, "orderd");
    if (policy->sandbox) {
        /* what could stop the process or lift the limits from inside a script */
        drop_field(L, "os", "exit");
        drop_field(L, "os", "execute");
        drop_field(L, "package", "loadlib");
        if (lua_getglobal(L, "package") == LUA_TTABLE) {
            lua_pushstring(L, "");
            lua_setfield(L, -2, "cpath");
        }
        lua_pop(L, 1);
    }
    lua_gc(L, LUA_GCCOLLECT);

    layer_t *b = od_calloc(1, sizeof(*b));
    b->policy = *policy;
    /* what the state holds so far came from the default allocator (realloc/free as well) */
    b->used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024u + (size_t)lua_gc(L, LUA_GCCOUNTB);
    *(layer_t **)lua_getextraspace(L) = b;
    lua_setallocf(L, bounded_alloc, b);
    return L;
}

void od_lua_close(lua_State *L)
{
    if (L == NULL) return;
    layer_t *b = layer_of(L);
    lua_close(L);
    free(b);
}

void od_lua_set_limits(lua_State *L, size_t memory, long budget)
{
    layer_t *b = layer_of(L);
    if (memory) b->policy.memory = memory;
    if (budget > 0) b->policy.budget = budget;
}

size_t od_lua_memory(lua_State *L)
{
    return layer_of(L)->used;
}

const od_lua_policy_t *od_lua_policy(lua_State *L)
{
    return &layer_of(L)->policy;
}

/* the message handler: the error as a string ("FILE:LINE: message" when Lua raised it, the
 * budget hook's message as it is), with a traceback when the policy asks */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (layer_of(L)->policy.traceback) luaL_traceback(L, L, msg, 1);
    return 1;
}

/*
 * after a failed call, gives back what it held: a deep recursion leaves its call frames cached
 * in the state and each full collection frees only half of them, so collect until the count
 * stops falling (always after a memory error; after other errors when the state is a quarter
 * full, so that small states fail cheaply)
 */
static void release(lua_State *L, layer_t *b, int always)
{
    if (b->policy.memory == 0 || (!always && b->used < b->policy.memory / 4)) return;
    for (int i = 0; i < 24; i++) {
        size_t before = b->used;
        lua_gc(L, LUA_GCCOLLECT);
        if (b->used + before / 64 >= before) break;
    }
}

int od_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err)
{
    layer_t *b = layer_of(L);
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    /* re-arming resets the count: each call gets the whole budget */
    if (b->policy.budget > 0)
        lua_sethook(L, budget_hook, LUA_MASKCOUNT,
                    b->policy.budget > 0x7fffffffL ? 0x7fffffff : (int)b->policy.budget);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc == LUA_OK) return 0;
    if (rc == LUA_ERRMEM) {
        /* the message handler does not run for memory errors: there is no line to give */
        if (err)
            od_buf_printf(err, "%s exceeded its memory limit of %.1f MiB", subject(b),
                          (double)b->policy.memory / (1024.0 * 1024.0));
    } else if (err) {
        const char *msg = lua_tostring(L, -1);
        od_buf_puts(err, msg ? msg : "(error object is not a string)");
    }
    lua_pop(L, 1);
    release(L, b, rc == LUA_ERRMEM);
    return rc == LUA_ERRMEM ? OD_LUA_ERRMEM : OD_LUA_ERR;
}

int od_lua_run_file(lua_State *L, const char *path, int nresults, od_buf_t *err)
{
    int rc = luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (err) {
            /* "cannot open x.lua" lacks a line; give it the file's own prefix */
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
    return od_lua_call(L, 0, nresults, err);
}

const char *od_lua_push_args_line(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}
