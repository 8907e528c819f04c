/*
 * reload — SIGHUP: re-read the YAML and every Lua script it names, checked as --check checks
 * them; on any problem log each and keep the running config, otherwise apply what can change
 * live and log what changed (SPEC "Reload, hand-over, compare").
 *
 * Threading: main's thread only, from its signal loop.
 */
#ifndef OD_RELOAD_H
#define OD_RELOAD_H

#include "app.h"

/** @return 0 if the new config was applied, -1 if it was refused (nothing changed) */
int od_reload(od_app_t *app);

#endif
