/*
 * lua_schema: a table applied to a struct through a table of fields — defaults, types,
 * bounds, nested tables, unknown keys — with each problem at its FILE:LINE.
 */
#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/lua_layer.h"
#include "tap.h"

static char tmpdir[64];

typedef struct conf {
    int workers;
    double ratio;
    uint32_t hold_us;
    long budget;
    size_t memory;
    uint64_t every_ns;
    char *name;
    int hook;
    int even;
    struct {
        int stripes;
    } reserve;
} conf_t;

/* a custom field: an even number */
static int apply_even(lua_State *L, int idx, void *member, od_buf_t *why)
{
    if (!lua_isinteger(L, idx) || lua_tointeger(L, idx) % 2 != 0) {
        od_buf_puts(why, "must be an even whole number");
        return -1;
    }
    *(int *)member = (int)lua_tointeger(L, idx);
    return 0;
}

static const od_lua_field_t reserve_fields[] = {{"stripes", OD_LUA_T_INT, offsetof(conf_t, reserve.stripes),
                                                 1, 64, .def = 4, .help = "inventory mutexes"},
                                                {NULL}};
static const od_lua_field_t fields[] = {
    {"workers", OD_LUA_T_INT, offsetof(conf_t, workers), 1, 1024, .def = 4, .help = "worker threads"},
    {"ratio", OD_LUA_T_DOUBLE, offsetof(conf_t, ratio), 0, 1, .def = 0.5},
    {"hold_us", OD_LUA_T_U32, offsetof(conf_t, hold_us), 0, 1000000, .def = 200},
    {"budget", OD_LUA_T_LONG, offsetof(conf_t, budget), 1000, 1e9, .def = 1e6,
     .help = "instructions per call"},
    {"memory", OD_LUA_T_BYTES, offsetof(conf_t, memory), 256 << 10, 1 << 30, .def = 8 << 20,
     .help = "the state's bound"},
    {"every", OD_LUA_T_DURATION, offsetof(conf_t, every_ns), 1, 3600, .def = 60},
    {"name", OD_LUA_T_STRING, offsetof(conf_t, name), 1, 8},
    {"hook", OD_LUA_T_FUNCTION, offsetof(conf_t, hook), .expect = "a function(order)"},
    {"even", OD_LUA_T_CUSTOM, offsetof(conf_t, even), .apply = apply_even},
    {"reserve", OD_LUA_T_TABLE, .sub = reserve_fields},
    {NULL}};

/* writes `text` to a file, runs it and applies what it returns to *c; errors get the problems */
static int load(const char *text, conf_t *c, od_buf_t *errors, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/s.lua", tmpdir);
    FILE *f = fopen(path, "w");
    if (f == NULL) od_fatal("cannot write %s", path);
    fputs(text, f);
    fclose(f);
    od_buf_reset(errors);
    lua_State *L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
    od_lua_src_t *src = od_lua_src_open(path, 0);
    int rc = -1;
    if (od_lua_run_file(L, path, 1, errors) == 0 && lua_istable(L, -1))
        rc = od_lua_schema_apply(L, -1, fields, c, "", "the test table", src, od_lua_where_root(src), errors);
    od_lua_src_close(src);
    od_lua_close(L);
    return rc;
}

/* the problems of loading `text` contain "FILE" + want (want starts with ":LINE: ") */
static void bad(const char *text, const char *want, const char *what)
{
    conf_t c = {0};
    od_buf_t errors = OD_BUF_INIT;
    char path[128], full[512];
    int rc = load(text, &c, &errors, path, sizeof(path));
    snprintf(full, sizeof(full), "%s%s", path, want);
    ok(rc == -1 && errors.base && strstr(errors.base, full) != NULL, "%s: %s", what,
       errors.base ? errors.base : "(no error)");
    free(c.name);
    od_buf_dispose(&errors);
}

static void test_defaults_and_values(void)
{
    conf_t c = {0};
    od_lua_schema_defaults(fields, &c);
    ok(c.workers == 4 && c.ratio == 0.5 && c.hold_us == 200 && c.budget == 1000000 && c.memory == 8u << 20 &&
           c.every_ns == 60000000000ull && c.reserve.stripes == 4 && c.name == NULL,
       "defaults, nested ones too");
    od_buf_t errors = OD_BUF_INIT;
    char path[128];
    int rc = load("return {\n  workers = 8, ratio = 0.25, hold_us = 0, budget = 5000, memory = '1MiB',\n"
                  "  every = '90s', name = 'abc', hook = function(o)\n  end, even = 6,\n"
                  "  reserve = { stripes = 16 },\n}\n",
                  &c, &errors, path, sizeof(path));
    is_int(rc, 0, "a good table applies (%s)", errors.base ? errors.base : "");
    ok(c.workers == 8 && c.ratio == 0.25 && c.hold_us == 0 && c.budget == 5000 && c.memory == 1u << 20 &&
           c.every_ns == 90000000000ull && c.name && strcmp(c.name, "abc") == 0 && c.hook == 3 &&
           c.even == 6 && c.reserve.stripes == 16,
       "every type lands in its member (a function as the line it is defined at)");
    rc = load("return { memory = 262144, every = 2.5 }\n", &c, &errors, path, sizeof(path));
    ok(rc == 0 && c.memory == 262144 && c.every_ns == 2500000000ull, "sizes and durations as plain numbers");
    free(c.name);
    od_buf_dispose(&errors);
}

static void test_errors(void)
{
    bad("return {\n  workers = 2,\n  wokers = 3,\n}\n",
        ":3: unknown key \"wokers\" in the test table (did you mean \"workers\"? known: workers, ratio, "
        "hold_us, budget, memory, "
        "every, name, "
        "hook, even, reserve)",
        "an unknown key, at its line, with the known ones");
    bad("return {\n  reserve = {\n    stripe = 2,\n  },\n}\n",
        ":3: unknown key \"reserve.stripe\" (did you mean \"stripes\"? known: stripes)",
        "an unknown nested key names its path");
    bad("return {\n  zzz = 1 }", ":2: unknown key \"zzz\" in the test table (known: workers,",
        "no guess when nothing is close");
    bad("return {\n  wrokers = 1 }",
        ":2: unknown key \"wrokers\" in the test table (did you mean \"workers\"?", "two letters swapped");
    bad("return { workers = 0 }", ":1: workers (worker threads) must be a whole number from 1 to 1024, got 0",
        "out of range");
    bad("return {\n\n workers = 2.5 }", ":3: workers (worker threads) must be a whole number", "a fraction");
    bad("return {\n  workers = function() return 2 end }",
        ":2: workers must be a number, got function (the test table holds values only)",
        "a function for a value");
    bad("return {\n  ratio = 2 }", ":2: ratio must be a number from 0 to 1, got 2", "a double out of range");
    bad("return {\n  reserve = 5 }", ":2: reserve must be a table, got number", "a number for a table");
    bad("return {\n  reserve = {\n    stripes = 99 } }",
        ":3: reserve.stripes (inventory mutexes) must be a whole", "nested out of range, at the nested line");
    bad("return {\n  budget = 'many' }", ":2: budget must be a number, got string", "a string for a number");
    bad("return {\n  memory = 'lots' }",
        ":2: memory (the state's bound) must be a size from 256KiB to 1GiB, e.g. \"8MiB\"", "a bad size");
    bad("return {\n  memory = '2GiB' }", ":2: memory (the state's bound) must be a size", "a size too big");
    bad("return {\n  every = 'soon' }", ":2: every must be a duration", "a bad duration");
    bad("return {\n  name = 'much too long' }", ":2: name must be from 1 to 8 characters long, got 13",
        "a string too long");
    bad("return {\n  name = 5 }", ":2: name must be a string, got number", "a number for a string");
    bad("return {\n  hook = 'fast' }", ":2: hook must be a function(order), got string", "the expect text");
    bad("return {\n  even = 3 }", ":2: even must be an even whole number", "a custom field's message");
    bad("return {\n  [1] = 5 }", ":1: the test table: keys must be names, got a number key", "a number key");
    bad("local r = { stripes = 0 }\nreturn {\n  reserve = r,\n}\n", ":3: reserve.stripes (inventory mutexes)",
        "a table built elsewhere: reported at the field that holds it");

    /* a required key */
    {
        static const od_lua_field_t need[] = {{"id", OD_LUA_T_INT, offsetof(conf_t, workers), 1, 9,
                                               .required = 1, .help = "the entry's number"},
                                              {"ratio", OD_LUA_T_DOUBLE, offsetof(conf_t, ratio), 0, 1},
                                              {NULL}};
        char p[128];
        snprintf(p, sizeof(p), "%s/req.lua", tmpdir);
        FILE *f = fopen(p, "w");
        fputs("-- entries\nreturn {\n  { id = 1 },\n  { ratio = 0.5 },\n}\n", f);
        fclose(f);
        lua_State *L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
        od_lua_src_t *src = od_lua_src_open(p, 1);
        od_buf_t errors = OD_BUF_INIT;
        int rc = od_lua_run_file(L, p, 1, &errors);
        conf_t c = {0};
        int r1 = -1, r2 = -1;
        if (rc == 0) {
            lua_rawgeti(L, -1, 1);
            r1 = od_lua_schema_apply(L, -1, need, &c, "", NULL, src,
                                     od_lua_where_item(od_lua_where_root(src), 1), &errors);
            lua_pop(L, 1);
            lua_rawgeti(L, -1, 2);
            r2 = od_lua_schema_apply(L, -1, need, &c, "", NULL, src,
                                     od_lua_where_item(od_lua_where_root(src), 2), &errors);
            lua_pop(L, 1);
        }
        char want[256];
        snprintf(want, sizeof(want), "%s:4:3: missing key \"id\" (the entry's number)\n", p);
        ok(rc == 0 && r1 == 0 && c.workers == 1, "a required key that is there");
        ok(r2 == -1 && errors.base && strcmp(errors.base, want) == 0,
           "a missing one, at its entry's FILE:LINE:COL: %s", errors.base ? errors.base : "");
        od_buf_dispose(&errors);
        od_lua_src_close(src);
        od_lua_close(L);
    }

    /* several problems: each reported, each at its own line */
    conf_t c = {0};
    od_buf_t errors = OD_BUF_INIT;
    char path[128], a[160], b[160];
    int rc = load("return {\n  workers = 0,\n  ratio = 'x',\n}\n", &c, &errors, path, sizeof(path));
    snprintf(a, sizeof(a), "%s:2: workers", path);
    snprintf(b, sizeof(b), "%s:3: ratio", path);
    ok(rc == -1 && strstr(errors.base, a) && strstr(errors.base, b), "every problem, at its line: %s",
       errors.base);
    od_buf_dispose(&errors);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/orderd-luas-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) od_fatal("mkdtemp failed");
    test_defaults_and_values();
    test_errors();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) diag("could not remove %s", tmpdir);
    done_testing();
}
