/*
 * lua_state: states built to a policy (libraries, sandbox, instruction budget, memory bound),
 * the message handler and the protected call's "FILE:LINE: message".
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/lua_layer.h"
#include "tap.h"
#include "tmpfiles.h"

static int has(const od_buf_t *b, const char *s)
{
    return b->base && strstr(b->base, s) != NULL;
}

/* runs `code` as a chunk in L; the result code, err gets the message */
static int run(lua_State *L, const char *name, const char *code, od_buf_t *err)
{
    od_buf_reset(err);
    return od_lua_run_file(L, put(name, code), 0, err);
}

static void test_libraries(void)
{
    lua_State *L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
    od_buf_t err = OD_BUF_INIT;
    is_int(run(L, "libs.lua",
               "assert(os.exit and debug.sethook and io.open and string.format)\n"
               "assert(orderd.cpus() >= 1)\n",
               &err),
           0, "all libraries: os, debug, io, string and orderd are there (%s)", err.base ? err.base : "");
    od_lua_close(L);

    L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIB_BASE | OD_LUA_LIB_STRING});
    is_int(run(L, "few.lua", "assert(string.format and os == nil and io == nil and math == nil)\n", &err), 0,
           "only the libraries asked for (%s)", err.base ? err.base : "");
    od_lua_close(L);

    L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_SANDBOX, .sandbox = 1});
    is_int(run(L, "sandbox.lua",
               "assert(debug == nil and os.exit == nil and os.execute == nil and package.loadlib == nil)\n"
               "assert(package.cpath == '' and os.time and string.rep and orderd.env)\n",
               &err),
           0, "the sandbox: no debug, os.exit, os.execute, package.loadlib or C modules (%s)",
           err.base ? err.base : "");
    od_lua_close(L);
    od_buf_dispose(&err);
}

static void test_budget(void)
{
    lua_State *L = od_lua_open(
        &(od_lua_policy_t){.libs = OD_LUA_LIBS_SANDBOX, .sandbox = 1, .budget = 100000, .subject = "rule"});
    od_buf_t err = OD_BUF_INIT;
    int rc = run(L, "loop.lua", "local n = 0\nwhile true do\n  n = n + 1\nend\n", &err);
    is_int(rc, OD_LUA_ERR, "an endless loop is stopped by the budget");
    ok(has(&err, "loop.lua:") && has(&err, ": rule exceeded its budget of 100000 instructions"),
       "with FILE:LINE and the subject: %s", err.base);
    /* each call gets the whole budget again: a short call after the long one runs */
    lua_getglobal(L, "tostring");
    lua_pushinteger(L, 5);
    od_buf_reset(&err);
    is_int(od_lua_call(L, 1, 1, &err), 0, "the next call gets a fresh budget");
    ok(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "5") == 0, "and returns its result");
    lua_pop(L, 1);
    od_lua_close(L);

    /* without a budget the same amount of work finishes */
    L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
    is_int(run(L, "long.lua", "local n = 0\nfor i = 1, 300000 do n = n + i end\n", &err), 0,
           "no budget: a long loop finishes");
    od_lua_close(L);
    od_buf_dispose(&err);
}

static void test_memory(void)
{
    lua_State *L = od_lua_open(&(od_lua_policy_t){
        .libs = OD_LUA_LIBS_SANDBOX, .sandbox = 1, .memory = 1u << 20, .subject = "schedule entry"});
    od_buf_t err = OD_BUF_INIT;
    size_t before = od_lua_memory(L);
    ok(before > 0 && before < (1u << 20), "the state's memory is counted (%zu bytes)", before);
    int rc =
        run(L, "bomb.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n", &err);
    is_int(rc, OD_LUA_ERRMEM, "an allocation bomb hits the memory bound");
    ok(has(&err, "schedule entry exceeded its memory limit of 1.0 MiB"), "saying so: %s", err.base);
    ok(od_lua_memory(L) < (1u << 20) / 2, "what the call held is collected (%zu bytes)", od_lua_memory(L));
    is_int(run(L, "after.lua", "local s = string.rep('y', 1000)\n", &err), 0, "the state still works");
    od_lua_set_limits(L, 8u << 20, 0);
    is_int(run(L, "bigger.lua", "local s = string.rep('y', 2 << 20)\n", &err), 0,
           "a raised bound lets 2 MiB through (%s)", err.base ? err.base : "");
    is_int((long long)od_lua_policy(L)->memory, 8 << 20, "the policy shows the new bound");
    od_lua_close(L);
    od_buf_dispose(&err);
}

static void test_messages(void)
{
    od_buf_t err = OD_BUF_INIT;
    lua_State *L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
    is_int(run(L, "boom.lua", "local x = 1\n\nerror('boom')\n", &err), OD_LUA_ERR, "a runtime error fails");
    ok(has(&err, "boom.lua:3: boom") && !has(&err, "traceback"), "FILE:LINE: message, no traceback: %s",
       err.base);
    is_int(run(L, "syntax.lua", "return {\n  x = ,\n}\n", &err), OD_LUA_ERR, "a syntax error fails");
    ok(has(&err, "syntax.lua:2:"), "with its line: %s", err.base);
    is_int(run(L, "table.lua", "error({})\n", &err), OD_LUA_ERR, "an error that is not a string");
    ok(has(&err, "(error object is a table value)"), "is named by its type: %s", err.base);
    od_buf_reset(&err);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope.lua", tmpdir);
    is_int(od_lua_run_file(L, missing, 0, &err), OD_LUA_ERR, "a missing file fails");
    ok(has(&err, "nope.lua:1: cannot open"), "FILE:1: cannot open: %s", err.base);
    od_lua_close(L);

    L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL, .traceback = 1});
    is_int(run(L, "deep.lua",
               "local function inner()\n  error('deep')\nend\nlocal function outer()\n  inner()\nend\n"
               "outer()\n",
               &err),
           OD_LUA_ERR, "with a traceback policy");
    ok(has(&err, "deep.lua:2: deep") && has(&err, "stack traceback:") && has(&err, "'inner'") &&
           has(&err, "'outer'") && has(&err, "deep.lua:7:"),
       "the message handler adds the traceback through both functions: %s", err.base);
    od_lua_close(L);

    /* od_lua_push_args_line: tostring of each argument, space-separated */
    L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIB_BASE});
    lua_settop(L, 0);
    lua_pushstring(L, "a");
    lua_pushinteger(L, 2);
    lua_pushboolean(L, 1);
    lua_pushnil(L);
    is_str(od_lua_push_args_line(L), "a 2 true nil", "the args line");
    od_lua_close(L);
    od_buf_dispose(&err);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/orderd-lua-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) od_fatal("mkdtemp failed");
    test_libraries();
    test_budget();
    test_memory();
    test_messages();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) diag("could not remove %s", tmpdir);
    done_testing();
}
