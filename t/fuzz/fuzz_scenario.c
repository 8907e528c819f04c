/*
 * fuzz_scenario — libFuzzer target for the Lua scenario loader (od_scenario_load): every
 * input is written to a private temporary directory as a scenario file and loaded, then the
 * set is rendered as JSON (what GET /scenarios shows) and freed.  Invariant: a load that
 * fails says why.
 *
 * A scenario file is trusted code (the user's own), so the loader opens every Lua library.
 * A fuzzer that learns Lua identifiers could call os.remove or os.exit, and string.rep can
 * ask for gigabytes: this program therefore replaces luaL_newstate and luaL_openlibs (the
 * executable's definitions win over liblua's) with a state whose allocator is capped at
 * FUZZ_LUA_MEMORY and whose libraries are the harmless ones (no io, os only for time, no
 * C-module loading, print silent).  The loader's own C code is what is under test.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
lua_State *luaL_newstate(void);
void luaL_openlibs(lua_State *L);

#define FUZZ_LUA_MEMORY (64u << 20)

typedef struct {
    size_t used;
} fuzz_alloc_t;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    fuzz_alloc_t *a = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        a->used -= old;
        return NULL;
    }
    if (nsize > old && a->used - old + nsize > FUZZ_LUA_MEMORY) return NULL;
    void *p = realloc(ptr, nsize);
    if (p != NULL) a->used = a->used - old + nsize;
    return p;
}

static int panic(lua_State *L)
{
    fprintf(stderr, "fuzz_scenario: Lua panic: %s\n", lua_tostring(L, -1));
    abort();
}

static int silent(lua_State *L)
{
    (void)L;
    return 0;
}

static fuzz_alloc_t allocs[8]; /* the loader keeps at most one state open at a time */
static size_t nallocs;

lua_State *luaL_newstate(void)
{
    fuzz_alloc_t *a = &allocs[nallocs++ % (sizeof(allocs) / sizeof(allocs[0]))];
    a->used = 0;
    lua_State *L = lua_newstate(capped_alloc, a);
    if (L) lua_atpanic(L, panic);
    return L;
}

void luaL_openlibs(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
                                    {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_OSLIBNAME, luaopen_os}};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    /* base: no file access, print silent */
    static const char *const base_off[] = {"dofile", "loadfile"};
    for (size_t i = 0; i < sizeof(base_off) / sizeof(base_off[0]); i++) {
        lua_pushnil(L);
        lua_setglobal(L, base_off[i]);
    }
    lua_pushcfunction(L, silent);
    lua_setglobal(L, "print");
    /* os: the clock functions only */
    lua_getglobal(L, LUA_OSLIBNAME);
    static const char *const os_off[] = {"execute", "exit", "remove", "rename", "tmpname", "setlocale"};
    for (size_t i = 0; i < sizeof(os_off) / sizeof(os_off[0]); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, os_off[i]);
    }
    lua_pop(L, 1);
    /* package: Lua modules from package.path only, no C modules */
    lua_getglobal(L, LUA_LOADLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "loadlib");
    lua_pushstring(L, "");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "searchers");
    lua_pushnil(L);
    lua_rawseti(L, -2, 4);
    lua_pushnil(L);
    lua_rawseti(L, -2, 3);
    lua_pop(L, 2);
}

static char scenario_dir[64], scenario_path[96];

static void scenario_cleanup(void)
{
    if (scenario_path[0]) unlink(scenario_path);
    if (scenario_dir[0]) rmdir(scenario_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (scenario_dir[0] == '\0') {
        snprintf(scenario_dir, sizeof(scenario_dir), "/tmp/orderd-fuzz-scenario-XXXXXX");
        if (mkdtemp(scenario_dir) == NULL) abort();
        snprintf(scenario_path, sizeof(scenario_path), "%s/fuzz.lua", scenario_dir);
        atexit(scenario_cleanup);
    }
    FILE *fp = fopen(scenario_path, "wb");
    if (fp == NULL) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    od_buf_t errors = OD_BUF_INIT;
    od_scenario_set_t *s = od_scenario_load(scenario_path, &errors);
    if (s == NULL) {
        if (errors.len == 0) abort();
    } else {
        od_buf_t json = OD_BUF_INIT;
        od_scenario_set_json(s, &json);
        od_buf_dispose(&json);
        od_scenario_set_free(s);
    }
    od_buf_dispose(&errors);
    return 0;
}
