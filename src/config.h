/*
 * config — config/orderd.yaml, parsed once at startup into od_config_t, strictly: unknown
 * keys, wrong types and out-of-range values are errors reported as "FILE:LINE:COL: message".
 * A key left out takes its default.  The pool table (lua/workers.lua) is loaded separately
 * by pool_config (pool_config.h) into od_config_t.pool.
 *
 * Threading: built on main's thread, read-only once published: at startup before any thread
 * starts, at a reload (reload.h) as a whole new generation that replaces the running one
 * (the running one is never written).
 * Ownership: od_config_t owns every string in it; release with od_config_dispose.  `sets` is
 * borrowed (the app's, reload.h).
 */
#ifndef OD_CONFIG_H
#define OD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "pool/pool_config.h"
#include "base/util.h"

struct od_scenario_set;

typedef struct od_listen {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0", "localhost" */
    int port;
} od_listen_t;

#define OD_BUCKETS_MAX 128 /* bounds of one /metrics histogram */

/* a /metrics histogram's upper bounds, in seconds, ascending (the +Inf bucket is implied) */
typedef struct od_buckets {
    double le[OD_BUCKETS_MAX];
    size_t n;
} od_buckets_t;

typedef struct od_config {
    char *path; /* the YAML file it came from */
    od_listen_t listen;
    struct {
        int threads;
        size_t max_body_bytes;
    } http;
    struct {
        char *script;
        char *rules; /* "" = none */
        size_t results_kept;
    } pool_files;
    struct {
        int enabled;
        od_listen_t listen; /* host NULL = on the main listener */
        char *token;        /* "" = none */
        int cpu_engine;     /* od_cpu_engine_t (prof/cpu.h): auto, perf_event or itimer */
        int cpu_hz;
        uint64_t heap_sample_bytes;
        int mutex_fraction;
        int64_t block_rate_ns;
        int max_seconds;
        char *schedule; /* "" = none */
        char *output_dir;
        uint64_t keep_files;
        uint64_t keep_bytes;
    } profiling;
    struct {
        od_buckets_t processing; /* orderd_processing_seconds */
        od_buckets_t queue_wait; /* orderd_queue_wait_seconds */
    } metrics;
    char **scenarios; /* owned array of owned strings */
    size_t nscenarios;
    od_pool_config_t pool; /* from pool_files.script */

    /* not from the YAML: filled by the app's loader (reload.h) */
    struct od_scenario_set **sets;      /* borrowed: the loaded scenarios[i], nscenarios of them */
    uint64_t generation;                /* 1 at start, +1 per applied reload */
    uint64_t loaded_wall_ns;            /* when it was read */
    uint64_t rules_hash, schedule_hash; /* of pool.rules' and profiling.schedule's text (0: none) */
} od_config_t;

/** fills c with every default (pool table included) */
void od_config_defaults(od_config_t *c);
/**
 * reads the YAML at `path` over the defaults; every problem is appended to errors as one
 * "FILE:LINE:COL: message\n" line
 * @return 0 if successful, -1 if not (c then holds defaults mixed with what parsed; dispose it)
 */
int od_config_load(od_config_t *c, const char *path, od_buf_t *errors);
void od_config_dispose(od_config_t *c);
/**
 * parses "host:port", "[v6]:port" or ":port"
 * @return 0 if successful, -1 if not
 */
int od_listen_parse(const char *s, od_listen_t *out);
/** @return 1 if the host is a loopback address (127.0.0.0/8, ::1, localhost) */
int od_listen_is_loopback(const od_listen_t *l);

#endif
