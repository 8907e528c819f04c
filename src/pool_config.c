/* The pool table from lua/workers.lua: evaluated once at startup, checked against a schema. */
#include "pool_config.h"

#include <lauxlib.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "luautil.h"

void od_pool_config_defaults(od_pool_config_t *c)
{
    *c = (od_pool_config_t){
        .workers = 4,
        .queue = 1000,
        .starvation_ms = 250,
        .validate = {.max_amount = 10000, .max_items = 50},
        .reserve = {.stripes = 4, .skus = 256, .hold_us = 200},
        .price = {.work_us = 2000},
        .pay = {.ms_per_priority = 10, .fixed_ms = 0},
        .record = {.alloc_bytes = 8192, .leak_bytes = 0},
        .rules_path = NULL,
    };
}

typedef enum { T_INT, T_U32, T_SIZE, T_DOUBLE, T_TABLE } kind_t;

typedef struct field {
    const char *name;
    kind_t kind;
    size_t offset;
    double min, max;
    const struct field *sub; /* T_TABLE */
    const char *help;
} field_t;

#define F(n, k, member, lo, hi, h)                                                                           \
    {                                                                                                        \
        n, k, offsetof(od_pool_config_t, member), lo, hi, NULL, h                                            \
    }
static const field_t validate_fields[] = {
    F("max_amount", T_DOUBLE, validate.max_amount, 0, 1e12, "amount above which an order fails"),
    F("max_items", T_INT, validate.max_items, 1, 1000000, "item count above which an order fails"),
    {NULL}};
static const field_t reserve_fields[] = {
    F("stripes", T_INT, reserve.stripes, 1, 4096, "inventory mutexes"),
    F("skus", T_INT, reserve.skus, 1, 1 << 24, "inventory slots"),
    F("hold_us", T_U32, reserve.hold_us, 0, 1000000, "time each item holds its stripe"),
    {NULL}};
static const field_t price_fields[] = {F("work_us", T_U32, price.work_us, 0, 10000000, "CPU work per order"),
                                       {NULL}};
static const field_t pay_fields[] = {
    F("ms_per_priority", T_U32, pay.ms_per_priority, 0, 60000, "payment wait per priority level"),
    F("fixed_ms", T_U32, pay.fixed_ms, 0, 60000, "payment wait added to every order"),
    {NULL}};
static const field_t record_fields[] = {
    F("alloc_bytes", T_U32, record.alloc_bytes, 0, 64 << 20, "bytes kept with each result"),
    F("leak_bytes", T_U32, record.leak_bytes, 0, 64 << 20, "bytes leaked per order on purpose"),
    {NULL}};
static const field_t top_fields[] = {F("workers", T_INT, workers, 1, 1024, "worker threads"),
                                     F("queue", T_SIZE, queue, 1, 10000000, "queue capacity"),
                                     F("starvation_ms", T_U32, starvation_ms, 0, 3600000, "starvation guard"),
                                     {"validate", T_TABLE, 0, 0, 0, validate_fields, NULL},
                                     {"reserve", T_TABLE, 0, 0, 0, reserve_fields, NULL},
                                     {"price", T_TABLE, 0, 0, 0, price_fields, NULL},
                                     {"pay", T_TABLE, 0, 0, 0, pay_fields, NULL},
                                     {"record", T_TABLE, 0, 0, 0, record_fields, NULL},
                                     {NULL}};
#undef F

static void problem(od_buf_t *errors, const char *path, const char *key, int after, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void problem(od_buf_t *errors, const char *path, const char *key, int after, const char *fmt, ...)
{
    int line = key ? od_lua_key_line(path, key, after) : 0;
    od_buf_printf(errors, "%s:%d: ", path, line ? line : 1);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(errors, fmt, ap);
    va_end(ap);
    od_buf_putc(errors, '\n');
}

static int apply_table(lua_State *L, int idx, const field_t *fields, const char *prefix, od_pool_config_t *c,
                       const char *path, int after_line, od_buf_t *errors)
{
    int bad = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            problem(errors, path, NULL, 0, "%s: keys must be names, got a %s key",
                    prefix[0] ? prefix : "pool table", luaL_typename(L, -2));
            bad = 1;
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        const field_t *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        char full[96];
        snprintf(full, sizeof(full), "%s%s", prefix, key);
        if (f->name == NULL) {
            od_buf_t known = OD_BUF_INIT;
            for (const field_t *k = fields; k->name; k++)
                od_buf_printf(&known, "%s%s", k == fields ? "" : ", ", k->name);
            problem(errors, path, key, after_line, "unknown key \"%s\" (known: %s)", full, known.base);
            od_buf_dispose(&known);
            bad = 1;
        } else if (f->kind == T_TABLE) {
            if (!lua_istable(L, -1)) {
                problem(errors, path, key, after_line, "%s must be a table, got %s", full,
                        luaL_typename(L, -1));
                bad = 1;
            } else {
                char sub[100];
                snprintf(sub, sizeof(sub), "%s.", full);
                int line = od_lua_key_line(path, key, after_line);
                bad |= apply_table(L, lua_gettop(L), f->sub, sub, c, path, line, errors) != 0;
            }
        } else if (lua_type(L, -1) != LUA_TNUMBER) {
            problem(errors, path, key, after_line, "%s must be a number, got %s%s", full,
                    luaL_typename(L, -1), lua_isfunction(L, -1) ? " (the pool table holds values only)" : "");
            bad = 1;
        } else {
            double v = lua_tonumber(L, -1);
            int integral = f->kind != T_DOUBLE;
            if (!isfinite(v) || v < f->min || v > f->max || (integral && v != floor(v))) {
                problem(errors, path, key, after_line, "%s (%s) must be %s from %.15g to %.15g, got %.15g",
                        full, f->help, integral ? "a whole number" : "a number", f->min, f->max, v);
                bad = 1;
            } else {
                char *dst = (char *)c + f->offset;
                switch (f->kind) {
                case T_INT:
                    *(int *)dst = (int)v;
                    break;
                case T_U32:
                    *(uint32_t *)dst = (uint32_t)v;
                    break;
                case T_SIZE:
                    *(size_t *)dst = (size_t)v;
                    break;
                case T_DOUBLE:
                    *(double *)dst = v;
                    break;
                case T_TABLE:
                    break;
                }
            }
        }
        lua_pop(L, 1);
    }
    return bad ? -1 : 0;
}

int od_pool_config_load(od_pool_config_t *c, const char *path, od_buf_t *errors)
{
    lua_State *L = od_lua_new();
    int rc = -1;
    od_buf_t err = OD_BUF_INIT;
    if (od_lua_dofile(L, path, 1, 0, &err) != 0) {
        od_buf_printf(errors, "%s\n", err.base);
        goto Exit;
    }
    if (!lua_istable(L, -1)) {
        problem(errors, path, NULL, 0, "the script must return the pool table, got %s", luaL_typename(L, -1));
        goto Exit;
    }
    od_pool_config_t tmp = *c;
    if (apply_table(L, lua_gettop(L), top_fields, "", &tmp, path, 0, errors) != 0) goto Exit;
    *c = tmp;
    rc = 0;
Exit:
    od_buf_dispose(&err);
    lua_close(L);
    return rc;
}
