/*
 * handover — SIGUSR2 (nginx's binary upgrade): start build/orderd again with the listening
 * sockets inherited; once the new process serves, this one stops accepting, drains and exits
 * 0 (SPEC "Reload, hand-over, compare").
 *
 * The protocol between the two processes, both orderd:
 *   - the old one starts the file /proc/self/exe names (the path this process was started
 *     from, so a rebuilt binary is what runs; argv as it was started), with the listening
 *     sockets left open across exec and named in OD_LISTEN_FDS_ENV (http/server.h), and the
 *     write end of a pipe named in OD_HANDOVER_READY_ENV;
 *   - the new one starts at idle priority where this process may raise it back, so that its
 *     start-up takes only the old one's idle time, and is raised to normal priority once it
 *     serves, or after OD_HANDOVER_IDLE_MS if it does not by then (base/sched_idle.h);
 *   - the new one binds nothing it inherited, and once its loops run writes "ready" to the
 *     pipe (od_handover_ready);
 *   - the old one waits for that line at most OD_HANDOVER_TIMEOUT_S; if the new one exits,
 *     closes the pipe without it, or takes longer (then it is stopped with SIGTERM), the old
 *     one logs why and keeps serving as if nothing happened.  Otherwise main stops its loop
 *     and drains with od_drain(app, SIGUSR2, ...) (drain.h): listeners closed, connections
 *     finished, queue finished, exit 0.
 *
 * Threading: main's thread only, from its signal loop (od_handover_ready: after the server
 * started).
 */
#ifndef OD_HANDOVER_H
#define OD_HANDOVER_H

#include <signal.h>
#include <sys/types.h>

#include "app.h"

#define OD_HANDOVER_READY_ENV "ORDERD_HANDOVER_READY_FD"
#define OD_HANDOVER_TIMEOUT_S 60 /* a sanitizer build, started twice (the profilers' re-exec) */
#define OD_HANDOVER_IDLE_MS 1000 /* the most the new process starts at idle priority (base/sched_idle.h) */

/**
 * starts the new process and waits until it serves, taking the signals in `signals` (still
 * blocked) meanwhile: SIGUSR2 is refused with a log line, SIGHUP too, and a stop signal
 * abandons the hand-over (the new process is stopped) and is left pending for main's loop
 * @return 0 if the new process serves (the caller drains and exits), -1 if not (logged; this
 * process keeps serving)
 */
int od_handover_begin(od_app_t *app, const sigset_t *signals);

/** in the new process, once it serves: tells the old one (no-op when not started by a
 *  hand-over) */
void od_handover_ready(void);

/** after the drain that follows a hand-over: leaves every order this process holds for the
 *  new one's lookups (http/predecessor.h); logged either way */
void od_handover_export(od_app_t *app);

/** @return the pid of the process this one handed over to, 0 if none */
pid_t od_handover_successor(void);

#endif
