#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "prof/threads.h"

/* --- routes ---------------------------------------------------------------------------------- */

typedef struct route {
    const char *path;
    size_t len;
    unsigned methods;
    int flags;
    od_route_id_t stat;
    od_handler_fn fn;
} route_t;

#define ROUTES_MAX 96
static route_t routes[ROUTES_MAX];
static size_t nroutes;

void od_route_add(const char *path, unsigned methods, int flags, od_route_id_t stat, od_handler_fn fn)
{
    OD_ASSERT(nroutes < ROUTES_MAX);
    routes[nroutes++] = (route_t){path, strlen(path), methods, flags, stat, fn};
}

static const route_t *find_route(const char *path, size_t len)
{
    int i = od_route_match(path, len);
    return i < 0 ? NULL : &routes[i];
}

int od_route_match(const char *path, size_t len)
{
    const route_t *best = NULL;
    for (size_t i = 0; i < nroutes; i++) {
        const route_t *rt = &routes[i];
        if (!(rt->flags & OD_ROUTE_PREFIX)) {
            if (rt->len == len && memcmp(rt->path, path, len) == 0) return (int)i;
        } else if (len >= rt->len && memcmp(rt->path, path, rt->len) == 0) {
            if (best == NULL || rt->len > best->len) best = rt;
        }
    }
    return best ? (int)(best - routes) : -1;
}

/* --- loop threads --------------------------------------------------------------------------- */

typedef struct loop_thread {
    int idx;
    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_main, accept_prof;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t job_receiver;
    int fd_main, fd_prof; /* this thread's copies of the listening sockets */
} loop_thread_t;

typedef struct od_handler {
    h2o_handler_t super;
    od_server_t *srv;
} od_handler_t;

static h2o_globalconf_t globalconf;
static od_server_t *server;
static int prof_port; /* the separate profiling listener's port, 0 if none */
static int stopping;  /* atomic: set once when the drain is over; loops and jobs poll it */
static int running_jobs;
static __thread loop_thread_t *current_loop; /* set on each loop thread */

/* --- responses ------------------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "OK";
    }
}

void od_add_header(od_req_t *r, const char *name, const char *value)
{
    h2o_req_t *req = r->h;
    size_t nlen = strlen(name);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen);
    for (size_t i = 0; i < nlen; i++) /* h2o wants lower-case names to match its tokens */
        n[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, name, v.base, v.len);
}

int od_respond(od_req_t *r, int status, const char *content_type, const void *body, size_t len)
{
    h2o_req_t *req = r->h;
    req->res.status = status;
    req->res.reason = reason(status);
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    req->res.content_length = len;
    od_stats_http(r->srv->stats, (od_route_id_t)r->route, status);
    h2o_send_inline(req, body, len);
    return 0;
}

int od_respond_json(od_req_t *r, int status, od_buf_t *json)
{
    od_buf_putc(json, '\n');
    od_respond(r, status, "application/json", json->base, json->len);
    od_buf_dispose(json);
    return 0;
}

int od_respond_error(od_req_t *r, int status, const char *field, const char *fmt, ...)
{
    od_buf_t msg = OD_BUF_INIT, json = OD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    od_buf_puts(&json, "{\"error\":");
    od_buf_json_str(&json, msg.base);
    if (field && field[0]) {
        od_buf_puts(&json, ",\"field\":");
        od_buf_json_str(&json, field);
    }
    od_buf_putc(&json, '}');
    od_buf_dispose(&msg);
    return od_respond_json(r, status, &json);
}

int od_path_is(const od_req_t *r, const char *s)
{
    size_t n = strlen(s);
    return r->path_len == n && memcmp(r->path, s, n) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int od_query_lookup(const char *q, size_t qlen, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + qlen;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
                char c = *v;
                if (c == '+')
                    c = ' ';
                else if (c == '%') {
                    if (pe - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0) return -1;
                    c = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                }
                if (c == '\0' || o + 1 >= outsz) return -1;
                out[o++] = c;
            }
            out[o] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

int od_query_get(const od_req_t *r, const char *name, char *out, size_t outsz)
{
    if (r->query == NULL) return 0;
    return od_query_lookup(r->query, r->query_len, name, out, outsz);
}

/* --- deferred jobs ------------------------------------------------------------------------- */

typedef struct header {
    char *name, *value;
} header_t;

struct od_job {
    h2o_multithread_message_t msg; /* first: the loop receives it by this link */
    loop_thread_t *owner;
    h2o_req_t *req; /* loop thread only; NULL once the request is gone */
    od_server_t *srv;
    int refs;    /* atomic: the loop side and the job side */
    int gone;    /* atomic: the request was disposed */
    int peer_fd; /* a dup of the client's socket, to notice it leaving; -1 if unknown */
    int route;
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
    h2o_multithread_send_message(&job->owner->job_receiver, &job->msg);
    return NULL;
}

static void on_job_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        od_job_t *job = H2O_STRUCT_FROM_MEMBER(od_job_t, msg.link, messages->next);
        h2o_linklist_unlink(&job->msg.link);
        if (job->req != NULL) {
            od_req_t r = {.h = job->req, .srv = job->srv, .route = job->route};
            for (size_t i = 0; i < job->nheaders; i++)
                od_add_header(&r, job->headers[i].name, job->headers[i].value);
            od_respond(&r, job->status, job->content_type, job->body.base ? job->body.base : "",
                       job->body.len);
        }
        job_release(job);
    }
}

/* The client's socket, for noticing that it left while a job runs.  h2o 2.2.5 does not read
 * an HTTP/1 connection while its request is being handled, so a close is only seen by
 * peeking at the socket.  The connection object does not expose its socket; in h2o 2.2.5 the
 * HTTP/1 connection struct holds it right after the h2o_conn_t, which is checked against the
 * connection's peer address before it is trusted. */
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
    job->owner = current_loop;
    OD_ASSERT(job->owner != NULL);
    job->req = r->h;
    job->srv = r->srv;
    job->refs = 2;
    job->route = r->route;
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

/* --- dispatch ------------------------------------------------------------------------------ */

static unsigned method_bit(const h2o_req_t *req)
{
    static const struct {
        const char *name;
        unsigned bit;
    } m[] = {{"GET", OD_GET}, {"POST", OD_POST}, {"HEAD", OD_HEAD}, {"DELETE", OD_DELETE}, {"PUT", OD_PUT}};
    for (size_t i = 0; i < OD_ARRAY_SIZE(m); i++)
        if (h2o_memis(req->method.base, req->method.len, m[i].name, strlen(m[i].name))) return m[i].bit;
    return 0;
}

static int local_port(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_sockname(req->conn, (struct sockaddr *)&ss);
    if (len == 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* constant time in the length of the expected token */
static int token_ok(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char bearer[] = "Bearer ";
    if (v.len < sizeof(bearer) - 1 || memcmp(v.base, bearer, sizeof(bearer) - 1) != 0) return 0;
    const char *given = v.base + sizeof(bearer) - 1;
    size_t glen = v.len - (sizeof(bearer) - 1), tlen = strlen(token);
    unsigned char diff = (unsigned char)(glen != tlen);
    for (size_t k = 0; k < tlen; k++)
        diff |= (unsigned char)(token[k] ^ (k < glen ? given[k] : 0));
    return diff == 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    od_handler_t *h = (od_handler_t *)self;
    const char *path = req->path.base;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    od_req_t r = {.h = req, .srv = h->srv, .path = path, .path_len = plen, .route = OD_ROUTE_OTHER};
    if (req->query_at != SIZE_MAX) {
        r.query = path + req->query_at + 1;
        r.query_len = req->path.len - req->query_at - 1;
    }

    const route_t *rt = find_route(path, plen);
    const od_config_t *cfg = h->srv->cfg;
    if (rt && (rt->flags & OD_ROUTE_PROFILING)) {
        r.route = OD_ROUTE_PROFILE;
        if (!cfg->profiling.enabled)
            rt = NULL;
        else if (prof_port && local_port(req) != prof_port)
            rt = NULL; /* only on its own listener */
    } else if (prof_port && local_port(req) == prof_port) {
        rt = NULL; /* the profiling listener serves nothing else */
    }
    if (rt == NULL)
        return od_respond_error(&r, 404, NULL, "no such path: %.*s", (int)(plen > 200 ? 200 : plen), path);
    if (rt->stat != OD_ROUTE_PROFILE) r.route = rt->stat;

    unsigned m = method_bit(req);
    if (!(rt->methods & m)) {
        char allow[64] = "";
        static const char *names[] = {"GET", "POST", "HEAD", "DELETE", "PUT"};
        for (int i = 0; i < 5; i++)
            if (rt->methods & (1u << i))
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                         names[i]);
        od_add_header(&r, "Allow", allow);
        return od_respond_error(&r, 405, NULL, "method %.*s not allowed here; allowed: %s",
                                (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base, allow);
    }
    if ((rt->flags & OD_ROUTE_PROFILING) && cfg->profiling.token[0] && !token_ok(req, cfg->profiling.token)) {
        od_add_header(&r, "WWW-Authenticate", "Bearer realm=\"orderd profiling\"");
        return od_respond_error(&r, 401, NULL, "profiling needs \"Authorization: Bearer TOKEN\"");
    }
    return rt->fn(&r);
}

/* --- listeners and threads ---------------------------------------------------------------- */

static int open_listener(const od_listen_t *l)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res;
    char port[8];
    snprintf(port, sizeof(port), "%d", l->port);
    int rc = getaddrinfo(l->host, port, &hints, &res);
    if (rc != 0) {
        od_error("cannot resolve listen address %s:%d: %s", l->host, l->port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
        od_error("cannot listen on %s:%d: %s", l->host, l->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_accept_ctx_t *actx = listener->data;
    for (int i = 0; i < 16; i++) { /* a few per wake-up, fairly */
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) return;
        h2o_accept(actx, sock);
    }
}

/* Builds the thread's loop, context, job queue and listener sockets on the thread itself: an
 * h2o socket takes its input buffers from the recycle allocator of the creating thread's
 * (__thread) h2o_socket_buffer_prototype, which is not locked, so sockets that one loop
 * reads must be created on that loop's thread.  (Built on the main thread, the job queues'
 * pipe sockets of every loop shared the main thread's allocator: a data race TSan reported
 * between http-0 and http-1.) */
static void loop_setup(loop_thread_t *t)
{
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &globalconf);
    t->queue = h2o_multithread_create_queue(t->loop);
    h2o_multithread_register_receiver(t->queue, &t->job_receiver, on_job_messages);
    t->accept_main = (h2o_accept_ctx_t){.ctx = &t->ctx, .hosts = globalconf.hosts};
    h2o_socket_t *ls = h2o_evloop_socket_create(t->loop, t->fd_main, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = &t->accept_main;
    h2o_socket_read_start(ls, on_accept);
    if (t->fd_prof >= 0) {
        t->accept_prof = t->accept_main;
        h2o_socket_t *ps = h2o_evloop_socket_create(t->loop, t->fd_prof, H2O_SOCKET_FLAG_DONT_READ);
        ps->data = &t->accept_prof;
        h2o_socket_read_start(ps, on_accept);
    }
}

static void *loop_main(void *arg)
{
    loop_thread_t *t = arg;
    loop_setup(t);
    char name[16];
    snprintf(name, sizeof(name), "http-%d", t->idx);
    od_thread_register(name);
    od_thread_set_state("serving");
    current_loop = t;
    while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED))
        h2o_evloop_run(t->loop, 200);
    od_thread_unregister();
    return NULL;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            od_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    od_info("open-file limit: %llu", (unsigned long long)rl.rlim_cur);
}

int od_server_run(od_server_t *srv)
{
    const od_config_t *cfg = srv->cfg;
    server = srv;
    raise_nofile();

    int fd_main = open_listener(&cfg->listen), fd_prof = -1;
    if (fd_main < 0) return 1;
    if (cfg->profiling.enabled && cfg->profiling.listen.host) {
        fd_prof = open_listener(&cfg->profiling.listen);
        if (fd_prof < 0) {
            close(fd_main);
            return 1;
        }
        prof_port = cfg->profiling.listen.port;
    }

    h2o_config_init(&globalconf);
    globalconf.max_request_entity_size = cfg->http.max_body_bytes;
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("orderd"));
    h2o_hostconf_t *host =
        h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    od_handler_t *handler = (od_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = srv;

    /* signals: handled by this thread with sigwait; every other thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int n = cfg->http.threads;
    static loop_thread_t *threads; /* static: reachable until exit, as the loops it holds are */
    threads = od_calloc((size_t)n, sizeof(*threads));
    for (int i = 0; i < n; i++) { /* each thread builds its loop itself (loop_setup) */
        loop_thread_t *t = &threads[i];
        t->idx = i;
        t->fd_main = i == 0 ? fd_main : dup(fd_main);
        t->fd_prof = fd_prof < 0 ? -1 : i == 0 ? fd_prof : dup(fd_prof);
    }

    if (od_pool_start(srv->pool) != 0) return 1;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&threads[i].thread, NULL, loop_main, &threads[i]);
        if (rc != 0) od_fatal("cannot start HTTP thread %d: %s", i, strerror(rc));
    }
    od_info("listening on http://%s:%d/ (%d HTTP thread%s, %d workers, queue %zu)", cfg->listen.host,
            cfg->listen.port, n, n == 1 ? "" : "s", cfg->pool.workers, cfg->pool.queue);
    if (fd_prof >= 0)
        od_info("profiling on http://%s:%d/debug/pprof/", cfg->profiling.listen.host,
                cfg->profiling.listen.port);

    int sig = 0;
    sigwait(&set, &sig);
    od_pool_snapshot_t snap;
    od_pool_snapshot(srv->pool, &snap);
    od_info("%s: draining %zu queued and %d in-flight orders; new orders get 503", strsignal(sig),
            snap.queue_length, snap.active);
    od_pool_drain(srv->pool);

    od_stats_t *st = srv->stats;
    uint64_t accepted = od_stats_get(&st->accepted), processed = od_stats_get(&st->processed);
    uint64_t ok = od_stats_get(&st->success), errors = od_stats_get(&st->errors);
    fprintf(stderr,
            "orderd: summary: accepted=%llu processed=%llu success=%llu errors=%llu rejected=%llu "
            "uptime=%.1fs %s\n",
            (unsigned long long)accepted, (unsigned long long)processed, (unsigned long long)ok,
            (unsigned long long)errors, (unsigned long long)od_stats_get(&st->rejected),
            (double)(od_now_ns() - st->start_ns) / 1e9,
            accepted == processed && processed == ok + errors ? "(nothing lost)" : "(MISMATCH: orders lost)");

    __atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i].thread, NULL);
    /* the loops, contexts and sockets die with the process */
    return accepted == processed ? 0 : 1;
}
