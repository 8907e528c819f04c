/*
 * control — orderload's out-of-band requests to the target: scenario announcements
 * (POST /scenarios/{name}/start and /end, so an orderd can mark them in its trace and
 * tell its profiling schedule) and the scenario file's `profile` captures (a GET fetched
 * mid-run on a thread of its own, saved to a file).
 *
 * A target that answers an announcement with 404 is not an orderd: announcing stops
 * silently.  Other failures are warned about once.  Capture jobs own their strings; each
 * runs on its own thread between od_capture_start and od_capture_join and touches only
 * its own job.  Announcements run on the caller's thread.
 */
#ifndef OD_LOAD_CONTROL_H
#define OD_LOAD_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>

#include "load/http.h"
#include "scenario/scenario.h"

typedef struct od_announcer {
    const od_url_t *url;
    int disabled; /* the target said 404: not an orderd */
    int warned;
    int sent; /* announcements answered 2xx */
} od_announcer_t;

/** POSTs /scenarios/{name}/{what} (what: "start" or "end") with a 2 s timeout */
void od_announce(od_announcer_t *a, const char *name, const char *what);

typedef struct od_capture_job {
    const od_capture_t *cap; /* borrowed from the scenario set */
    const od_url_t *url;
    char *file;   /* where the answer is saved (owned) */
    uint64_t due; /* od_now_ns() instant to start at */
    uint64_t timeout_ns;
    pthread_t tid;
    int started;
    atomic_int done;
    /* results, read after join */
    int status; /* HTTP status, or -1 */
    size_t bytes;
    char *error; /* owned; NULL when saved */
} od_capture_job_t;

/** prepares a job saving into dir (created if missing) */
void od_capture_init(od_capture_job_t *j, const od_capture_t *cap, const od_url_t *url, const char *dir);
/** starts the job's thread */
void od_capture_start(od_capture_job_t *j);
/** waits for the job's thread (if started) */
void od_capture_join(od_capture_job_t *j);
void od_capture_dispose(od_capture_job_t *j);

#endif
