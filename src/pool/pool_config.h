/*
 * pool_config — the pool table: what lua/workers.lua may set (worker count, queue size,
 * starvation guard, and each pipeline stage's knobs), its defaults and its loader.
 *
 * It is plain data, so the layers above the pool (config, main) can hold and fill it
 * without depending on the pool itself.  Plain values, copied whole: the pool takes a copy
 * at create and at each reload (od_pool_reconfigure), and each worker a copy of that;
 * od_pool_config_t owns nothing (rules_path is borrowed from od_config_t; the pool copies it).
 */
#ifndef OD_POOL_CONFIG_H
#define OD_POOL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

/* The pool table returned by lua/workers.lua (defaults in pool_config.c). */
typedef struct od_pool_config {
    int workers;            /* worker threads */
    size_t queue;           /* queue capacity, all lanes together */
    uint32_t starvation_ms; /* a lower lane's head older than this goes first; 0 = strict */
    struct {
        double max_amount; /* amount above fails "order amount exceeds limit" */
        int max_items;     /* more items fail "too many items in order" */
    } validate;
    struct {
        int stripes;      /* inventory mutexes */
        int skus;         /* inventory slots (SKUs hash onto them) */
        uint32_t hold_us; /* time each item holds its stripe */
    } reserve;
    struct {
        uint32_t work_us; /* CPU work per order (tax, discounts, fraud score) */
    } price;
    struct {
        uint32_t ms_per_priority; /* the seed's priority x 10 ms */
        uint32_t fixed_ms;        /* added to every payment */
    } pay;
    struct {
        uint32_t alloc_bytes; /* result and history kept with the order */
        uint32_t leak_bytes;  /* leaked on purpose per order (the leak lesson); 0 = none */
    } record;
    /* not from workers.lua: the YAML's pool.rules (borrowed from od_config_t; NULL or "" =
     * none); each worker then builds its own rules state (rules.h) */
    const char *rules_path;
} od_pool_config_t;

/** fills c with the defaults, the values lua/workers.lua overrides */
void od_pool_config_defaults(od_pool_config_t *c);
/**
 * evaluates `path` (a Lua script returning the pool table: values only) over the defaults;
 * problems are appended to errors as "FILE:LINE: message\n" lines
 * @return 0 if successful, -1 if not
 */
int od_pool_config_load(od_pool_config_t *c, const char *path, od_buf_t *errors);

#endif
