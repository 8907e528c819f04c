/* The old Lua helpers, until their last callers use the Lua layer: see luautil.h. */
#include "luautil.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

lua_State *od_lua_new(void)
{
    lua_State *L = luaL_newstate();
    if (L == NULL) od_fatal("cannot create a Lua state (out of memory)");
    luaL_openlibs(L);
    static const luaL_Reg fns[] = {{"cpus", l_cpus}, {"env", l_env}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setglobal(L, "orderd");
    return L;
}

static int msgh_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int msgh_plain(lua_State *L)
{
    if (lua_tostring(L, 1) == NULL) lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    return 1;
}

static int pcall(lua_State *L, int nargs, int nresults, int traceback, od_buf_t *err)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback ? msgh_traceback : msgh_plain);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != LUA_OK) {
        if (err) od_buf_puts(err, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int od_lua_pcall(lua_State *L, int nargs, int nresults, od_buf_t *err)
{
    return pcall(L, nargs, nresults, 0, err);
}

int od_lua_dofile(lua_State *L, const char *path, int nresults, int traceback, od_buf_t *err)
{
    int rc = luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        /* "cannot open x.lua" lacks a line; give it the file's own prefix */
        if (rc == LUA_ERRFILE)
            od_buf_printf(err, "%s:0: %s", path, msg ? msg : "cannot read file");
        else
            od_buf_puts(err, msg ? msg : "cannot load");
        lua_pop(L, 1);
        return -1;
    }
    return pcall(L, 0, nresults, traceback, err);
}

int od_lua_key_line(const char *path, const char *key, int after_line)
{
    size_t len;
    char *text = od_read_file(path, &len);
    if (text == NULL) return 0;
    int line = 1, found = 0;
    size_t klen = strlen(key);
    for (char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
            continue;
        }
        if (line <= after_line) continue;
        int at_word_start = p == text || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                           (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9'));
        if (at_word_start && strncmp(p, key, klen) == 0) {
            char *q = p + klen;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=' && q[1] != '=') {
                found = line;
                break;
            }
        }
    }
    free(text);
    return found;
}

lua_State *od_rules_lua_new(size_t memory_limit, long budget, const char *subject)
{
    return od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_SANDBOX,
                                          .sandbox = 1,
                                          .budget = budget,
                                          .memory = memory_limit,
                                          .subject = subject});
}

void od_rules_lua_close(lua_State *L)
{
    od_lua_close(L);
}

void od_rules_lua_limits(lua_State *L, size_t memory_limit, long budget)
{
    od_lua_set_limits(L, memory_limit, budget);
}

size_t od_rules_lua_memory(lua_State *L)
{
    return od_lua_memory(L);
}

int od_rules_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err)
{
    return od_lua_call(L, nargs, nresults, err);
}

int od_rules_lua_dofile(lua_State *L, const char *path, int nresults, od_buf_t *err)
{
    return od_lua_run_file(L, path, nresults, err);
}
