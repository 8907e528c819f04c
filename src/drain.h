/*
 * drain — the stop: after SIGTERM or SIGINT no new orders (503), the queue and the orders in
 * flight are finished, and the summary is printed.
 *
 * Threading: main's thread only, after its signal loop ends.
 */
#ifndef OD_DRAIN_H
#define OD_DRAIN_H

#include <signal.h>

#include "app.h"

/**
 * drains the pool after the stop signal `sig`; `signals` is the set main's loop waits on
 * (still blocked), for the signals that come while it drains
 * @return the exit status: 0 after a clean drain, 1 if orders were lost
 */
int od_drain(od_app_t *app, int sig, const sigset_t *signals);

#endif
