/*
 * handover — SIGUSR2 (nginx's binary upgrade): start build/orderd again with the listening
 * sockets inherited; once the new process serves, this one stops accepting, drains and exits
 * 0 (SPEC "Reload, hand-over, compare").
 *
 * Threading: main's thread only, from its signal loop.
 */
#ifndef OD_HANDOVER_H
#define OD_HANDOVER_H

#include "app.h"

/** @return 0 if a hand-over was started, -1 if not (logged: one under way, or exec failed) */
int od_handover_begin(od_app_t *app);

#endif
