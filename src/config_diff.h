/*
 * config_diff — what a reload changes: the running config against the next one, key by key,
 * each difference one line as the YAML or lua/workers.lua names the key
 * ("reserve.stripes: 4 -> 1", "profiling.mutex_fraction: 1 -> 5").  The keys that cannot
 * change in a running process (its sockets, its HTTP threads, what the allocator and the
 * CPU engine read at exec) are named as needing a hand-over (SIGUSR2) and are not applied:
 * the next config gets the running value back, so that it describes what runs and the next
 * reload names them again until a hand-over applies them.
 *
 * Threading: main's thread (reload.h); `running` is only read.
 */
#ifndef OD_CONFIG_DIFF_H
#define OD_CONFIG_DIFF_H

#include <stddef.h>

#include "config.h"

/**
 * appends one "KEY: OLD -> NEW\n" line per key that differs to out (a key kept as it runs
 * ends "(needs a hand-over: not applied)"), and restores the running value of those keys
 * in next; cpu_hz_live says whether the CPU engine takes a new rate live (prof/cpu.h)
 * @return the number of keys that differ
 */
size_t od_config_diff(const od_config_t *running, od_config_t *next, int cpu_hz_live, od_buf_t *out);

#endif
