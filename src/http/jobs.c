#include "http/jobs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prof/threads.h"
#include "http/server.h"

static int stopping; /* atomic: set once when the server stops; jobs poll it */
static int running_jobs;
static __thread h2o_multithread_receiver_t *loop_receiver; /* set on each loop thread */

/* --- deferred jobs ------------------------------------------------------------------------- */

typedef struct header {
    char *name, *value;
} header_t;

struct od_job {
    h2o_multithread_message_t msg;     /* first: the loop receives it by this link */
    h2o_multithread_receiver_t *owner; /* the receiver of the loop that owns the request */
    h2o_req_t *req;                    /* loop thread only; NULL once the request is gone */
    od_server_t *srv;
    int refs;          /* atomic: the loop side and the job side */
    int gone;          /* atomic: the request was disposed */
    int peer_fd;       /* a dup of the client's socket, to notice it leaving; -1 if unknown */
    int route, method; /* the request's labels, for its counters */
    char *query;
    size_t query_len;
    od_job_fn fn;
    void *arg;
    void (*free_arg)(void *);
    int status;
    char *content_type;
    od_buf_t body;
    header_t headers[8];
    size_t nheaders;
};

static void job_release(od_job_t *job)
{
    if (__atomic_sub_fetch(&job->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (job->peer_fd >= 0) close(job->peer_fd);
    free(job->query);
    free(job->content_type);
    od_buf_dispose(&job->body);
    for (size_t i = 0; i < job->nheaders; i++) {
        free(job->headers[i].name);
        free(job->headers[i].value);
    }
    free(job);
}

static void on_req_dispose(void *p)
{
    od_job_t *job = *(od_job_t **)p;
    job->req = NULL;
    __atomic_store_n(&job->gone, 1, __ATOMIC_RELEASE);
    job_release(job);
}

static uint64_t job_ids; /* atomic: bit i set while a job thread "prof-job-i" runs */

/* takes the lowest free job number (names stay short and reused: prof-job-0, -1, ...) */
static int job_id_take(void)
{
    uint64_t cur = __atomic_load_n(&job_ids, __ATOMIC_RELAXED);
    for (;;) {
        int id = cur == ~0ull ? 63 : __builtin_ctzll(~cur);
        if (__atomic_compare_exchange_n(&job_ids, &cur, cur | (1ull << id), 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return id;
    }
}

static void *job_main(void *arg)
{
    od_job_t *job = arg;
    int id = job_id_take();
    char name[32];
    snprintf(name, sizeof(name), "prof-job-%d", id); /* a profiler thread (prof/threads.h) */
    od_thread_register(name);
    job->fn(job, job->arg);
    if (job->free_arg) job->free_arg(job->arg);
    if (job->status == 0) {
        job->status = 500;
        job->content_type = od_strdup("application/json");
        od_buf_puts(&job->body, "{\"error\":\"the job gave no answer\"}\n");
    }
    od_thread_unregister();
    __atomic_and_fetch(&job_ids, ~(1ull << id), __ATOMIC_RELAXED);
    __atomic_sub_fetch(&running_jobs, 1, __ATOMIC_RELAXED);
    h2o_multithread_send_message(job->owner, &job->msg);
    return NULL;
}

static void on_job_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        od_job_t *job = H2O_STRUCT_FROM_MEMBER(od_job_t, msg.link, messages->next);
        h2o_linklist_unlink(&job->msg.link);
        if (job->req != NULL) {
            od_req_t r = {.h = job->req, .srv = job->srv, .route = job->route, .method = job->method};
            for (size_t i = 0; i < job->nheaders; i++)
                od_add_header(&r, job->headers[i].name, job->headers[i].value);
            /* the request takes the body's bytes; the type is copied, the job dies first */
            const char *ct =
                job->content_type ? h2o_strdup(&r.h->pool, job->content_type, SIZE_MAX).base : NULL;
            od_respond_buf(&r, job->status, ct, &job->body);
        }
        job_release(job);
    }
}

/* The client's socket, for noticing that it left while a job runs.  h2o 2.2.5 does not read
 * an HTTP/1 connection while its request is being handled, so a close is only seen by
 * peeking at the socket.  The connection object does not expose its socket; in h2o 2.2.5 the
 * HTTP/1 connection struct (lib/http1.c, private) holds it right after the h2o_conn_t, which
 * is checked against the connection's peer address before it is trusted.  That layout is
 * h2o's internal, so another h2o release must not compile until it is checked again. */
#if !defined(H2O_VERSION_MAJOR) || H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "client_fd reads h2o 2.2's private HTTP/1 connection: check its layout, then the guard"
#endif
static int client_fd(h2o_req_t *req)
{
    if (req->version >= 0x200) return -1;
    h2o_socket_t *sock = *(h2o_socket_t **)(void *)(req->conn + 1);
    if (sock == NULL) return -1;
    int fd = h2o_socket_get_fd(sock);
    if (fd < 0) return -1;
    struct sockaddr_storage a, b;
    socklen_t al = sizeof(a);
    socklen_t bl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&b);
    if (getpeername(fd, (struct sockaddr *)&a, &al) != 0 || al != bl || memcmp(&a, &b, al) != 0) return -1;
    return dup(fd);
}

int od_defer(od_req_t *r, od_job_fn fn, void *arg, void (*free_arg)(void *))
{
    if (__atomic_add_fetch(&running_jobs, 1, __ATOMIC_RELAXED) > OD_JOBS_MAX) {
        __atomic_sub_fetch(&running_jobs, 1, __ATOMIC_RELAXED);
        return -1;
    }
    od_job_t *job = od_calloc(1, sizeof(*job));
    job->owner = loop_receiver;
    OD_ASSERT(job->owner != NULL);
    job->req = r->h;
    job->srv = r->srv;
    job->refs = 2;
    job->route = r->route;
    job->method = r->method;
    job->fn = fn;
    job->arg = arg;
    job->free_arg = free_arg;
    job->query = r->query ? od_strndup(r->query, r->query_len) : NULL;
    job->query_len = r->query ? r->query_len : 0;
    job->peer_fd = client_fd(r->h);
    od_job_t **slot = h2o_mem_alloc_shared(&r->h->pool, sizeof(*slot), on_req_dispose);
    *slot = job;

    int rc = od_thread_start_detached(job_main, job);
    if (rc != 0) {
        /* answer here; the request's dispose releases the loop's reference */
        __atomic_sub_fetch(&running_jobs, 1, __ATOMIC_RELAXED);
        job->fn = NULL;
        if (job->free_arg) job->free_arg(job->arg); /* answered here: the job never owned it */
        job_release(job);
        od_respond_error(r, 503, NULL, "cannot start a profiling job: %s", strerror(rc));
        return 0;
    }
    return 0;
}

int od_job_cancelled(od_job_t *job)
{
    if (__atomic_load_n(&job->gone, __ATOMIC_ACQUIRE) || __atomic_load_n(&stopping, __ATOMIC_RELAXED))
        return 1;
    if (job->peer_fd >= 0) {
        char c;
        ssize_t n = recv(job->peer_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
    }
    return 0;
}

int od_job_query_get(od_job_t *job, const char *name, char *out, size_t outsz)
{
    if (job->query == NULL) return 0;
    return od_query_lookup(job->query, job->query_len, name, out, outsz);
}

void od_job_add_header(od_job_t *job, const char *name, const char *value)
{
    OD_ASSERT(job->nheaders < OD_ARRAY_SIZE(job->headers));
    job->headers[job->nheaders].name = od_strdup(name);
    job->headers[job->nheaders].value = od_strdup(value);
    job->nheaders++;
}

void od_job_respond(od_job_t *job, int status, const char *content_type, od_buf_t *body)
{
    job->status = status;
    free(job->content_type);
    job->content_type = content_type ? od_strdup(content_type) : NULL;
    od_buf_dispose(&job->body);
    job->body = *body;
    od_buf_init(body);
}

od_server_t *od_job_server(od_job_t *job)
{
    return job->srv;
}

void od_jobs_attach(h2o_multithread_queue_t *queue, h2o_multithread_receiver_t *receiver)
{
    h2o_multithread_register_receiver(queue, receiver, on_job_messages);
    loop_receiver = receiver;
}

void od_jobs_stop(void)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
}
