/*
 * drain — the stop: no new orders (503), the queue and the orders in flight are finished,
 * and the summary is printed.
 *
 * The stop signals: SIGTERM and SIGINT drain; SIGQUIT while serving drains too (nginx's
 * graceful stop).  While draining a progress line comes every second (queued, in flight,
 * done so far); a second SIGTERM or SIGINT prints what remains and how to abandon it; SIGQUIT
 * abandons: the queued orders are taken out, the ones in flight finish, their ids are written
 * one a line to a file it names (profiling.output_dir/unprocessed-PID.ids, or in $TMPDIR or
 * /tmp when that directory cannot be written), and the exit status is 3.  Nothing is lost
 * unless SIGQUIT asks for it.
 *
 * After a hand-over (handover.h; sig SIGUSR2) the drain first closes the listeners and waits
 * until every open connection has ended (each request still coming on one is accepted, and
 * answered with Connection: close), then drains the pool as above.
 *
 * Threading: main's thread only, after its signal loop ends.
 */
#ifndef OD_DRAIN_H
#define OD_DRAIN_H

#include <signal.h>

#include "app.h"

#define OD_DRAIN_CONNS_WAIT_S 60 /* a hand-over waits this long for its connections to end */

/**
 * drains the pool after the stop signal `sig` (SIGUSR2: after a hand-over); `signals` is the
 * set main's loop waits on (still blocked), for the signals that come while it drains
 * @return the exit status: 0 after a clean drain, 1 if orders were lost, 3 if SIGQUIT
 * abandoned the queue
 */
int od_drain(od_app_t *app, int sig, const sigset_t *signals);

#endif
