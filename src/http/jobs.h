/*
 * jobs — deferred jobs: blocking work (profiles that take seconds, symbolization) run on a
 * thread of its own instead of the event loop, with its answer handed back to the loop that
 * owns the request.  The answer is dropped if the client went away in the meantime.
 *
 * Threading: od_defer is called on a loop thread that od_jobs_attach prepared; the job
 * function runs on its own thread "prof-job-N" and must call od_job_respond exactly once.
 * Ownership: an od_job_t is shared by the loop (until the request is disposed) and the job
 * thread (until it answers), reference-counted; neither side frees it by hand.
 */
#ifndef OD_JOBS_H
#define OD_JOBS_H

#include "http/request.h"

typedef struct od_job od_job_t;
typedef void (*od_job_fn)(od_job_t *job, void *arg);
/**
 * runs fn(job, arg) on a job thread; fn must call od_job_respond exactly once.  free_arg (if
 * set) releases arg after fn returns.  At most OD_JOBS_MAX jobs run at once.
 * @return 0 if started, -1 if not (the caller still owns arg and must answer itself)
 */
#define OD_JOBS_MAX 16
int od_defer(od_req_t *r, od_job_fn fn, void *arg, void (*free_arg)(void *));
/** @return 1 once the client that asked has gone away (or the server is stopping) */
int od_job_cancelled(od_job_t *job);
/** what od_defer's caller's request asked: its query parameter (see od_query_get) */
int od_job_query_get(od_job_t *job, const char *name, char *out, size_t outsz);
/** adds a header to the job's response (copied) */
void od_job_add_header(od_job_t *job, const char *name, const char *value);
/** sets the response; takes the bytes of body (leaves it empty), which the request then
 *  sends as they are (od_respond_buf: no copy) */
void od_job_respond(od_job_t *job, int status, const char *content_type, od_buf_t *body);
/** the server's state, for jobs */
od_server_t *od_job_server(od_job_t *job);

/**
 * on a loop thread, before it serves: registers `receiver` (storage owned by the caller,
 * alive as long as the loop) on the loop's `queue`, to take that thread's jobs' answers
 */
void od_jobs_attach(h2o_multithread_queue_t *queue, h2o_multithread_receiver_t *receiver);
/** tells every running job to stop (od_job_cancelled answers 1 from now on) */
void od_jobs_stop(void);

#endif
