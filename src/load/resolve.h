/*
 * resolve — turns a SCENARIO argument of orderload into a file path: a path to a .lua file
 * as given, or a name looked up in the `scenarios:` list of the YAML config (the entry whose
 * basename without .lua is the name), then as lua/scenarios/NAME.lua.
 *
 * Only the `scenarios:` key of the config is read (with libyaml); every other key is
 * skipped, so orderload does not depend on the rest of orderd's configuration.
 * Thread-safe (no shared state).
 */
#ifndef OD_LOAD_RESOLVE_H
#define OD_LOAD_RESOLVE_H

#include "base/util.h"

/**
 * reads the `scenarios:` list of config_path.  A missing file is not an error unless
 * `required`; then *list is NULL.
 * @return 0 if successful, -1 if not (message appended to err); the caller frees each
 *         string and the array (NULL-terminated) with od_resolve_free
 */
int od_resolve_config(const char *config_path, int required, char ***list, od_buf_t *err);
void od_resolve_free(char **list);

/**
 * resolves arg against the config's list
 * @return a newly allocated path (caller frees), or NULL with a message appended to err
 */
char *od_resolve_scenario(const char *arg, char *const *list, od_buf_t *err);

#endif
