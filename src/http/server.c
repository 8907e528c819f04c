#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "http/fallback.h"
#include "http/predecessor.h"
#include "prof/threads.h"

#define IDLE_AFTER_HANDOVER_MS 1000 /* an idle keep-alive connection is closed after this */

/* --- loop threads --------------------------------------------------------------------------- */

typedef struct loop_thread {
    int idx;
    pthread_t thread;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_main, accept_prof;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t job_receiver;
    h2o_multithread_receiver_t wake_receiver; /* wake(): the loop returns and looks at the flags */
    h2o_multithread_message_t wake_msg[2];    /* one per flag, each sent at most once */
    int awake;                                /* atomic: wake_receiver registered (loop_setup) */
    int fd_main, fd_prof;                     /* this thread's copies of the listening sockets */
    h2o_socket_t *ls_main, *ls_prof;          /* NULL once closed (od_server_stop_accepting) */
} loop_thread_t;

static h2o_globalconf_t globalconf;
static int stopping;           /* atomic: set once by od_server_stop; the loops poll it */
static loop_thread_t *threads; /* reachable until exit, as the loops it holds are */
static int nthreads;
static int stop_accepting; /* atomic: set by od_server_stop_accepting; each loop acts on it */
static int connections;    /* atomic: client connections open (accepted, not yet closed) */
static int loops_closed;   /* atomic: loops that closed their listeners */
static od_listener_fd_t listeners[2];
static int nlisteners;

/* --- listeners and threads ---------------------------------------------------------------- */

static int bind_listener(const od_listen_t *l);

/* The listening socket named "HOST:PORT" in OD_LISTEN_FDS_ENV ("HOST:PORT=FD;..."), as the
 * process that handed over passed it; -1 when there is none or it is not a listening socket. */
static int inherited_listener(const char *name)
{
    const char *env = getenv(OD_LISTEN_FDS_ENV);
    size_t nlen = strlen(name);
    for (const char *p = env; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (strncmp(p, name, nlen) != 0 || p[nlen] != '=') continue;
        char *end;
        long fd = strtol(p + nlen + 1, &end, 10);
        int listening = 0;
        socklen_t sl = sizeof(listening);
        if (end == p + nlen + 1 || fd < 0 || fd > 65535 ||
            getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) != 0 || !listening) {
            od_warn("%s names %s=%.*s, which is not a listening socket: binding instead", OD_LISTEN_FDS_ENV,
                    name, (int)strcspn(p + nlen + 1, ";"), p + nlen + 1);
            return -1;
        }
        /* non-blocking for the loops; close-on-exec again, now that it arrived */
        fcntl((int)fd, F_SETFL, fcntl((int)fd, F_GETFL) | O_NONBLOCK);
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        return (int)fd;
    }
    return -1;
}

/* Closes the inherited sockets this config does not listen on, so that a listener the new
 * config dropped stops taking connections once the old process closes its copy. */
static void close_unused_inherited(void)
{
    const char *env = getenv(OD_LISTEN_FDS_ENV);
    for (const char *p = env; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        const char *eq = strchr(p, '=');
        if (eq == NULL) break;
        int fd = atoi(eq + 1), used = 0;
        for (int i = 0; i < nlisteners; i++)
            used |= listeners[i].fd == fd;
        if (!used && fd > 2) close(fd);
    }
    unsetenv(OD_LISTEN_FDS_ENV); /* not for this process's own children */
}

static int open_listener(const od_listen_t *l)
{
    char name[sizeof(listeners[0].name)];
    snprintf(name, sizeof(name), "%s:%d", l->host, l->port);
    int fd = inherited_listener(name);
    if (fd >= 0) {
        od_info("listening on %s: inherited (fd %d)", name, fd);
    } else {
        fd = bind_listener(l);
        if (fd < 0) return -1;
    }
    od_listener_fd_t *ld = &listeners[nlisteners++];
    snprintf(ld->name, sizeof(ld->name), "%s", name);
    ld->fd = fd;
    return fd;
}

static int bind_listener(const od_listen_t *l)
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

static void on_conn_close(void *data)
{
    (void)data;
    __atomic_sub_fetch(&connections, 1, __ATOMIC_RELAXED);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_accept_ctx_t *actx = listener->data;
    for (int i = 0; i < 16; i++) { /* a few per wake-up, fairly */
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) return;
        __atomic_add_fetch(&connections, 1, __ATOMIC_RELAXED);
        sock->on_close.cb = on_conn_close; /* HTTP/1 leaves on_close to the socket's owner */
        h2o_accept(actx, sock);
    }
}

/* On the loop's thread, once stop_accepting is set: closes this loop's listeners (the socket
 * stays open in the process that took over, whose accept takes every connection from now
 * on), answers each request that still comes on an open connection with Connection: close,
 * and closes connections idle for a second instead of the usual request timeout. */
static void close_listeners(loop_thread_t *t)
{
    if (t->ls_main) h2o_socket_close(t->ls_main);
    if (t->ls_prof) h2o_socket_close(t->ls_prof);
    t->ls_main = t->ls_prof = NULL;
    h2o_context_request_shutdown(&t->ctx);
    if (t->ctx.http1.req_timeout.timeout > IDLE_AFTER_HANDOVER_MS)
        t->ctx.http1.req_timeout.timeout = IDLE_AFTER_HANDOVER_MS; /* read when the timer runs */
}

/* a wake-up's message carries nothing: it only makes h2o_evloop_run return */
static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
}

/* makes every loop return from h2o_evloop_run now rather than at its 200 ms timeout, so that
 * it acts on the flag just set (which: 0 stop_accepting, 1 stopping; each sent once) */
static void wake(int which)
{
    for (int i = 0; i < nthreads; i++)
        if (__atomic_load_n(&threads[i].awake, __ATOMIC_ACQUIRE))
            h2o_multithread_send_message(&threads[i].wake_receiver, &threads[i].wake_msg[which]);
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
    od_jobs_attach(t->queue, &t->job_receiver);
    h2o_multithread_register_receiver(t->queue, &t->wake_receiver, on_wake);
    __atomic_store_n(&t->awake, 1, __ATOMIC_RELEASE);
    t->accept_main = (h2o_accept_ctx_t){.ctx = &t->ctx, .hosts = globalconf.hosts};
    t->ls_main = h2o_evloop_socket_create(t->loop, t->fd_main, H2O_SOCKET_FLAG_DONT_READ);
    t->ls_main->data = &t->accept_main;
    h2o_socket_read_start(t->ls_main, on_accept);
    if (t->fd_prof >= 0) {
        t->accept_prof = t->accept_main;
        t->ls_prof = h2o_evloop_socket_create(t->loop, t->fd_prof, H2O_SOCKET_FLAG_DONT_READ);
        t->ls_prof->data = &t->accept_prof;
        h2o_socket_read_start(t->ls_prof, on_accept);
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
    int closed = 0;
    while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
        h2o_evloop_run(t->loop, 200);
        if (!closed && __atomic_load_n(&stop_accepting, __ATOMIC_ACQUIRE)) {
            close_listeners(t);
            closed = 1;
            __atomic_add_fetch(&loops_closed, 1, __ATOMIC_RELEASE);
        }
    }
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

int od_server_start(od_server_t *srv)
{
    const od_config_t *cfg = srv->cfg;
    raise_nofile();

    int fd_main = open_listener(&cfg->listen), fd_prof = -1;
    if (fd_main < 0) return -1;
    if (cfg->profiling.enabled && cfg->profiling.listen.host) {
        fd_prof = open_listener(&cfg->profiling.listen);
        if (fd_prof < 0) {
            close(fd_main);
            return -1;
        }
    }

    h2o_config_init(&globalconf);
    globalconf.max_request_entity_size = cfg->http.max_body_bytes;
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("orderd"));
    h2o_hostconf_t *host =
        h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    od_router_attach(pathconf, srv, fd_prof >= 0 ? cfg->profiling.listen.port : 0);
    od_fallback_attach(host, srv); /* h2o's own error answers in orderd's JSON */

    int n = cfg->http.threads;
    threads = od_calloc((size_t)n, sizeof(*threads));
    nthreads = n;
    for (int i = 0; i < n; i++) { /* each thread builds its loop itself (loop_setup) */
        loop_thread_t *t = &threads[i];
        t->idx = i;
        t->fd_main = i == 0 ? fd_main : dup(fd_main);
        t->fd_prof = fd_prof < 0 ? -1 : i == 0 ? fd_prof : dup(fd_prof);
    }
    close_unused_inherited();
    od_predecessor_start(); /* after a hand-over: the old process's orders, once they come */
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&threads[i].thread, NULL, loop_main, &threads[i]);
        if (rc != 0) od_fatal("cannot start HTTP thread %d: %s", i, strerror(rc));
    }
    od_info("listening on http://%s:%d/ (%d HTTP thread%s, %d workers, queue %zu)", cfg->listen.host,
            cfg->listen.port, n, n == 1 ? "" : "s", cfg->pool.workers, cfg->pool.queue);
    if (fd_prof >= 0)
        od_info("profiling on http://%s:%d/debug/pprof/", cfg->profiling.listen.host,
                cfg->profiling.listen.port);
    return 0;
}

int od_server_listeners(const od_listener_fd_t **out)
{
    *out = listeners;
    return nlisteners;
}

void od_server_stop_accepting(void)
{
    if (__atomic_exchange_n(&stop_accepting, 1, __ATOMIC_ACQ_REL) == 0) wake(0);
    for (int i = 0; i < 5000 && __atomic_load_n(&loops_closed, __ATOMIC_ACQUIRE) < nthreads; i++)
        usleep(1000); /* woken, each loop looks at the flag at once (else within 200 ms) */
}

int od_server_connections(void)
{
    return __atomic_load_n(&connections, __ATOMIC_RELAXED);
}

void od_server_stop(void)
{
    od_jobs_stop();
    if (__atomic_exchange_n(&stopping, 1, __ATOMIC_ACQ_REL) == 0) wake(1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i].thread, NULL);
    /* the loops, contexts and sockets die with the process */
}
