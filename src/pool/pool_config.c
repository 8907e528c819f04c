/* The pool table from lua/workers.lua: evaluated once at startup, applied through a schema. */
#include "pool/pool_config.h"

#include <lauxlib.h>
#include <stddef.h>

#include "lua/lua_layer.h"

#define F(n, k, member, lo, hi, d, h)                                                                        \
    {                                                                                                        \
        n, k, offsetof(od_pool_config_t, member), lo, hi, .def = d, .help = h                                \
    }
static const od_lua_field_t validate_fields[] = {
    F("max_amount", OD_LUA_T_DOUBLE, validate.max_amount, 0, 1e12, 10000,
      "amount above which an order fails"),
    F("max_items", OD_LUA_T_INT, validate.max_items, 1, 1000000, 50, "item count above which an order fails"),
    {NULL}};
static const od_lua_field_t reserve_fields[] = {
    F("stripes", OD_LUA_T_INT, reserve.stripes, 1, 4096, 4, "inventory mutexes"),
    F("skus", OD_LUA_T_INT, reserve.skus, 1, 1 << 24, 256, "inventory slots"),
    F("hold_us", OD_LUA_T_U32, reserve.hold_us, 0, 1000000, 200, "time each item holds its stripe"),
    {NULL}};
static const od_lua_field_t price_fields[] = {
    F("work_us", OD_LUA_T_U32, price.work_us, 0, 10000000, 2000, "CPU work per order"), {NULL}};
static const od_lua_field_t pay_fields[] = {
    F("ms_per_priority", OD_LUA_T_U32, pay.ms_per_priority, 0, 60000, 10, "payment wait per priority level"),
    F("fixed_ms", OD_LUA_T_U32, pay.fixed_ms, 0, 60000, 0, "payment wait added to every order"),
    {NULL}};
static const od_lua_field_t record_fields[] = {
    F("alloc_bytes", OD_LUA_T_U32, record.alloc_bytes, 0, 64 << 20, 8192, "bytes kept with each result"),
    F("leak_bytes", OD_LUA_T_U32, record.leak_bytes, 0, 64 << 20, 0, "bytes leaked per order on purpose"),
    {NULL}};
static const od_lua_field_t top_fields[] = {
    F("workers", OD_LUA_T_INT, workers, 1, 1024, 4, "worker threads"),
    F("queue", OD_LUA_T_SIZE, queue, 1, 10000000, 1000, "queue capacity"),
    F("starvation_ms", OD_LUA_T_U32, starvation_ms, 0, 3600000, 250, "starvation guard"),
    {"validate", OD_LUA_T_TABLE, .sub = validate_fields},
    {"reserve", OD_LUA_T_TABLE, .sub = reserve_fields},
    {"price", OD_LUA_T_TABLE, .sub = price_fields},
    {"pay", OD_LUA_T_TABLE, .sub = pay_fields},
    {"record", OD_LUA_T_TABLE, .sub = record_fields},
    {NULL}};
#undef F

void od_pool_config_defaults(od_pool_config_t *c)
{
    *c = (od_pool_config_t){.rules_path = NULL};
    od_lua_schema_defaults(top_fields, c);
}

int od_pool_config_load(od_pool_config_t *c, const char *path, od_buf_t *errors)
{
    /* trusted configuration: every library, no limits */
    lua_State *L = od_lua_open(&(od_lua_policy_t){.libs = OD_LUA_LIBS_ALL});
    od_lua_src_t *src = od_lua_src_open(path, 0);
    int rc = -1;
    od_buf_t err = OD_BUF_INIT;
    if (od_lua_run_file(L, path, 1, &err) != 0) {
        od_buf_printf(errors, "%s\n", err.base);
        goto Exit;
    }
    if (!lua_istable(L, -1)) {
        od_lua_report(errors, src, NULL, "the script must return the pool table, got %s",
                      luaL_typename(L, -1));
        goto Exit;
    }
    od_pool_config_t tmp = *c;
    if (od_lua_schema_apply(L, -1, top_fields, &tmp, "", "the pool table", src, od_lua_where_root(src),
                            errors) != 0)
        goto Exit;
    *c = tmp;
    rc = 0;
Exit:
    od_buf_dispose(&err);
    od_lua_src_close(src);
    od_lua_close(L);
    return rc;
}
